using System.Runtime.Versioning;
using System.Text;
using MailScanner.Actors.Configuration;
using MailScanner.Actors.Queue.Exim;
using MailScanner.Actors.Quarantine;
using MailScanner.Actors.Scanning;
using MailScanner.Actors.Tests.Pipeline;
using MailScanner.Actors.Tests.Scanning;
using MailScanner.Actors.Tests.TestSupport;
using Xunit;
using SinkFile = MailScanner.Actors.Tests.Queue.Postfix.PostfixQueueEndToEndSpecs.SinkFile;

namespace MailScanner.Actors.Tests.Queue.Exim;

/// <summary>
/// The whole gateway between two real Exim 4.96 instances, set up as MailScanner documents: mail arrives over SMTP at a
/// receiving Exim that only queues it, the gateway takes each -H/-D pair from its input/, scans it, writes the result
/// into the delivering Exim's input/ (-D, then -H) and runs that Exim with -Mc, which delivers to smtp-sink. Every
/// message arrives exactly once with its envelope; the virus does not; neither Exim logs a spool error.
/// </summary>
[Collection(ScannerDaemonCollection.Name)]
[SupportedOSPlatform("linux")]
public sealed class EximGatewayEndToEndSpecs : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);
    private const string Sender = "alice@example.org";
    private readonly GatewayTestbed _bed = new();

    public void Dispose() => _bed.Dispose();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Should_scan_queued_mail_and_have_the_delivering_exim_deliver_it_exactly_once(bool splitSpoolDirectory)
    {
        await using var exim = await EximInstance.StartAsync(splitSpoolDirectory);
        var settings = SettingsFor(_bed, exim);
        await using var gateway = await HostedGateway.StartAsync(settings);

        const int count = 12;
        var recipients = new Dictionary<int, string[]>();
        for (var seq = 0; seq < count; seq++)
        {
            recipients[seq] = [$"rcpt{seq}@example.net", $"Other{seq}@Example.COM"];
            var message = seq == 5
                ? Encoding.ASCII.GetString(TestMail.Bytes(TestMail.Message(TestMail.Attachment("invoice.com", TestMail.Eicar)))).Replace("Subject: test", $"Subject: test\r\nX-Seq: {seq}")
                : $"From: Alice <{Sender}>\nTo: rcpt{seq}@example.net\nSubject: message {seq}\n  folded subject line\nX-Seq: {seq}\n\nHello number {seq}.\n.a line that starts with a dot\n";
            await exim.SendAsync(Sender, recipients[seq], message);
        }

        await Eventually.Holds(() => exim.SinkFiles().Count >= count && EximInstance.SpoolFiles(exim.DeliveringInput).Count == 0,
            Patience, () => $"the delivering Exim to deliver all {count} ({exim.SinkFiles().Count} so far; {gateway.Counters}); log:\n{exim.DeliveringLog()}");
        var delivered = exim.SinkFiles().Select(SinkFile.Read).ToList();
        Assert.Equal(Enumerable.Range(0, count), delivered.Select(d => SeqHeader.Of(d.Message)).Order());
        foreach (var copy in delivered)
        {
            var seq = SeqHeader.Of(copy.Message);
            Assert.Equal(Sender, copy.MailFrom);
            Assert.Equal(recipients[seq].Order(StringComparer.Ordinal), copy.RcptTo.Order(StringComparer.Ordinal));
            Assert.Contains("X-MailScanner-Actors:", copy.Message, StringComparison.Ordinal);
            if (seq != 5)
            {
                Assert.Contains($"Subject: message {seq}\n  folded subject line\n", copy.Message, StringComparison.Ordinal);
                Assert.EndsWith($"Hello number {seq}.\n.a line that starts with a dot\n", copy.Message, StringComparison.Ordinal);
            }
        }
        var cleaned = Assert.Single(delivered, d => SeqHeader.Of(d.Message) == 5);
        Assert.DoesNotContain("EICAR-STANDARD-ANTIVIRUS-TEST-FILE", cleaned.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Convert.ToBase64String(TestMail.Eicar)[..40], cleaned.Message, StringComparison.Ordinal);
        var quarantined = Assert.Single(new QuarantineStore(_bed.Quarantine).List());
        Assert.Equal(VerdictKind.Infected, quarantined.Metadata.Verdict);

        Assert.Empty(EximInstance.SpoolFiles(exim.ReceivingInput));
        Assert.Empty(Directory.EnumerateFileSystemEntries(settings.Queue.Work));
        Assert.Empty(Directory.EnumerateFileSystemEntries(settings.Queue.Bad));
        var log = exim.DeliveringLog() + exim.ReceivingLog();
        Assert.Equal(count, exim.DeliveringLog().Split('\n').Count(line => line.EndsWith(" Completed", StringComparison.Ordinal)));
        Assert.Equal("", EximInstance.PanicLog(exim.DeliveringSpool) + EximInstance.PanicLog(exim.ReceivingSpool));
        Assert.DoesNotContain(log.Split('\n'), line => line.Contains("spool", StringComparison.OrdinalIgnoreCase) || line.Contains("frozen", StringComparison.Ordinal));
    }

    /// <summary>The gateway between the two spools; its work and bad directories on their file system, as claims are renames.</summary>
    internal static GatewaySettings SettingsFor(GatewayTestbed bed, EximInstance exim)
    {
        var defaults = bed.Settings();
        return defaults with
        {
            Queue = defaults.Queue with
            {
                Format = EximFormat.FormatName,
                Incoming = exim.ReceivingInput,
                Outgoing = exim.DeliveringInput,
                Work = Directory.CreateDirectory(Path.Combine(exim.Directory, "mailscanner-work")).FullName,
                Bad = Directory.CreateDirectory(Path.Combine(exim.Directory, "mailscanner-bad")).FullName,
                Exim = exim.Options,
            },
        };
    }
}
