using System.Runtime.Versioning;
using MailScanner.Actors.Configuration;
using MailScanner.Actors.Queue.Exim;
using MailScanner.Actors.Tests.Pipeline;
using MailScanner.Actors.Tests.TestSupport;
using Xunit;

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
    private readonly GatewayTestbed _bed = new();

    public void Dispose() => _bed.Dispose();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Should_scan_queued_mail_and_have_the_delivering_exim_deliver_it_exactly_once(bool splitSpoolDirectory)
    {
        await using var exim = await EximInstance.StartAsync(splitSpoolDirectory);
        await MtaGatewayRun.DeliverEnvelopesAsync(exim, SettingsFor(_bed, exim));
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
