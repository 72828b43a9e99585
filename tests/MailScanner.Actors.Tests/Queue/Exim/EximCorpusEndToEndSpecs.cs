using System.Diagnostics;
using System.Runtime.Versioning;
using System.Text;
using MailScanner.Actors.Quarantine;
using MailScanner.Actors.Scanning;
using MailScanner.Actors.Scanning.Engines;
using MailScanner.Actors.Tests.Pipeline;
using MailScanner.Actors.Tests.Scanning;
using MailScanner.Actors.Tests.TestSupport;
using Xunit;
using Xunit.Abstractions;
using SinkFile = MailScanner.Actors.Tests.Queue.Postfix.PostfixQueueEndToEndSpecs.SinkFile;

namespace MailScanner.Actors.Tests.Queue.Exim;

/// <summary>
/// Real mail through both real Exims and the gateway with spamd: 500 messages of the SpamAssassin corpus (every 12th,
/// ham and spam), an EICAR and a GTUBE message, each sent over SMTP to the receiving Exim with a recipient of its own,
/// scanned, written into the delivering Exim's spool and delivered by it to smtp-sink.
/// </summary>
[Collection(ScannerDaemonCollection.Name)]
[SupportedOSPlatform("linux")]
public sealed class EximCorpusEndToEndSpecs(ITestOutputHelper output) : IDisposable
{
    private static readonly ScannerEngineSettings Engine = new(Timeout: TimeSpan.FromSeconds(60), MaxConcurrent: 4,
        UnhealthyAfterFailures: 2, ProbeMinBackoff: TimeSpan.FromMilliseconds(100), ProbeMaxBackoff: TimeSpan.FromSeconds(1));

    private const string Sender = "corpus@example.org";
    private readonly GatewayTestbed _bed = new();

    public void Dispose() => _bed.Dispose();

    [Fact]
    public async Task Should_deliver_every_corpus_message_once_tagged_and_no_virus()
    {
        using var spamd = new SpamdDaemon();
        await spamd.StartAsync();
        await using var exim = await EximInstance.StartAsync();
        var defaults = EximGatewayEndToEndSpecs.SettingsFor(_bed, exim);
        var settings = defaults with { Scanners = defaults.Scanners with { Spamd = defaults.Scanners.Spamd with { Enabled = true, Address = spamd.Address, Engine = Engine } } };
        await using var gateway = await HostedGateway.StartAsync(settings, hocon: "akka.loglevel = ERROR");

        var messages = SpamAssassinCorpus.Load().Where((_, i) => i % 12 == 0).Take(500).Select(m => (m.Key, m.Message)).ToList();
        messages.Add(("eicar", TestMail.Bytes(TestMail.Message(TestMail.Attachment("invoice.com", TestMail.Eicar)))));
        messages.Add(("gtube", Encoding.ASCII.GetBytes($"From: {Sender}\nTo: gtube@example.net\nSubject: gtube\n\nThis is the GTUBE test.\n{SpamdDaemon.Gtube}\n")));
        var clock = Stopwatch.StartNew();
        // Four senders at once, as outside servers would connect: one at a time, Exim's per-connection work dominates.
        await Parallel.ForEachAsync(Enumerable.Range(0, messages.Count), new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (i, _) =>
            await PostfixInstance.SendOverSmtpAsync(exim.SmtpPort, Sender, [RecipientOf(i)], Encoding.Latin1.GetString(messages[i].Message), Encoding.Latin1));
        var sent = clock.Elapsed;

        await Eventually.Holds(() => exim.SinkFiles().Count >= messages.Count && EximInstance.SpoolFiles(exim.DeliveringInput).Count == 0,
            TimeSpan.FromMinutes(10), () => $"all {messages.Count} delivered ({exim.SinkFiles().Count} so far; {gateway.Counters}); exim:\n{exim.DeliveringLog()[^Math.Min(3000, exim.DeliveringLog().Length)..]}",
            TimeSpan.FromSeconds(1));
        output.WriteLine($"{messages.Count} messages: sent in {sent.TotalSeconds:F1} s, all delivered by the delivering Exim after {clock.Elapsed.TotalSeconds:F1} s (shared 2-core machine); {gateway.Counters}");

        var delivered = exim.SinkFiles().Select(path => SinkFile.Read(path, Encoding.Latin1)).ToList();
        var byRecipient = delivered.GroupBy(d => Assert.Single(d.RcptTo)).ToDictionary(g => g.Key, g => g.ToList());
        for (var i = 0; i < messages.Count; i++)
        {
            var copies = byRecipient.GetValueOrDefault(RecipientOf(i)) ?? [];
            var copy = Assert.Single(copies);
            Assert.Equal(Sender, copy.MailFrom);
            Assert.Contains("X-MailScanner-Actors:", copy.Message, StringComparison.Ordinal);
        }
        Assert.Equal(messages.Count, delivered.Count);
        var eicar = Assert.Single(byRecipient[RecipientOf(messages.Count - 2)]);
        Assert.DoesNotContain(Convert.ToBase64String(TestMail.Eicar)[..40], eicar.Message, StringComparison.Ordinal);
        Assert.Contains("X-MailScanner-Actors: infected", eicar.Message, StringComparison.Ordinal);
        Assert.Matches("X-MailScanner-Actors: (high )?spam", Assert.Single(byRecipient[RecipientOf(messages.Count - 1)]).Message);
        Assert.Contains(new QuarantineStore(_bed.Quarantine).List(), entry => entry.Metadata.Verdict == VerdictKind.Infected
            && entry.Metadata.Recipients.SequenceEqual([RecipientOf(messages.Count - 2)]));

        Assert.Empty(EximInstance.SpoolFiles(exim.ReceivingInput));
        Assert.Empty(Directory.EnumerateFileSystemEntries(settings.Queue.Work));
        Assert.Empty(Directory.EnumerateFileSystemEntries(settings.Queue.Bad));
        Assert.Equal(messages.Count, exim.DeliveringLog().Split('\n').Count(line => line.EndsWith(" Completed", StringComparison.Ordinal)));
        Assert.Equal("", EximInstance.PanicLog(exim.DeliveringSpool) + EximInstance.PanicLog(exim.ReceivingSpool));
        Assert.DoesNotContain((exim.DeliveringLog() + exim.ReceivingLog()).Split('\n'), line => line.Contains("spool", StringComparison.OrdinalIgnoreCase));
    }

    private static string RecipientOf(int index) => $"c{index}@example.net";
}
