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
        var counters = StartGateway(bed, scanners => scanners with { Clamd = new ClamdScannerSettings(true, clamd.Address, Engine) });

        // While clamd is up: infected mail goes to quarantine (clamd names no part that cleaning could replace),
        // the rest is delivered with the verdict header.
        for (var i = 0; i < 40; i++) bed.Enqueue(i % 4 == 0 ? $"infected {i}\r\n{ClamdDaemon.Eicar}" : $"clean {i}");
        await AwaitConditionAsync(() => Task.FromResult(counters.Deleted == 40), TimeSpan.FromMinutes(1));
        var outgoing = GatewayTestbed.AllEntries(bed.Outgoing).Select(File.ReadAllText).ToList();
        Assert.Equal(30, outgoing.Count);
        Assert.All(outgoing, text => Assert.Contains("X-MailScanner-Actors: clean", text));
        var quarantined = new QuarantineStore(bed.Quarantine).List();
        Assert.Equal(10, quarantined.Count);
        Assert.All(quarantined, entry => Assert.Equal(VerdictKind.Infected, entry.Metadata.Verdict));

        // clamd dies: nothing more may be delivered, and nothing may be lost.
        clamd.Kill();
        for (var i = 0; i < 20; i++) bed.Enqueue($"while clamd is down {i}");
        await AwaitConditionAsync(() => Task.FromResult(counters.Failed >= 20), TimeSpan.FromMinutes(1));
        Assert.Equal(30, GatewayTestbed.AllEntries(bed.Outgoing).Count());
        Assert.Equal(20, GatewayTestbed.AllEntries(bed.Incoming).Count() + GatewayTestbed.AllEntries(bed.Work).Count());

        // clamd returns: every held-back message is scanned and delivered, exactly once.
        await clamd.StartAsync();
        await AwaitConditionAsync(() => Task.FromResult(counters.Deleted == 60), TimeSpan.FromMinutes(2), TimeSpan.FromMilliseconds(200));
        var delivered = GatewayTestbed.AllEntries(bed.Outgoing).Select(File.ReadAllText).ToList();
        Assert.Equal(50, delivered.Count);
        for (var i = 0; i < 20; i++)
            Assert.Single(delivered, text => text.Contains($"while clamd is down {i}\r\n", StringComparison.Ordinal));
        Assert.Empty(GatewayTestbed.AllEntries(bed.Incoming));
        Assert.Empty(GatewayTestbed.AllEntries(bed.Work));
        _output.WriteLine($"clamd killed and restarted: {counters}");
    }

    [Fact]
    public async Task Should_tag_gtube_as_spam_and_deliver_ham_as_clean_through_spamd()
    {
        using var spamd = new SpamdDaemon();
        await spamd.StartAsync();
        using var bed = new GatewayTestbed();
        var counters = StartGateway(bed, scanners => scanners with { Spamd = scanners.Spamd with { Enabled = true, Address = spamd.Address, Engine = Engine } });

        bed.Enqueue($"This is the GTUBE test.\r\n{SpamdDaemon.Gtube}\r\n");
        bed.Enqueue("Hi Bob, the meeting moved to Thursday at ten. See you there, Alice.");
        await AwaitConditionAsync(() => Task.FromResult(counters.Deleted == 2), TimeSpan.FromMinutes(2), TimeSpan.FromMilliseconds(100));

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
        var counters = StartGateway(bed, scanners => scanners with { Clamd = new ClamdScannerSettings(true, clamd.Address, Engine) });

        var files = Directory.GetFiles(ClamdDaemon.TestFiles).Order().ToList();
        foreach (var file in files) bed.EnqueueRaw(WithEnvelope(MessageWithAttachment(file)));
        await AwaitConditionAsync(() => Task.FromResult(counters.Deleted == files.Count), TimeSpan.FromMinutes(3), TimeSpan.FromMilliseconds(200));

        // Every one is caught: clamd finds the virus (the message then goes to quarantine whole, since clamd names
        // no part to replace), or the built-in rules find dangerous content (the part is replaced, the original kept).
        var quarantined = new QuarantineStore(bed.Quarantine).List();
        var byVerdict = quarantined.GroupBy(entry => entry.Metadata.Verdict).ToDictionary(g => g.Key, g => g.Count());
        _output.WriteLine($"{files.Count} clamav test files: {string.Join(", ", byVerdict.Select(kv => $"{kv.Value} {Verdict.Name(kv.Key)}"))}; {counters}");
        foreach (var entry in quarantined.Where(e => e.Metadata.Verdict != VerdictKind.Infected))
            _output.WriteLine($"  not found by clamd: {string.Join("; ", entry.Metadata.Reasons)}");
        Assert.Equal(files.Count, quarantined.Count);
        Assert.All(quarantined, entry => Assert.True(entry.Metadata.Verdict is VerdictKind.Infected or VerdictKind.DangerousContent,
            $"{entry.Metadata.QueueId}: {entry.Metadata.Verdict}"));
        // What was delivered was delivered cleaned: the test file replaced by a warning.
        foreach (var outgoing in GatewayTestbed.AllEntries(bed.Outgoing).Select(File.ReadAllText))
        {
            Assert.Contains("X-MailScanner-Actors: dangerous content", outgoing);
            Assert.Contains("removed the attachment", outgoing);
        }
        Assert.Equal(files.Count, byVerdict.GetValueOrDefault(VerdictKind.Infected) + GatewayTestbed.AllEntries(bed.Outgoing).Count());
    }

    /// <summary>The gateway on the testbed's directories with the scanners the test enables.</summary>
    private PipelineCounters StartGateway(GatewayTestbed bed, Func<ScannerSettings, ScannerSettings> scanners)
    {
        var counters = new PipelineCounters();
        var defaults = bed.Settings();
        Gateway.Start(Sys, defaults with { Scanners = scanners(defaults.Scanners) }, counters);
        return counters;
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
