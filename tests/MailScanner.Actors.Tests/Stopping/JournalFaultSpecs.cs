using Akka.Event;
using Akka.TestKit.Xunit2;
using MailScanner.Actors.Hosting;
using MailScanner.Actors.Metrics;
using MailScanner.Actors.Tests.Pipeline;
using MailScanner.Actors.Tests.TestSupport;
using Xunit;

namespace MailScanner.Actors.Tests.Stopping;

/// <summary>
/// The message journal's database taken away from a running gateway: locked by another process, or deleted. No
/// message is lost or delivered twice, none is delivered without its attempt being recorded, and the log says why.
/// </summary>
public sealed class JournalFaultSpecs : TestKit
{
    private readonly GatewayTestbed _bed = new();
    private readonly PipelineCounters _counters = new();

    public JournalFaultSpecs() : base("akka.loglevel = INFO", output: null) { }

    private string Database => _bed.Settings().Journal.DatabasePath;

    [Fact]
    public async Task Should_keep_messages_queued_while_the_journal_database_is_locked_then_deliver_each_exactly_once()
    {
        await using var gateway = await StartGateway();
        var log = gateway.Log;
        await DeliverAsync(0..1);

        using (var locker = JournalDatabase.Open(Database))
        {
            // Another process holds the write lock: every journal write waits out SQLite's busy timeout and fails.
            JournalDatabase.Execute(locker, "BEGIN EXCLUSIVE");
            for (var seq = 1; seq <= 10; seq++) _bed.Enqueue($"X-Seq: {seq}\r\nwhile the journal is locked");
            await Eventually.Holds(() => _counters.Failed >= 10, TimeSpan.FromSeconds(90), () => $"10 failed attempts while the journal cannot write ({_counters})", TimeSpan.FromMilliseconds(50));

            Assert.Equal(1, _counters.Delivered);
            Assert.Equal([0], DeliveredSeqs());
            Assert.Equal(Enumerable.Range(1, 10), QueuedSeqs());
            // Once for the episode, not once per message and retry.
            Assert.Single(log.Lines(LogLevel.WarningLevel), line => line.StartsWith($"The message journal ({Database}) is unavailable", StringComparison.Ordinal));
            JournalDatabase.Execute(locker, "ROLLBACK");
        }

        await Eventually.Holds(() => _counters.Deleted == 11, TimeSpan.FromSeconds(90), () => $"all 11 messages delivered once the journal writes again ({_counters})", TimeSpan.FromMilliseconds(50));
        Assert.Equal(Enumerable.Range(0, 11), DeliveredSeqs());
        Assert.Empty(GatewayTestbed.AllEntries(_bed.Incoming));
        Assert.Empty(GatewayTestbed.AllEntries(_bed.Work));
    }

    [Fact]
    public async Task Should_make_the_journal_database_again_when_it_is_deleted_while_running_and_lose_nothing()
    {
        await using var gateway = await StartGateway();
        var log = gateway.Log;
        await DeliverAsync(0..5);

        JournalDatabase.Delete(Database);
        await DeliverAsync(5..10);

        var error = Assert.Single(log.Lines(LogLevel.ErrorLevel));
        Assert.StartsWith($"Message journal database {Database} was deleted or replaced while the gateway runs", error);
        Assert.Equal(Enumerable.Range(0, 10), DeliveredSeqs());
        // The new file is a working journal: what was remembered went into it as a snapshot, and writes went on.
        Assert.True(File.Exists(Database));
        Assert.True(Scalar("SELECT COUNT(*) FROM journal") >= 1, "the journal did not go on writing into the new database");
        await Eventually.Holds(() => Scalar("SELECT COUNT(*) FROM snapshot") >= 1, TimeSpan.FromSeconds(20),
            "what the journal remembered to be written into the new database as a snapshot", TimeSpan.FromMilliseconds(50));
    }

    private Task<HostedGateway> StartGateway()
    {
        var settings = _bed.Settings();
        return HostedGateway.StartAsync(settings with
        {
            Queue = settings.Queue with { RetryBackoffMin = TimeSpan.FromMilliseconds(50), RetryBackoffMax = TimeSpan.FromMilliseconds(500) },
            // A journal that cannot write hands its messages back soon.
            Journal = settings.Journal with { AnswerTimeout = TimeSpan.FromSeconds(2) },
        }, _counters, hocon: "akka.loglevel = INFO");
    }

    private async Task DeliverAsync(Range seqs)
    {
        var before = _counters.Deleted;
        for (var seq = seqs.Start.Value; seq < seqs.End.Value; seq++) _bed.Enqueue($"X-Seq: {seq}\r\nmessage {seq}");
        var expected = before + (seqs.End.Value - seqs.Start.Value);
        await Eventually.Holds(() => _counters.Deleted == expected, TimeSpan.FromSeconds(60), () => $"{expected} messages delivered ({_counters})");
    }

    private List<int> DeliveredSeqs() => GatewayTestbed.AllEntries(_bed.Outgoing).Select(SeqHeader.OfFile).Order().ToList();

    /// <summary>
    /// The messages in the incoming queue or the work area. The gateway keeps claiming and handing them back meanwhile,
    /// so a file listed in one may have moved to the other before it is read: then both are listed again.
    /// </summary>
    private List<int> QueuedSeqs()
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return GatewayTestbed.AllEntries(_bed.Incoming).Concat(GatewayTestbed.AllEntries(_bed.Work)).Select(SeqHeader.OfFile).Order().ToList();
            }
            catch (FileNotFoundException) when (attempt < 20)
            {
            }
        }
    }

    private long Scalar(string query) => JournalDatabase.Scalar(Database, query);

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing) _bed.Dispose();
    }
}
