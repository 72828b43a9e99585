using System.Runtime.Versioning;
using MailScanner.Actors.Queue.Postfix;
using MailScanner.Actors.Tests.Pipeline;
using MailScanner.Actors.Tests.Queue.Exim;
using MailScanner.Actors.Tests.Queue.Postfix;
using MailScanner.Actors.Tests.Queue.Sendmail;
using MailScanner.Actors.Tests.TestSupport;
using Xunit;

namespace MailScanner.Actors.Tests.Quarantine;

/// <summary>
/// <c>quarantine release</c> in front of each real MTA (<see cref="MtaGatewayRun.ReleaseQuarantinedEicarAsync"/>): a
/// quarantined EICAR message released by the real command line is delivered by the MTA exactly once.
/// </summary>
[Collection(ScannerDaemonCollection.Name)]
[SupportedOSPlatform("linux")]
public sealed class QuarantineReleaseEndToEndSpecs : IDisposable
{
    private readonly GatewayTestbed _bed = new();
    private readonly TempDirectory _operator = new();

    public void Dispose()
    {
        _operator.Dispose();
        _bed.Dispose();
    }

    [Theory]
    [InlineData(false, PostfixQueueLayout.DefaultHashQueueNames, 1)]   // Debian's defaults: short ids, incoming flat
    [InlineData(true, "deferred, defer, hold, incoming", 2)]          // long ids, incoming hashed two levels deep
    public async Task Should_have_postfix_deliver_a_released_original_exactly_once(bool longIds, string hashQueueNames, int depth)
    {
        await using var postfix = await PostfixInstance.StartAsync(new PostfixInstanceOptions(longIds, hashQueueNames, depth));
        await MtaGatewayRun.ReleaseQuarantinedEicarAsync(postfix, PostfixGatewayEndToEndSpecs.SettingsFor(postfix, _bed.Settings()), _operator.Path);
    }

    [Fact]
    public async Task Should_have_exim_deliver_a_released_original_exactly_once()
    {
        await using var exim = await EximInstance.StartAsync(splitSpoolDirectory: true);
        await MtaGatewayRun.ReleaseQuarantinedEicarAsync(exim, EximGatewayEndToEndSpecs.SettingsFor(_bed, exim), _operator.Path);
    }

    [Fact]
    public async Task Should_have_sendmail_deliver_a_released_original_exactly_once()
    {
        await using var sendmail = await SendmailInstance.StartAsync();
        await MtaGatewayRun.ReleaseQuarantinedEicarAsync(sendmail, SendmailGatewayEndToEndSpecs.SettingsFor(_bed, sendmail), _operator.Path);
    }
}
