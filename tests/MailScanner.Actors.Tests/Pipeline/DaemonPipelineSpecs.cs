using System.Text;
using Akka.TestKit.Xunit2;
using MailScanner.Actors.Hosting;
using MailScanner.Actors.Metrics;
using MailScanner.Actors.Quarantine;
using MailScanner.Actors.Scanning;
using MailScanner.Actors.Scanning.Engines;
using MailScanner.Actors.Tests.TestSupport;
using MimeKit;
using Xunit;
using Xunit.Abstractions;

namespace MailScanner.Actors.Tests.Pipeline;

/// <summary>The pipeline end to end with real scanner daemons: what an operator sees in the outgoing queue and quarantine.</summary>
[Collection(ScannerDaemonCollection.Name)]
public sealed class DaemonPipelineSpecs : TestKit
{
    private static readonly ScannerEngineSettings Engine = new(Timeout: TimeSpan.FromSeconds(60), MaxConcurrent: 4,
        UnhealthyAfterFailures: 2, ProbeMinBackoff: TimeSpan.FromMilliseconds(100), ProbeMaxBackoff: TimeSpan.FromSeconds(1));

    private readonly ITestOutputHelper _output;

    public DaemonPipelineSpecs(ITestOutputHelper output) : base("akka.loglevel = ERROR") => _output = output;

    [Fact]
    public async Task Should_lose_nothing_and_deliver_nothing_unscanned_when_clamd_dies_and_comes_back()
    {
        using var clamd = new ClamdDaemon();
        await clamd.StartAsync();
        using var bed = new GatewayTestbed();
        await using var gateway = await StartGateway(bed, scanners => scanners with { Clamd = new ClamdScannerSettings(true, clamd.Address, Engine) });
        var counters = gateway.Counters;

        // While clamd is up: infected mail is delivered cleaned (its body, the part clamd names, replaced by a
        // warning) with the original in quarantine; the rest is delivered with the verdict header.
        for (var i = 0; i < 40; i++) bed.Enqueue(i % 4 == 0 ? $"infected {i}\r\n{ClamdDaemon.Eicar}" : $"clean {i}");
        await Eventually.Holds(() => counters.Deleted == 40, TimeSpan.FromMinutes(1), () => $"{40} message(s) finished ({counters})");
        var outgoing = GatewayTestbed.AllEntries(bed.Outgoing).Select(File.ReadAllText).ToList();
        Assert.Equal(40, outgoing.Count);
        Assert.Equal(30, outgoing.Count(text => text.Contains("X-MailScanner-Actors: clean", StringComparison.Ordinal)));
        Assert.Equal(10, outgoing.Count(text => text.Contains("X-MailScanner-Actors: infected", StringComparison.Ordinal)
                                                && text.Contains("removed the attachment", StringComparison.Ordinal)));
        Assert.All(outgoing, text => Assert.DoesNotContain(ClamdDaemon.Eicar, text, StringComparison.Ordinal));
        var quarantined = new QuarantineStore(bed.Quarantine).List();
        Assert.Equal(10, quarantined.Count);
        Assert.All(quarantined, entry => Assert.Equal(VerdictKind.Infected, entry.Metadata.Verdict));

        // clamd dies: nothing more may be delivered, and nothing may be lost.
        clamd.Kill();
        for (var i = 0; i < 20; i++) bed.Enqueue($"while clamd is down {i}");
        await Eventually.Holds(() => counters.Failed >= 20, TimeSpan.FromMinutes(1), () => $"20 failed attempts while the daemon is down ({counters})");
        Assert.Equal(40, GatewayTestbed.AllEntries(bed.Outgoing).Count());
        Assert.Equal(20, GatewayTestbed.AllEntries(bed.Incoming).Count() + GatewayTestbed.AllEntries(bed.Work).Count());

        // clamd returns: every held-back message is scanned and delivered, exactly once.
        await clamd.StartAsync();
        await Eventually.Holds(() => counters.Deleted == 60, TimeSpan.FromMinutes(2), () => $"{60} message(s) finished ({counters})", TimeSpan.FromMilliseconds(200));
        var delivered = GatewayTestbed.AllEntries(bed.Outgoing).Select(File.ReadAllText).ToList();
        Assert.Equal(60, delivered.Count);
        for (var i = 0; i < 20; i++)
            Assert.Single(delivered, text => text.Contains($"while clamd is down {i}\r\n", StringComparison.Ordinal));
        Assert.Empty(GatewayTestbed.AllEntries(bed.Incoming));
        Assert.Empty(GatewayTestbed.AllEntries(bed.Work));
        _output.WriteLine($"clamd killed and restarted: {counters}");
    }

