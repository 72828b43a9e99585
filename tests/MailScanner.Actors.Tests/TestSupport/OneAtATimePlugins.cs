using System.Collections.Immutable;
using Akka.Persistence;
using Akka.Persistence.Journal;
using Akka.Persistence.Snapshot;

namespace MailScanner.Actors.Tests.TestSupport;

/// <summary>
/// In-memory journal and snapshot-store plugins that count how many operations are on their way to "the database" at
/// once. Each operation takes a few milliseconds, as a real commit does, so two that were allowed to overlap would.
/// </summary>
public static class OneAtATimePlugins
{
    public const string JournalPluginId = "akka.persistence.journal.one-at-a-time";
    public const string SnapshotPluginId = "akka.persistence.snapshot-store.one-at-a-time";

    public static readonly string Hocon = $$"""
        {{JournalPluginId}}.class = "{{typeof(Journal).AssemblyQualifiedName}}"
        {{SnapshotPluginId}}.class = "{{typeof(SnapshotStore).AssemblyQualifiedName}}"
        """;

    private static readonly TimeSpan OperationTime = TimeSpan.FromMilliseconds(3);
    private static int _inFlight;
    private static int _mostAtOnce;
    private static readonly int[] Counts = new int[3];
    private const int Writes = 0, Snapshots = 1, Deletions = 2;

    public static (int MostAtOnce, int Writes, int Snapshots, int Deletions) Observed =>
        (Volatile.Read(ref _mostAtOnce), Volatile.Read(ref Counts[Writes]), Volatile.Read(ref Counts[Snapshots]), Volatile.Read(ref Counts[Deletions]));

    public static void Reset()
    {
        _inFlight = _mostAtOnce = 0;
        Array.Clear(Counts);
    }

    private static async Task<T> Operation<T>(int kind, Func<Task<T>> body)
    {
        Interlocked.Increment(ref Counts[kind]);
        var now = Interlocked.Increment(ref _inFlight);
        int most;
        while (now > (most = Volatile.Read(ref _mostAtOnce)) && Interlocked.CompareExchange(ref _mostAtOnce, now, most) != most) { }
        try
        {
            await Task.Delay(OperationTime);
            return await body();
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }

    public sealed class Journal : MemoryJournal
    {
        protected override Task<IImmutableList<Exception?>> WriteMessagesAsync(IEnumerable<AtomicWrite> messages, CancellationToken cancellationToken) =>
            Operation(Writes, () => base.WriteMessagesAsync(messages, cancellationToken));

        protected override Task DeleteMessagesToAsync(string persistenceId, long toSequenceNr, CancellationToken cancellationToken) =>
            Operation(Deletions, async () =>
            {
                await base.DeleteMessagesToAsync(persistenceId, toSequenceNr, cancellationToken);
                return true;
            });
    }

    public sealed class SnapshotStore : MemorySnapshotStore
    {
        protected override Task SaveAsync(SnapshotMetadata metadata, object snapshot, CancellationToken cancellationToken = default) =>
            Operation(Snapshots, async () =>
            {
                await base.SaveAsync(metadata, snapshot, cancellationToken);
                return true;
            });

        protected override Task DeleteAsync(string persistenceId, SnapshotSelectionCriteria criteria, CancellationToken cancellationToken = default) =>
            Operation(Deletions, async () =>
            {
                await base.DeleteAsync(persistenceId, criteria, cancellationToken);
                return true;
            });
    }
}
