using System.Runtime.Versioning;
using System.Text;
using MailScanner.Actors.Cleaning;
using MailScanner.Actors.Configuration;
using MailScanner.Actors.Queue.Postfix;
using MailScanner.Actors.Quarantine;
using MailScanner.Actors.Scanning;
using MailScanner.Actors.Scanning.Engines;
using MailScanner.Actors.Tests.Pipeline;
using MailScanner.Actors.Tests.Scanning;
using MailScanner.Actors.Tests.TestSupport;
using Xunit;
using Xunit.Abstractions;
using SinkFile = MailScanner.Actors.Tests.Queue.Postfix.PostfixQueueEndToEndSpecs.SinkFile;

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
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);
    private const string Sender = "alice@example.org";
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
        var settings = SettingsFor(postfix, _bed.Settings());
        await using var gateway = await HostedGateway.StartAsync(settings);

        const int count = 12;
        var recipients = new Dictionary<int, string[]>();
        for (var seq = 0; seq < count; seq++)
        {
            recipients[seq] = [$"rcpt{seq}@example.net", $"Other{seq}@Example.COM"];
            var message = seq == 5
                ? Encoding.ASCII.GetString(TestMail.Bytes(TestMail.Message(TestMail.Attachment("invoice.com", TestMail.Eicar)))).Replace("Subject: test", $"Subject: test\r\nX-Seq: {seq}")
                : $"From: Alice <{Sender}>\nTo: rcpt{seq}@example.net\nSubject: message {seq}\nX-Seq: {seq}\n\nHello number {seq}.\n";
            await postfix.SendAsync(Sender, recipients[seq], message);
        }

        await Eventually.Holds(() => postfix.SinkFiles().Count >= count && postfix.QueueFiles("incoming").Count == 0 && postfix.QueueFiles("active").Count == 0,
            Patience, () => $"Postfix to deliver all {count} ({postfix.SinkFiles().Count} so far; {gateway.Counters}); log:\n{postfix.Log()}");
        var delivered = postfix.SinkFiles().Select(SinkFile.Read).ToList();
        Assert.Equal(Enumerable.Range(0, count), delivered.Select(d => SeqHeader.Of(d.Message)).Order());
        foreach (var copy in delivered)
        {
            var seq = SeqHeader.Of(copy.Message);
            Assert.Equal(Sender, copy.MailFrom);
            Assert.Equal(recipients[seq].Order(StringComparer.Ordinal), copy.RcptTo.Order(StringComparer.Ordinal));
            Assert.Contains("X-MailScanner-Actors:", copy.Message, StringComparison.Ordinal);
        }
        var cleaned = Assert.Single(delivered, d => SeqHeader.Of(d.Message) == 5);
        Assert.DoesNotContain("EICAR-STANDARD-ANTIVIRUS-TEST-FILE", cleaned.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Convert.ToBase64String(TestMail.Eicar)[..40], cleaned.Message, StringComparison.Ordinal);
        var quarantined = Assert.Single(new QuarantineStore(_bed.Quarantine).List());
        Assert.Equal(VerdictKind.Infected, quarantined.Metadata.Verdict);

        Assert.Empty(postfix.QueueFiles("hold"));
        Assert.Empty(postfix.QueueFiles("deferred"));
        Assert.Empty(postfix.QueueFiles("corrupt"));
        Assert.Empty(Directory.EnumerateFileSystemEntries(settings.Queue.Work));
        Assert.Empty(Directory.EnumerateFileSystemEntries(settings.Queue.Bad));
        Assert.DoesNotContain(postfix.Log().Split('\n'), line => line.Contains("warning", StringComparison.Ordinal) || line.Contains("fatal", StringComparison.Ordinal));
    }

    /// <summary>Each corpus run takes every <see cref="CorpusStride"/>th corpus message from its own offset: over 500 each, no message twice.</summary>
    private const int CorpusStride = 12;

    private const string CorpusDomain = "corpus.test";

    /// <summary>How long the corpus run may go without one more message reaching the sink (spamd's pace follows the shared machine).</summary>
    private static readonly TimeSpan StallLimit = TimeSpan.FromMinutes(2);

    public static TheoryData<bool, string, int, int> CorpusQueues => new()
    {
        { false, PostfixQueueLayout.DefaultHashQueueNames, 1, 0 },   // enable_long_queue_ids = no: ids carry the inode number
        { true, "deferred, defer, hold, incoming", 1, 6 },           // long ids, hold and incoming hashed
    };

    /// <summary>
    /// Real mail over real SMTP: over 500 SpamAssassin corpus messages, EICAR and GTUBE messages go to Postfix, are
    /// held, scanned by the gateway (built-in rules and a real spamd), handed back and delivered to the sink. Each
    /// message is known by its one envelope recipient (<c>key@corpus.test</c>), so its body goes through untouched.
    /// </summary>
    [Theory]
    [MemberData(nameof(CorpusQueues))]
    public async Task Should_deliver_each_corpus_message_sent_over_smtp_exactly_once_scanned_and_no_eicar(bool longIds, string hashQueueNames, int depth, int offset)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var corpus = SpamAssassinCorpus.Load().Where((_, i) => i % CorpusStride == offset)
            .Select(message => (Key: message.Key, Message: Encoding.Latin1.GetString(message.Message))).ToList();
        Assert.True(corpus.Count >= 500, $"only {corpus.Count} corpus messages");
        var eicar = Enumerable.Range(0, 3).Select(i => (Key: $"eicar-{i}", Message: Encoding.ASCII.GetString(
            TestMail.Bytes(TestMail.Message(TestMail.Attachment($"invoice{i}.com", TestMail.Eicar)))))).ToList();
        var gtube = Enumerable.Range(0, 3).Select(i => (Key: $"gtube-{i}", Message:
            $"From: Spammer <spammer@example.org>\nTo: gtube-{i}@{CorpusDomain}\nSubject: gtube {i}\n\nThis is the GTUBE test.\n{SpamdDaemon.Gtube}\n")).ToList();
        var all = corpus.Concat(eicar).Concat(gtube).ToList();

        using var spamd = SpamdDaemon.WithChildren(2);
        await spamd.StartAsync();
        await using var postfix = await PostfixInstance.StartAsync(new PostfixInstanceOptions(longIds, hashQueueNames, depth));
        var defaults = SettingsFor(postfix, _bed.Settings());
        var settings = defaults with
        {
            Scanners = defaults.Scanners with
            {
                Spamd = defaults.Scanners.Spamd with
                {
                    Enabled = true,
                    Address = spamd.Address,
                    Engine = new ScannerEngineSettings(TimeSpan.FromMinutes(2), spamd.Children, 3, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(5)),
                },
            },
        };
        await using var gateway = await HostedGateway.StartAsync(settings, hocon: "akka.loglevel = ERROR");
        var started = clock.Elapsed;

        // Four senders at once, as mail arrives from outside; Latin-1 puts each byte of the corpus on the wire as it is.
        await Parallel.ForEachAsync(all, new ParallelOptions { MaxDegreeOfParallelism = 4 },
            async (message, _) => await postfix.SendAsync($"sender@{CorpusDomain}", [$"{message.Key}@{CorpusDomain}"], message.Message, Encoding.Latin1));
        var sent = clock.Elapsed;

        var progress = (Count: 0, At: clock.Elapsed);
        bool DeliveredOrStalled()
        {
            var count = postfix.SinkFiles().Count;
            if (count >= all.Count && postfix.QueueFiles("incoming").Count == 0 && postfix.QueueFiles("active").Count == 0) return true;
            if (count != progress.Count) progress = (count, clock.Elapsed);
            return clock.Elapsed - progress.At > StallLimit;
        }
        await Eventually.Holds(DeliveredOrStalled, TimeSpan.FromMinutes(30), "the sink to receive every message or a stall", TimeSpan.FromMilliseconds(250));
        var delivered = postfix.SinkFiles().Select(path => SinkFile.Read(path, Encoding.Latin1)).ToList();
        Assert.True(delivered.Count >= all.Count,
            $"{delivered.Count} of {all.Count} delivered, none more for {StallLimit.TotalMinutes} min; {gateway.Counters}; " +
            $"hold {postfix.QueueFiles("hold").Count}, incoming {postfix.QueueFiles("incoming").Count}, deferred {postfix.QueueFiles("deferred").Count}; log tail:\n" +
            string.Join('\n', postfix.Log().Split('\n').TakeLast(30)));
        var elapsed = clock.Elapsed;

        var byKey = delivered.GroupBy(copy => Assert.Single(copy.RcptTo).Split('@')[0]).ToDictionary(group => group.Key, group => group.ToList());
        var missing = all.Where(message => !byKey.ContainsKey(message.Key)).Select(message => message.Key).ToList();
        var twice = byKey.Where(pair => pair.Value.Count > 1).Select(pair => $"{pair.Key} x{pair.Value.Count}").ToList();
        Assert.True(missing.Count == 0, $"{missing.Count} never arrived: {string.Join(", ", missing.Take(20))}");
        Assert.True(twice.Count == 0, $"{twice.Count} arrived more than once: {string.Join(", ", twice.Take(20))}");
        Assert.Equal(all.Count, byKey.Count);
        Assert.All(delivered, copy => Assert.Contains($"\n{MessageCleaner.VerdictHeader}: ", "\n" + copy.Message, StringComparison.Ordinal));

        // No EICAR arrives: each is delivered cleaned, its original kept in the quarantine.
        Assert.All(delivered, copy => Assert.DoesNotContain("EICAR-STANDARD-ANTIVIRUS-TEST-FILE", copy.Message, StringComparison.Ordinal));
        Assert.All(delivered, copy => Assert.DoesNotContain(Convert.ToBase64String(TestMail.Eicar)[..40], copy.Message, StringComparison.Ordinal));
        var quarantined = new QuarantineStore(_bed.Quarantine).List();
        foreach (var (key, _) in eicar)
            Assert.Equal(VerdictKind.Infected, Assert.Single(quarantined, entry => entry.Metadata.Recipients.SequenceEqual([$"{key}@{CorpusDomain}"])).Metadata.Verdict);
        // GTUBE was scored by spamd, and so was the corpus.
        foreach (var (key, _) in gtube)
            Assert.Contains($"\n{MessageCleaner.VerdictHeader}: high spam", "\n" + Assert.Single(byKey[key]).Message, StringComparison.Ordinal);
        Assert.Contains(delivered, copy => copy.Message.Contains($"\n{MessageCleaner.SpamScoreHeader}: ", StringComparison.Ordinal) && !copy.RcptTo[0].StartsWith("gtube", StringComparison.Ordinal));

        Assert.Empty(postfix.QueueFiles("hold"));
        Assert.Empty(postfix.QueueFiles("deferred"));
        Assert.Empty(postfix.QueueFiles("corrupt"));
        Assert.Empty(Directory.EnumerateFileSystemEntries(settings.Queue.Work));
        Assert.Empty(Directory.EnumerateFileSystemEntries(settings.Queue.Bad));
        Assert.DoesNotContain(postfix.Log().Split('\n'), line => line.Contains("warning", StringComparison.Ordinal) || line.Contains("fatal", StringComparison.Ordinal)
            || line.Contains("corrupt", StringComparison.OrdinalIgnoreCase) || line.Contains("panic", StringComparison.Ordinal));

        _output.WriteLine($"{all.Count} messages ({corpus.Count} corpus, {eicar.Count} EICAR, {gtube.Count} GTUBE), long ids {longIds}: " +
            $"set-up {started.TotalSeconds:F1} s, sent over SMTP by {sent.TotalSeconds:F1} s, all delivered by {elapsed.TotalSeconds:F1} s " +
            $"({all.Count / (elapsed - started).TotalSeconds:F1} msg/s); {gateway.Counters}");
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
