using Akka.Actor;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using MailScanner.Actors.Identity;
using MailScanner.Actors.Journal;
using MailScanner.Actors.Policy;
using MailScanner.Actors.Scanning;
using MailScanner.Actors.Tests.TestSupport;
using Microsoft.Data.Sqlite;
using Xunit;
using static MailScanner.Actors.Journal.MessageJournalProtocol;

namespace MailScanner.Actors.Tests.Journal;

/// <summary>The message journal on a real SQLite file, across actor systems that end as a crashed process would.</summary>
public sealed class MessageJournalSpecs : IDisposable
{
    private static readonly TimeSpan Answer = TimeSpan.FromSeconds(20);
    private readonly TempDirectory _state = new();

    public void Dispose() => _state.Dispose();

    [Fact]
    public async Task Should_remember_attempts_and_a_recorded_delivery_across_a_restart()
    {
        var settings = JournalSettings.For(_state.Path);
        var message = new FileIdentity(0x801, 4242, 0xabc);
        var intent = new DeliveryIntent(VerdictKind.Spam, ["spam score 7.1"], MessageAction.Deliver,
            new StagedName("/queue/out/tf-801-4242-abc", "5555", "801-5555-def"), null);

        await WithJournal(settings, async journal =>
        {
            Assert.Equal(1, (await journal.Ask<AttemptBegun>(new BeginAttempt(message, "4242"), Answer)).Attempt);
            Assert.Equal(2, (await journal.Ask<AttemptBegun>(new BeginAttempt(message, "4242"), Answer)).Attempt);
            await journal.Ask<DeliveryRecorded>(new RecordDelivery(message, intent), Answer);
        });

        await WithJournal(settings, async journal =>
        {
            var begun = await journal.Ask<AttemptBegun>(new BeginAttempt(message, "4242"), Answer);
            Assert.Equal(3, begun.Attempt);
            Assert.Equal(intent.OutgoingTemp, begun.PendingDelivery?.OutgoingTemp);
            Assert.Equal(intent.Reasons, begun.PendingDelivery?.Reasons);
        });
    }

    [Fact]
    public async Task Should_not_count_an_attempt_that_was_abandoned_for_an_outside_reason()
    {
        var settings = JournalSettings.For(_state.Path);
        var message = new FileIdentity(0x801, 77, 1);
        await WithJournal(settings, async journal =>
        {
            await journal.Ask<AttemptBegun>(new BeginAttempt(message, "77"), Answer);
            journal.Tell(new MessageJournalProtocol.AttemptAbandoned(message));
            Assert.Equal(1, (await journal.Ask<AttemptBegun>(new BeginAttempt(message, "77"), Answer)).Attempt);
        });
    }

    [Fact]
    public async Task Should_forget_finished_messages_and_prune_its_rows()
    {
        var settings = JournalSettings.For(_state.Path, snapshotEvery: 20);
        long rows = 0, newestSnapshot = 0, newestEvent = 0;
        await WithJournal(settings, async journal =>
        {
            for (var i = 0; i < 300; i++)
            {
                var message = new FileIdentity(0x801, (ulong)i, 7);
                await journal.Ask<AttemptBegun>(new BeginAttempt(message, i.ToString()), Answer);
                journal.Tell(new Finished(message));
            }
            // Finished is told, not asked: it is applied once written, a moment after the last BeginAttempt's answer.
            await Eventually.Holds(async () => (await journal.Ask<Size>(GetSize.Instance, Answer)).Messages == 0, Answer,
                "every finished message to be forgotten");

            // 600 transitions were written; only the rows after the newest snapshot may remain. Pruning follows the
            // snapshot store's answer, which can come seconds later on a loaded machine (its first use initializes it),
            // so this waits while the journal still runs.
            await Eventually.Holds(() =>
            {
                rows = Scalar(settings.DatabasePath, "SELECT COUNT(*) FROM journal");
                newestSnapshot = Scalar(settings.DatabasePath, "SELECT COALESCE(MAX(sequence_number), 0) FROM snapshot");
                newestEvent = Scalar(settings.DatabasePath, "SELECT COALESCE(MAX(sequence_number), 0) FROM journal");
                return newestSnapshot > 0 && rows <= newestEvent - newestSnapshot + 1;
            }, Answer, () => $"a snapshot and the rows before it pruned (rows {rows}, newest snapshot {newestSnapshot}, newest event {newestEvent})",
                TimeSpan.FromMilliseconds(50));
        });

        Assert.True(newestSnapshot > 0, "no snapshot was taken");
        Assert.InRange(rows, 0, newestEvent - newestSnapshot + 1);
        Assert.InRange(Scalar(settings.DatabasePath, "SELECT COUNT(*) FROM snapshot"), 1, 2);

        await WithJournal(settings, async journal => Assert.Equal(0, (await journal.Ask<Size>(GetSize.Instance, Answer)).Messages));
    }