    [Fact]
    public async Task Should_deliver_a_message_with_an_infected_attachment_cleaned_and_keep_the_original_in_quarantine()
    {
        using var clamd = new ClamdDaemon();
        await clamd.StartAsync();
        using var bed = new GatewayTestbed();
        await using var gateway = await StartGateway(bed, scanners => scanners with { Clamd = new ClamdScannerSettings(true, clamd.Address, Engine) });
        var counters = gateway.Counters;

        // clam.pdf: a virus only clamd knows (the built-in rules find nothing wrong with a PDF), so the part that is
        // replaced is the one clamd named.
        var original = WithEnvelope(MessageWithAttachment(Path.Combine(ClamdDaemon.TestFiles, "clam.pdf")));
        bed.EnqueueRaw(original);
        await Eventually.Holds(() => counters.Deleted == 1, TimeSpan.FromMinutes(1), () => $"{1} message(s) finished ({counters})", TimeSpan.FromMilliseconds(100));

        var delivered = Delivered(File.ReadAllBytes(Assert.Single(GatewayTestbed.AllEntries(bed.Outgoing).ToList())));
        Assert.Equal("infected", delivered.Headers["X-MailScanner-Actors"]);
        Assert.StartsWith("{Virus?} ", delivered.Subject, StringComparison.Ordinal);
        var parts = delivered.BodyParts.OfType<TextPart>().ToList();
        Assert.Equal(2, parts.Count);
        Assert.Equal("The file you asked for.", parts[0].Text.Trim());
        Assert.Equal("clam.pdf.txt", parts[1].FileName);
        Assert.Contains($"virus {ClamdDaemon.ClamExeSignature}{ClamdDaemon.Unofficial} (clamd)", parts[1].Text.ReplaceLineEndings(" "));
        Assert.DoesNotContain(delivered.BodyParts, part => part is MimePart { FileName: "clam.pdf" });

        var entry = Assert.Single(new QuarantineStore(bed.Quarantine).List());
        Assert.Equal(VerdictKind.Infected, entry.Metadata.Verdict);
        Assert.Equal(original, File.ReadAllBytes(entry.QueueFilePath));
        Assert.Empty(GatewayTestbed.AllEntries(bed.Incoming));
    }

    [Fact]
    public async Task Should_tag_gtube_as_spam_and_deliver_ham_as_clean_through_spamd()
    {
        using var spamd = new SpamdDaemon();
        await spamd.StartAsync();
        using var bed = new GatewayTestbed();
        await using var gateway = await StartGateway(bed, scanners => scanners with { Spamd = scanners.Spamd with { Enabled = true, Address = spamd.Address, Engine = Engine } });
        var counters = gateway.Counters;

        bed.Enqueue($"This is the GTUBE test.\r\n{SpamdDaemon.Gtube}\r\n");
        bed.Enqueue("Hi Bob, the meeting moved to Thursday at ten. See you there, Alice.");
        await Eventually.Holds(() => counters.Deleted == 2, TimeSpan.FromMinutes(2), () => $"{2} message(s) finished ({counters})", TimeSpan.FromMilliseconds(100));

        var delivered = GatewayTestbed.AllEntries(bed.Outgoing).Select(File.ReadAllText).ToList();
        Assert.Equal(2, delivered.Count);
        var spam = Assert.Single(delivered, text => text.Contains(SpamdDaemon.Gtube, StringComparison.Ordinal));
        Assert.Matches("X-MailScanner-Actors: (high )?spam", spam);
        Assert.Contains("X-MailScanner-Actors-SpamScore:", spam);
        Assert.Contains("Subject: {Spam?} test", spam);
        var ham = Assert.Single(delivered, text => !text.Contains(SpamdDaemon.Gtube, StringComparison.Ordinal));
        Assert.Contains("X-MailScanner-Actors: clean", ham);
        Assert.DoesNotContain("{Spam?}", ham);
    }

