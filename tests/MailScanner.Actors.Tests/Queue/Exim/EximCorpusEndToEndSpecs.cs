using System.Runtime.Versioning;
using MailScanner.Actors.Tests.Pipeline;
using MailScanner.Actors.Tests.TestSupport;
using Xunit;
using Xunit.Abstractions;

namespace MailScanner.Actors.Tests.Queue.Exim;

/// <summary>
/// Real mail through both real Exims and the gateway with spamd: over 500 messages of the SpamAssassin corpus, EICAR
/// and GTUBE messages, each sent over SMTP to the receiving Exim with a recipient of its own, scanned, written into the
/// delivering Exim's spool and delivered by it to smtp-sink, each exactly once (<see cref="MtaGatewayRun.DeliverCorpusAsync"/>,
/// as for Postfix and Sendmail).
/// </summary>
[Collection(ScannerDaemonCollection.Name)]
[SupportedOSPlatform("linux")]
public sealed class EximCorpusEndToEndSpecs(ITestOutputHelper output) : IDisposable
{
    private readonly GatewayTestbed _bed = new();

    public void Dispose() => _bed.Dispose();

    [Fact]
    public async Task Should_deliver_every_corpus_message_once_tagged_and_no_virus()
    {
        await using var exim = await EximInstance.StartAsync();
        await MtaGatewayRun.DeliverCorpusAsync(exim, EximGatewayEndToEndSpecs.SettingsFor(_bed, exim), offset: 3, output);
    }
}