    [Fact]
    public async Task Should_write_everything_it_remembers_into_a_new_database_when_the_file_is_deleted_while_running()
    {
        var settings = JournalSettings.For(_state.Path);
        var crashedTwice = new FileIdentity(0x801, 1, 7);
        var delivering = new FileIdentity(0x801, 2, 7);
        var afterwards = new FileIdentity(0x801, 3, 7);
        var intent = new DeliveryIntent(VerdictKind.Clean, [], MessageAction.Deliver, new StagedName("/queue/out/tf-801-2-7", "99", "801-99-1"), null);

        await WithJournal(settings, async journal =>
        {
            await journal.Ask<AttemptBegun>(new BeginAttempt(crashedTwice, "1"), Answer);
            await journal.Ask<AttemptBegun>(new BeginAttempt(crashedTwice, "1"), Answer);
            await journal.Ask<AttemptBegun>(new BeginAttempt(delivering, "2"), Answer);
            await journal.Ask<DeliveryRecorded>(new RecordDelivery(delivering, intent), Answer);

            JournalDatabase.Delete(settings.DatabasePath);
            await journal.Ask<AttemptBegun>(new BeginAttempt(afterwards, "3"), Answer);

            // What it remembered went into the new file first, as a snapshot, and that write after it: a crash between
            // the two could otherwise leave a file whose rows build on memory it does not hold.
            Assert.Equal(1, Scalar(settings.DatabasePath, "SELECT COUNT(*) FROM snapshot"));
            Assert.True(Scalar(settings.DatabasePath, "SELECT MIN(sequence_number) FROM journal") > Scalar(settings.DatabasePath, "SELECT MAX(sequence_number) FROM snapshot"),
                "a row in the new file is older than its snapshot");
        });

        await WithJournal(settings, async journal =>
        {
            Assert.Equal(2, (await journal.Ask<Entry>(new Lookup(crashedTwice), Answer)).Attempts);
            var delivery = await journal.Ask<Entry>(new Lookup(delivering), Answer);
            Assert.Equal(intent.OutgoingTemp, delivery.PendingDelivery?.OutgoingTemp);
            Assert.Equal(1, (await journal.Ask<Entry>(new Lookup(afterwards), Answer)).Attempts);
        });
    }

    [Fact]
    public async Task Should_name_the_messages_an_earlier_run_was_scanning_when_it_died()
    {
        var settings = JournalSettings.For(_state.Path);
        var scanning = new FileIdentity(0x801, 11, 1);
        var delivering = new FileIdentity(0x801, 12, 1);
        var finished = new FileIdentity(0x801, 13, 1);
        var intent = new DeliveryIntent(VerdictKind.Clean, [], MessageAction.Deliver, new StagedName("/queue/out/tf-801-12-1", "77", "801-77-1"), null);

        await WithJournal(settings, async journal =>
        {
            await journal.Ask<AttemptBegun>(new BeginAttempt(scanning, "11"), Answer);
            await journal.Ask<AttemptBegun>(new BeginAttempt(delivering, "12"), Answer);
            await journal.Ask<DeliveryRecorded>(new RecordDelivery(delivering, intent), Answer);
            await journal.Ask<AttemptBegun>(new BeginAttempt(finished, "13"), Answer);
            journal.Tell(new Finished(finished));
            // Finished is told, not asked: it is applied once written.
            await Eventually.Holds(async () => (await journal.Ask<Entry>(new Lookup(finished), Answer)).Attempts == 0, Answer,
                "the finished message to be forgotten");
            // Its own attempts are not interrupted ones: this run is still at them.
            Assert.Empty((await journal.Ask<Interrupted>(GetInterrupted.Instance, Answer)).AttemptsByKey);
        });

        await WithJournal(settings, async journal =>
        {
            // Only the scan: a recorded delivery is completed without scanning, and a finished message is forgotten.
            var interrupted = await journal.Ask<Interrupted>(GetInterrupted.Instance, Answer);
            Assert.Equal(new Dictionary<string, int> { [scanning.Key] = 1 }, interrupted.AttemptsByKey);
            await journal.Ask<AttemptBegun>(new BeginAttempt(scanning, "11"), Answer);
            Assert.Empty((await journal.Ask<Interrupted>(GetInterrupted.Instance, Answer)).AttemptsByKey);
        });
    }

    [Fact]
    public async Task Should_give_the_database_one_thing_at_a_time_while_writing_snapshotting_and_pruning()
    {
        // SQLite has one writer, and Microsoft.Data.Sqlite retries a busy database only after 150 ms: a write that
        // collides with the pruning stalls every message waiting on the journal.
        OneAtATimePlugins.Reset();
        var settings = JournalSettings.For(_state.Path, snapshotEvery: 10) with
        {
            JournalPluginId = OneAtATimePlugins.JournalPluginId,
            SnapshotPluginId = OneAtATimePlugins.SnapshotPluginId,
        };
        await WithJournal(settings, async journal =>
        {
            // Many senders at once, as MessageActors are: requests arrive while snapshots and deletions are on their way.
            await Task.WhenAll(Enumerable.Range(0, 20).Select(async sender =>
            {
                for (var i = sender; i < 400; i += 20)
                {
                    var message = new FileIdentity(0x801, (ulong)i, 9);
                    await journal.Ask<AttemptBegun>(new BeginAttempt(message, i.ToString()), Answer);
                    journal.Tell(new Finished(message));
                }
            }));
        }, OneAtATimePlugins.Hocon);

        var (mostAtOnce, writes, snapshots, deletions) = OneAtATimePlugins.Observed;
        Assert.True(writes > 10 && snapshots > 2 && deletions > 2, $"too little happened to tell: {writes} writes, {snapshots} snapshots, {deletions} deletions");
        Assert.Equal(1, mostAtOnce);
    }