    [Fact]
    public async Task Should_catch_every_clamav_testfile_sent_as_an_attachment()
    {
        using var clamd = new ClamdDaemon();
        await clamd.StartAsync();
        using var bed = new GatewayTestbed();
        await using var gateway = await StartGateway(bed, scanners => scanners with { Clamd = new ClamdScannerSettings(true, clamd.Address, Engine) });
        var counters = gateway.Counters;

        var files = Directory.GetFiles(ClamdDaemon.TestFiles).Order().ToList();
        foreach (var file in files) bed.EnqueueRaw(WithEnvelope(MessageWithAttachment(file)));
        await Eventually.Holds(() => counters.Deleted == files.Count, TimeSpan.FromMinutes(3), () => $"{files.Count} message(s) finished ({counters})", TimeSpan.FromMilliseconds(200));

        // Every one is caught, by clamd (which names the attachment) or by the built-in rules (dangerous content:
        // clam_cache_emax.tgz nests archives deeper than the analysis goes), and every one is delivered cleaned: the
        // test file replaced by a warning, the text beside it kept, the original in quarantine.
        var quarantined = new QuarantineStore(bed.Quarantine).List();
        var byVerdict = quarantined.GroupBy(entry => entry.Metadata.Verdict).ToDictionary(g => g.Key, g => g.Count());
        _output.WriteLine($"{files.Count} clamav test files: {string.Join(", ", byVerdict.Select(kv => $"{kv.Value} {Verdict.Name(kv.Key)}"))}; {counters}");
        foreach (var entry in quarantined.Where(e => e.Metadata.Verdict != VerdictKind.Infected))
            _output.WriteLine($"  not found by clamd: {string.Join("; ", entry.Metadata.Reasons)}");
        Assert.Equal(files.Count, quarantined.Count);
        Assert.All(quarantined, entry => Assert.True(entry.Metadata.Verdict is VerdictKind.Infected or VerdictKind.DangerousContent,
            $"{entry.Metadata.QueueId}: {entry.Metadata.Verdict}"));
        Assert.True(byVerdict.GetValueOrDefault(VerdictKind.Infected) >= files.Count - 1, "clamd found the virus in all but at most one");
        var delivered = GatewayTestbed.AllEntries(bed.Outgoing).Select(File.ReadAllBytes).Select(Delivered).ToList();
        Assert.Equal(files.Count, delivered.Count);
        foreach (var message in delivered)
        {
            var subject = message.Subject ?? "";
            var file = subject[(subject.IndexOf("test file ", StringComparison.Ordinal) + "test file ".Length)..];
            Assert.Matches("^(infected|dangerous content)$", message.Headers["X-MailScanner-Actors"]);
            var parts = message.BodyParts.ToList();
            Assert.Equal(2, parts.Count);
            Assert.Equal("The file you asked for.", Assert.IsType<TextPart>(parts[0]).Text.Trim());
            var warning = Assert.IsType<TextPart>(parts[1]);
            Assert.Equal($"{file}.txt", warning.FileName);
            Assert.StartsWith($"MailScanner.Actors removed the attachment \"{file}\"", warning.Text.ReplaceLineEndings(" "), StringComparison.Ordinal);
        }
    }

    /// <summary>The RFC 5322 message of an outgoing ZMailer queue file (after its envelope).</summary>
    private static MimeMessage Delivered(byte[] queueFile)
    {
        var end = queueFile.AsSpan().IndexOf("env-end\n"u8);
        Assert.True(end >= 0, "no env-end line in the outgoing queue file");
        return MimeMessage.Load(new MemoryStream(queueFile, end + "env-end\n".Length, queueFile.Length - end - "env-end\n".Length));
    }

    /// <summary>The gateway on the testbed's directories with the scanners the test enables.</summary>
    private static Task<HostedGateway> StartGateway(GatewayTestbed bed, Func<ScannerSettings, ScannerSettings> scanners)
    {
        var defaults = bed.Settings();
        return HostedGateway.StartAsync(defaults with { Scanners = scanners(defaults.Scanners) }, hocon: "akka.loglevel = ERROR");
    }

    private static byte[] MessageWithAttachment(string file)
    {
        var body = new BodyBuilder { TextBody = "The file you asked for." };
        body.Attachments.Add(Path.GetFileName(file), File.ReadAllBytes(file));
        var message = new MimeMessage(new[] { MailboxAddress.Parse("alice@example.org") }, new[] { MailboxAddress.Parse("bob@example.com") },
            $"test file {Path.GetFileName(file)}", body.ToMessageBody());
        using var stream = new MemoryStream();
        message.WriteTo(stream);
        return stream.ToArray();
    }

    private static byte[] WithEnvelope(byte[] message) =>
        Encoding.ASCII.GetBytes("from <alice@example.org>\nto <bob@example.com>\nenv-end\n").Concat(message).ToArray();
}
