using System.Runtime.Versioning;
using System.Text;
using MailScanner.Actors.Queue;
using MailScanner.Actors.Queue.Exim;
using MailScanner.Actors.Tests.Pipeline;
using MailScanner.Actors.Tests.Scanning;
using MailScanner.Actors.Tests.TestSupport;
using Xunit;
using SinkFile = MailScanner.Actors.Tests.Queue.Postfix.PostfixQueueEndToEndSpecs.SinkFile;

namespace MailScanner.Actors.Tests.Queue.Exim;

/// <summary>
/// <c>enqueue</c> on an Exim spool plays the receiving Exim: the pair it writes is one the real Exim 4.96 delivers as
/// its own, and one the gateway takes through to the delivering Exim.
/// </summary>
[Collection(ScannerDaemonCollection.Name)]
[SupportedOSPlatform("linux")]
public sealed class EximEnqueueSpecs : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);
    private readonly GatewayTestbed _bed = new();

    public void Dispose() => _bed.Dispose();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Should_write_a_pair_the_real_exim_delivers_as_its_own(bool splitSpoolDirectory)
    {
        await using var exim = await EximInstance.StartAsync(splitSpoolDirectory);
        var format = new EximFormat(exim.Options);

        var ids = Enumerable.Range(0, 3)
            .Select(seq => format.WriteIncomingEntry(exim.DeliveringInput, new QueueEnvelope("alice@example.org", [$"rcpt{seq}@example.net", "carol@example.com"]),
                Encoding.ASCII.GetBytes($"From: alice@example.org\r\nTo: rcpt{seq}@example.net\r\nSubject: enqueued {seq}\r\nX-Seq: {seq}\r\n\r\nHello.\r\n.a dot line\r\n")))
            .ToList();
        Assert.Equal(3, ids.Distinct().Count());
        Assert.All(ids, id => Assert.True(EximMessageId.IsValid(id), id));
        foreach (var id in ids)
        {
            var header = Path.Combine(exim.DeliveringInput, splitSpoolDirectory ? EximMessageId.SplitDirectory(id).ToString() : "", $"{id}-H");
            Assert.Null(await format.AnnounceAsync(header)); // the delivering Exim, run with -Mc <id>
        }

        var sink = new CompleteSinkFiles(exim);
        await Eventually.Holds(() => sink.Count() >= 3, Patience,
            () => $"Exim to deliver the enqueued messages; log:\n{exim.DeliveringLog()}");
        var delivered = exim.SinkFiles().Select(SinkFile.Read).OrderBy(d => SeqHeader.Of(d.Message)).ToList();
        for (var seq = 0; seq < 3; seq++)
        {
            Assert.Equal("alice@example.org", delivered[seq].MailFrom);
            Assert.Equal(["carol@example.com", $"rcpt{seq}@example.net"], delivered[seq].RcptTo.Order(StringComparer.Ordinal));
            Assert.EndsWith("Hello.\n.a dot line\n", delivered[seq].Message, StringComparison.Ordinal);
        }
        Assert.Equal("", EximInstance.PanicLog(exim.DeliveringSpool));
    }

    [Fact]
    public async Task Should_put_an_enqueued_message_through_the_gateway_and_the_delivering_exim()
    {
        await using var exim = await EximInstance.StartAsync();
        var settings = EximGatewayEndToEndSpecs.SettingsFor(_bed, exim);
        await using var gateway = await HostedGateway.StartAsync(settings);

        QueueFormats.For(settings.Queue).WriteIncomingEntry(settings.Queue.Incoming, new QueueEnvelope("alice@example.org", ["bob@example.net"]),
            "From: alice@example.org\r\nSubject: through\r\nX-Seq: 7\r\n\r\nHello.\r\n"u8);

        var sink = new CompleteSinkFiles(exim);
        await Eventually.Holds(() => sink.Count() == 1, Patience,
            () => $"the message through the gateway ({gateway.Counters}); log:\n{exim.DeliveringLog()}");
        var copy = SinkFile.Read(Assert.Single(exim.SinkFiles()));
        Assert.Equal(["bob@example.net"], copy.RcptTo);
        Assert.Contains("X-MailScanner-Actors:", copy.Message, StringComparison.Ordinal);
        Assert.Empty(EximInstance.SpoolFiles(exim.ReceivingInput));
    }
}