    [Fact]
    public async Task Should_write_a_lone_request_at_once_however_long_the_write_linger()
    {
        // A quiet queue: each write carries one request, so none waits for company.
        var settings = JournalSettings.For(_state.Path) with { WriteLinger = TimeSpan.FromSeconds(60) };
        await WithJournal(settings, async journal =>
        {
            for (var i = 0; i < 10; i++)
                await journal.Ask<AttemptBegun>(new BeginAttempt(new FileIdentity(0x801, (ulong)i, 3), i.ToString()), Answer);
        });
    }

    [Fact]
    public async Task Should_let_the_requests_that_arrive_while_a_write_lingers_share_that_write()
    {
        await WithJournalUnderLoad(TimeSpan.FromSeconds(2), async journal =>
        {
            await Task.WhenAll(Enumerable.Range(0, 3).Select(i =>
                journal.Ask<AttemptBegun>(new BeginAttempt(new FileIdentity(0x801, (ulong)i, 3), i.ToString()), Answer)));
            Assert.Equal(3, OneAtATimePlugins.Observed.Writes);
        });
    }

    [Fact]
    public async Task Should_stop_lingering_once_enough_requests_have_gathered()
    {
        await WithJournalUnderLoad(TimeSpan.FromSeconds(60), async journal =>
        {
            // Exactly one write's worth: the last of them ends the linger, however slowly they arrive, and all are answered
            // long before the 60 s would end. (More would leave a tail that lingers anew once the first write is done.)
            await Task.WhenAll(Enumerable.Range(0, MessageJournal.LingerEnoughRequests).Select(i =>
                journal.Ask<AttemptBegun>(new BeginAttempt(new FileIdentity(0x801, (ulong)i, 3), i.ToString()), Answer)));
        });
    }

    /// <summary>
    /// Runs <paramref name="body"/> against a journal with the given write linger, on plugins that count its writes,
    /// once it is under load: its last write carried more than one record (the writes counted so far: 2).
    /// </summary>
    private async Task WithJournalUnderLoad(TimeSpan linger, Func<IActorRef, Task> body)
    {
        OneAtATimePlugins.Reset();
        var settings = JournalSettings.For(_state.Path) with
        {
            WriteLinger = linger,
            JournalPluginId = OneAtATimePlugins.JournalPluginId,
            SnapshotPluginId = OneAtATimePlugins.SnapshotPluginId,
        };
        await WithJournal(settings, async journal =>
        {
            // Three records told at once: the first goes alone, the other two arrive while it is written and share the next.
            for (var i = 0; i < 3; i++) journal.Tell(new Finished(new FileIdentity(0x801, (ulong)(100 + i), 3)));
            await Eventually.Holds(() => OneAtATimePlugins.Observed.Writes == 2, Answer, "the told records to be written in two writes");
            await body(journal);
        }, OneAtATimePlugins.Hocon);
    }

    /// <summary>Runs <paramref name="body"/> against a journal in a fresh hosted actor system, then ends that system abruptly.</summary>
    internal static Task WithJournal(JournalSettings settings, Func<IActorRef, Task> body, string extraHocon = "") =>
        WithJournal(settings, (journal, _) => body(journal), extraHocon);

    /// <summary>As <see cref="WithJournal(JournalSettings, Func{IActorRef, Task}, string)"/>, with the actor system the journal runs in.</summary>
    internal static async Task WithJournal(JournalSettings settings, Func<IActorRef, ActorSystem, Task> body, string extraHocon = "")
    {
        using var host = new HostBuilder()
            .ConfigureServices(services => services.AddAkka("journal-" + Guid.NewGuid().ToString("N")[..8], (builder, _) =>
            {
                builder.AddHocon("akka.loglevel = WARNING\nakka.coordinated-shutdown.run-by-clr-shutdown-hook = off\n" +
                                 "akka.coordinated-shutdown.run-by-actor-system-terminate = off\n" + extraHocon, HoconAddMode.Prepend);
                builder.AddMessageJournal(settings);
            }))
            .Build();
        await host.StartAsync();
        try
        {
            await body(host.Services.GetRequiredService<ActorRegistry>().Get<MessageJournal>(), host.Services.GetRequiredService<ActorSystem>());
        }
        finally
        {
            // As a crashed process: the actor system just ends, no stop phases run.
            await host.Services.GetRequiredService<ActorSystem>().Terminate();
            await host.StopAsync();
            // As when the process ends: no pooled connection outlives it (one still open on a deleted file would
            // otherwise let the next journal read what is gone).
            SqliteConnection.ClearAllPools();
        }
    }

    private static long Scalar(string database, string query) => JournalDatabase.Scalar(database, query);
}
