using System.Runtime.Versioning;
using System.Text;
using MailScanner.Actors.Configuration;
using MailScanner.Actors.Queue.Sendmail;
using MailScanner.Actors.Quarantine;
using MailScanner.Actors.Scanning;
using MailScanner.Actors.Tests.Pipeline;
using MailScanner.Actors.Tests.Scanning;
using MailScanner.Actors.Tests.TestSupport;
using Xunit;
using Xunit.Abstractions;
using SinkFile = MailScanner.Actors.Tests.Queue.Postfix.PostfixQueueEndToEndSpecs.SinkFile;

namespace MailScanner.Actors.Tests.Queue.Sendmail;

/// <summary>
/// The whole gateway between two real Sendmail 8.17 instances, set up as MailScanner documents: mail arrives over SMTP
/// at a receiving sendmail that only queues it, the gateway takes each qf/df pair from its queue directory, scans it,
/// writes the result into the delivering sendmail's (df, then qf) and runs that sendmail with -qI, which delivers to
/// smtp-sink. Every message arrives exactly once with its envelope and the gateway's header; the virus does not.
/// </summary>
[Collection(ScannerDaemonCollection.Name)]
[SupportedOSPlatform("linux")]
public sealed class SendmailGatewayEndToEndSpecs : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);
    private const string Sender = "alice@example.org";
    private readonly GatewayTestbed _bed = new();
    private readonly ITestOutputHelper _output;

    public SendmailGatewayEndToEndSpecs(ITestOutputHelper output) => _output = output;

    public void Dispose() => _bed.Dispose();

    [Fact]
    public async Task Should_scan_queued_mail_and_have_the_delivering_sendmail_deliver_it_exactly_once()
    {
        await using var sendmail = await SendmailInstance.StartAsync();
        var settings = SettingsFor(_bed, sendmail);
        await using var gateway = await HostedGateway.StartAsync(settings);

        const int count = 10;
        var recipients = new Dictionary<int, string[]>();
        for (var seq = 0; seq < count; seq++)
        {
            recipients[seq] = [$"rcpt{seq}@example.net", $"other{seq}@example.com"];
            var message = seq == 5
                ? Encoding.ASCII.GetString(TestMail.Bytes(TestMail.Message(TestMail.Attachment("invoice.com", TestMail.Eicar)))).Replace("Subject: test", $"Subject: test\r\nX-Seq: {seq}")
                : $"From: Alice <{Sender}>\nTo: rcpt{seq}@example.net\nSubject: message {seq}\n  folded subject line\nX-Seq: {seq}\n\nHello number {seq}.\n.a line that starts with a dot\n";
            await sendmail.SendAsync(Sender, recipients[seq], message);
        }

        await Eventually.Holds(() => CompleteSinkFiles(sendmail) >= count && SendmailInstance.QueueFiles(sendmail.DeliveringQueue).Count == 0,
            Patience, () => $"the delivering sendmail to deliver all {count} ({sendmail.SinkFiles().Count} so far; {gateway.Counters}); delivering queue: " +
                            string.Join(' ', SendmailInstance.QueueFiles(sendmail.DeliveringQueue)));
        var delivered = sendmail.SinkFiles().Select(SinkFile.Read).ToList();
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

        Assert.Empty(SendmailInstance.QueueFiles(sendmail.ReceivingQueue));
        Assert.Empty(Directory.EnumerateFileSystemEntries(settings.Queue.Work));
        Assert.Empty(Directory.EnumerateFileSystemEntries(settings.Queue.Bad));
    }

    /// <summary>
    /// Real mail over real SMTP: over 500 SpamAssassin corpus messages, EICAR and GTUBE messages go to the receiving
    /// sendmail, are scanned by the gateway (built-in rules and a real spamd), written into the delivering sendmail's
    /// queue and delivered by it to the sink, each exactly once, with nothing in either sendmail's syslog about a queue
    /// file (<see cref="MtaGatewayRun.DeliverCorpusAsync"/>, as for Postfix and Exim).
    /// </summary>
    [Fact]
    public async Task Should_deliver_each_corpus_message_sent_over_smtp_exactly_once_scanned_and_no_eicar()
    {
        await using var sendmail = await SendmailInstance.StartAsync();
        await MtaGatewayRun.DeliverCorpusAsync(sendmail, SettingsFor(_bed, sendmail), offset: 9, _output);
    }

    /// <summary>smtp-sink creates its file before it has written all of the message; a complete one ends with the empty line it writes for the end of data.</summary>
    private static int CompleteSinkFiles(SendmailInstance sendmail) =>
        sendmail.SinkFiles().Count(file => File.ReadAllText(file).EndsWith("\n\n", StringComparison.Ordinal));

    /// <summary>The gateway between the two queue directories; its work and bad directories on their file system, as claims are renames.</summary>
    internal static GatewaySettings SettingsFor(GatewayTestbed bed, SendmailInstance sendmail)
    {
        var defaults = bed.Settings();
        return defaults with
        {
            Queue = defaults.Queue with
            {
                Format = SendmailFormat.FormatName,
                Incoming = sendmail.ReceivingQueue,
                Outgoing = sendmail.DeliveringQueue,
                Work = Directory.CreateDirectory(Path.Combine(sendmail.Directory, "mailscanner-work")).FullName,
                Bad = Directory.CreateDirectory(Path.Combine(sendmail.Directory, "mailscanner-bad")).FullName,
                Sendmail = sendmail.Options,
            },
        };
    }
}
