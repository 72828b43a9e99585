using System.Runtime.Versioning;
using MailScanner.Actors.Configuration;
using MailScanner.Actors.Queue.Postfix;
using MailScanner.Actors.Tests.Pipeline;
using MailScanner.Actors.Tests.TestSupport;
using Xunit;
using Xunit.Abstractions;

namespace MailScanner.Actors.Tests.Queue.Postfix;

/// <summary>
/// The whole gateway in front of a real Postfix 3.7, set up as MailScanner documents: mail arrives over SMTP and is
/// held, the gateway takes it from hold/, scans it, writes what it delivers into incoming/ and wakes qmgr, and Postfix
/// delivers it (to smtp-sink). Every message arrives exactly once, with its envelope; the virus does not.
/// </summary>
[Collection(ScannerDaemonCollection.Name)]
[SupportedOSPlatform("linux")]
public sealed class PostfixGatewayEndToEndSpecs : IDisposable
{
    private readonly GatewayTestbed _bed = new();
    private readonly ITestOutputHelper _output;

    public PostfixGatewayEndToEndSpecs(ITestOutputHelper output) => _output = output;

    public void Dispose() => _bed.Dispose();

    public static TheoryData<bool, string, int> Queues => new()
    {
        { false, PostfixQueueLayout.DefaultHashQueueNames, 1 },   // Debian's defaults: short ids, hold and incoming flat
        { true, "deferred, defer, hold, incoming", 2 },           // long ids, hold and incoming hashed two levels deep
    };

    [Theory]
    [MemberData(nameof(Queues))]
    public async Task Should_scan_held_mail_and_hand_it_back_to_postfix_exactly_once_with_its_envelope(bool longIds, string hashQueueNames, int depth)
    {
        await using var postfix = await PostfixInstance.StartAsync(new PostfixInstanceOptions(longIds, hashQueueNames, depth));
        await MtaGatewayRun.DeliverEnvelopesAsync(postfix, SettingsFor(postfix, _bed.Settings()));
    }

    public static TheoryData<bool, string, int, int> CorpusQueues => new()
    {
        { false, PostfixQueueLayout.DefaultHashQueueNames, 1, 0 },   // enable_long_queue_ids = no: ids carry the inode number
        { true, "deferred, defer, hold, incoming", 1, 6 },           // long ids, hold and incoming hashed
    };

    /// <summary>
    /// Real mail over real SMTP: over 500 SpamAssassin corpus messages, EICAR and GTUBE messages go to Postfix, are
    /// held, scanned by the gateway (built-in rules and a real spamd), handed back and delivered to the sink, each
    /// exactly once (<see cref="MtaGatewayRun.DeliverCorpusAsync"/>, as for Exim and Sendmail).
    /// </summary>
    [Theory]
    [MemberData(nameof(CorpusQueues))]
    public async Task Should_deliver_each_corpus_message_sent_over_smtp_exactly_once_scanned_and_no_eicar(bool longIds, string hashQueueNames, int depth, int offset)
    {
        await using var postfix = await PostfixInstance.StartAsync(new PostfixInstanceOptions(longIds, hashQueueNames, depth));
        await MtaGatewayRun.DeliverCorpusAsync(postfix, SettingsFor(postfix, _bed.Settings()), offset, _output);
    }

    /// <summary>The gateway reading <paramref name="postfix"/>'s hold/ and writing its incoming/, work and bad beside them.</summary>
    internal static GatewaySettings SettingsFor(PostfixInstance postfix, GatewaySettings defaults) => defaults with
    {
        Queue = defaults.Queue with
        {
            Format = PostfixFormat.FormatName,
            Incoming = postfix.Layout.HoldDirectory,
            Outgoing = postfix.Layout.IncomingDirectory,
            // On the queue's own file system: files are claimed by rename.
            Work = Directory.CreateDirectory(Path.Combine(postfix.Directory, "mailscanner-work")).FullName,
            Bad = Directory.CreateDirectory(Path.Combine(postfix.Directory, "mailscanner-bad")).FullName,
            Postfix = new PostfixQueueOptions(postfix.Options.LongQueueIds, postfix.Options.HashQueueNames, postfix.Options.HashQueueDepth, PostfixInstance.MailOwner),
        },
    };
}
