using System.Runtime.Versioning;
using MailScanner.Actors.Configuration;
using MailScanner.Actors.Queue.Sendmail;
using MailScanner.Actors.Tests.Pipeline;
using MailScanner.Actors.Tests.TestSupport;
using Xunit;
using Xunit.Abstractions;

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
    private readonly GatewayTestbed _bed = new();
    private readonly ITestOutputHelper _output;

    public SendmailGatewayEndToEndSpecs(ITestOutputHelper output) => _output = output;

    public void Dispose() => _bed.Dispose();

    [Fact]
    public async Task Should_scan_queued_mail_and_have_the_delivering_sendmail_deliver_it_exactly_once()
    {
        await using var sendmail = await SendmailInstance.StartAsync();
        await MtaGatewayRun.DeliverEnvelopesAsync(sendmail, SettingsFor(_bed, sendmail));
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
