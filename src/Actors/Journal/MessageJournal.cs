using Akka.Actor;
using Akka.Event;
using Akka.Persistence;
using MailScanner.Actors.Identity;
using MailScanner.Actors.Metrics;
using static MailScanner.Actors.Journal.MessageJournalEvents;
using static MailScanner.Actors.Journal.MessageJournalProtocol;

namespace MailScanner.Actors.Journal;

/// <summary>
/// The durable memory of what was already done to each message: how many processing attempts it has had (a crash
/// counts, because the attempt was recorded before it started) and which delivery was recorded before its first
/// rename. MessageActors record their transitions here; a MessageActor that starts again for the same identity —
/// after an exception, a crash or a restart of the whole gateway — resumes from what is recorded.
/// </summary>
/// <remarks>
/// One persistent actor per gateway rather than one per message: every MessageActor's transitions then share the
/// journal's writes (one at a time, each carrying everything that arrived while the previous one was on its way), and a
/// restart replays one small stream instead of a query per message. The state is only the messages in progress, so it stays small: it is snapshotted every
/// <see cref="JournalSettings.SnapshotEvery"/> events and everything before the snapshot is deleted.
/// <para>
/// Only one thing touches the database at a time — a write, a snapshot or a deletion — because SQLite has one writer:
/// a write that finds the database busy is retried by Microsoft.Data.Sqlite only after sleeping 150 ms, and measured
/// here, writes colliding with the pruning made the journal three to seven times slower.
/// </para>
/// </remarks>
public sealed class MessageJournal : UntypedPersistentActor, IWithTimers
{
    /// <summary>How often an idle journal checks that its database file is still the one it writes to.</summary>
    private static readonly TimeSpan DatabaseCheckInterval = TimeSpan.FromSeconds(2);

    /// <summary>A message that was handed back and never seen again (the MTA or an operator removed it) is forgotten after this.</summary>
    private static readonly TimeSpan ForgetUntouchedAfter = TimeSpan.FromDays(7);

    private readonly JournalSettings _settings;
    private readonly PipelineCounters? _counters;
    /// <summary>When this incarnation started (<see cref="System.Diagnostics.Stopwatch.GetTimestamp"/>): its recovery time.</summary>
    private readonly long _startedAt = System.Diagnostics.Stopwatch.GetTimestamp();
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Dictionary<string, Remembered> _messages = new();
    private int _eventsSinceSnapshot;
    /// <summary>A snapshot is queued or on its way: the next one waits until it is done.</summary>
    private bool _snapshotting;
    /// <summary>Requests that arrived while the database was busy; they go together in the next write.</summary>
    private readonly List<Pending> _waiting = new();
    /// <summary>The requests of the write on its way to the database, answered when it is durable (or refused when it fails).</summary>
    private List<Pending> _writing = new();
    /// <summary>Snapshots and deletions waiting for the database; they take turns with the writes.</summary>
    private readonly Queue<Action> _housekeeping = new();
    /// <summary>What the database is doing for the journal now: one thing at a time.</summary>
    private DatabaseWork _busy = DatabaseWork.None;
    private int _writesSinceHousekeeping;
    /// <summary>The database file as recovered from: see <see cref="DatabaseRecreated"/>.</summary>
    private FileIdentity? _database;
    /// <summary>How many requests the last write carried: more than one means others are busy alongside (see <see cref="Linger"/>).</summary>
    private int _lastWriteCarried;
    /// <summary>The next write waits for <see cref="JournalSettings.WriteLinger"/> to pass (<see cref="LingerOver"/>).</summary>
    private bool _lingering;
    /// <summary>The next write has waited its moment: it goes as soon as the database is free.</summary>
    private bool _lingered;

    public ITimerScheduler Timers { get; set; } = null!;

    public MessageJournal(JournalSettings settings, PipelineCounters? counters = null)
    {
        _settings = settings;
        _counters = counters;
        JournalPluginId = settings.JournalPluginId;
        SnapshotPluginId = settings.SnapshotPluginId;
        // Here, not in PreStart: recovery is asked for before PreStart runs.
        JournalConfig.RestoreKnownSchema(settings);
    }

    public static Props PropsFor(JournalSettings settings, PipelineCounters? counters = null) => Props.Create(() => new MessageJournal(settings, counters));

    public override string PersistenceId => _settings.PersistenceId;

    protected override void OnRecover(object message)
    {
        switch (message)
        {
            case SnapshotOffer { Snapshot: MessageJournalSnapshot snapshot }:
                _messages.Clear();
                foreach (var m in snapshot.Messages)
                    _messages[m.Key] = new Remembered(m.QueueId, m.Attempts, m.LastAttemptUtc, m.PendingDelivery, BegunThisRun: false);
                break;
            case Batch batch:
                Apply(batch, thisRun: false);
                _eventsSinceSnapshot += batch.Count;
                break;
            case RecoveryCompleted:
                _counters?.JournalRecovered(System.Diagnostics.Stopwatch.GetElapsedTime(_startedAt));
                if (_settings.Provider == JournalProvider.Sqlite)
                {
                    // A file can be deleted under us; a PostgreSQL database is the server's to keep.
                    _database = NativeFile.TryGetIdentity(_settings.DatabasePath);
                    JournalConfig.RememberSchema(_settings);
                    Timers.StartPeriodicTimer("database-check", CheckDatabase.Instance, DatabaseCheckInterval);
                }
                _log.Info("Message journal recovered: {Count} message(s) in progress or handed back, sequence number {SequenceNr}",
                    _messages.Count, LastSequenceNr);
                break;
        }
    }

    protected override void OnCommand(object message)
    {
        switch (message)
        {
            case BeginAttempt or RecordDelivery or MessageJournalProtocol.AttemptAbandoned or Finished:
                _waiting.Add(new Pending(message, Sender, null));
                Proceed();
                break;
            case JournalRelayProtocol.RelayedRequests relayed:
                // All of a node's batch goes into one write (Write takes everything waiting), so it is answered at once.
                foreach (var begin in relayed.Begins) _waiting.Add(new Pending(new BeginAttempt(begin.Identity, begin.QueueId), Sender, new RelayTag(relayed.Batch, begin.Ask)));
                foreach (var record in relayed.Records) _waiting.Add(new Pending(new RecordDelivery(record.Identity, record.Intent), Sender, new RelayTag(relayed.Batch, record.Ask)));
                foreach (var identity in relayed.Abandoned) _waiting.Add(new Pending(new MessageJournalProtocol.AttemptAbandoned(identity), Sender, new RelayTag(relayed.Batch, 0)));
                foreach (var identity in relayed.Finished) _waiting.Add(new Pending(new Finished(identity), Sender, new RelayTag(relayed.Batch, 0)));
                Proceed();
                break;
            case Lookup lookup:
                Sender.Tell(_messages.TryGetValue(lookup.Identity.Key, out var entry)
                    ? new Entry(lookup.Identity, entry.Attempts, entry.PendingDelivery)
                    : new Entry(lookup.Identity, 0, null));
                break;
            case CheckDatabase:
                Proceed();
                break;
            case LingerOver:
                _lingering = false;
                _lingered = true;
                Proceed();
                break;
            case GetInterrupted:
                Sender.Tell(new Interrupted(_messages
                    .Where(m => m.Value is { Attempts: > 0, PendingDelivery: null, BegunThisRun: false })
                    .ToDictionary(m => m.Key, m => m.Value.Attempts)));
                break;
            case GetSize:
                Sender.Tell(new Size(_messages.Count, LastSequenceNr));
                break;
            case SaveSnapshotSuccess saved:
                _snapshotting = false;
                // Everything up to the snapshot is in it: the rows behind it are no longer needed.
                _housekeeping.Enqueue(() => DeleteMessages(saved.Metadata.SequenceNr));
                _housekeeping.Enqueue(() => DeleteSnapshots(new SnapshotSelectionCriteria(saved.Metadata.SequenceNr - 1)));
                HousekeepingDone();
                break;
            case SaveSnapshotFailure failed:
                _snapshotting = false;
                _log.Warning("Message journal snapshot failed, the journal keeps its rows until the next one: {Reason}", failed.Cause.Message);
                HousekeepingDone();
                break;
            case DeleteMessagesFailure failed:
                _log.Warning("Message journal could not prune rows up to {SequenceNr}: {Reason}", failed.ToSequenceNr, failed.Cause.Message);
                HousekeepingDone();
                break;
            case DeleteMessagesSuccess or DeleteSnapshotsSuccess or DeleteSnapshotsFailure:
                HousekeepingDone();
                break;
            default:
                Unhandled(message);
                break;
        }
    }

    /// <summary>
    /// Gives the database its next piece of work when it has none: the waiting requests as one write, or the next
    /// snapshot or deletion. The two take turns, so pruning never holds the writes back by more than one step.
    /// </summary>
    private void Proceed()
    {
        if (_busy != DatabaseWork.None) return;
        var housekeepingNext = _housekeeping.Count > 0 && (_waiting.Count == 0 || _writesSinceHousekeeping > 0);
        // Before the file check, which opens the database file: a lingering write is not asked for yet.
        if (!housekeepingNext && _waiting.Count > 0 && Linger()) return;
        if (DatabaseRecreated())
        {
            // Everything remembered goes into the new file before any write that builds on it.
            _snapshotting = true;
            StartHousekeeping(SaveSnapshotOfMemory);
        }
        else if (housekeepingNext)
        {
            StartHousekeeping(_housekeeping.Dequeue());
        }
        else if (_waiting.Count > 0)
        {
            Write();
        }
    }

    /// <summary>
    /// Under load, lets the next write wait a moment so that more requests share it, as PostgreSQL's commit_delay does:
    /// every write costs about the same whatever it carries (measured here: 0.2–0.3 ms of CPU in Akka.Persistence.Sql and
    /// linq2db, with 11 requests a write on average at 2,000 messages/s), and the journal's writes were a tenth of the
    /// gateway's CPU. Only when the last write carried more than one request: a lone message on a quiet queue is written
    /// at once. A write that has gathered <see cref="LingerEnoughRequests"/> goes at once too.
    /// </summary>
    /// <returns>True while the write waits.</returns>
    private bool Linger()
    {
        if (_lingering) return _waiting.Count < LingerEnoughRequests;
        if (_lingered || _settings.WriteLinger <= TimeSpan.Zero || _lastWriteCarried <= 1 || _waiting.Count >= LingerEnoughRequests) return false;
        _lingering = true;
        // A .NET timer, not Akka's scheduler: that one ticks every 10 ms.
        Task.Delay(_settings.WriteLinger).PipeTo(Self, success: () => LingerOver.Instance, failure: _ => LingerOver.Instance);
        return true;
    }

    internal const int LingerEnoughRequests = 256;

    private void StartHousekeeping(Action step)
    {
        _busy = DatabaseWork.Housekeeping;
        _writesSinceHousekeeping = 0;
        step();
    }

    private void HousekeepingDone()
    {
        if (_busy == DatabaseWork.Housekeeping) _busy = DatabaseWork.None;
        Proceed();
    }

    /// <summary>
    /// Group commit: one write carrying every request that arrived while the database was busy. Each request is
    /// answered only once the write that holds it is durable.
    /// </summary>
    private void Write()
    {
        var requests = _waiting.ToList();
        _waiting.Clear();
        _lingering = false;
        _lingered = false;
        _lastWriteCarried = requests.Count;
        _writing = requests;
        var now = DateTime.UtcNow;
        var batch = new Batch(
            requests.Select(r => r.Request).OfType<BeginAttempt>().Select(b => new AttemptStarted(b.Identity.Key, b.QueueId, now)).ToList(),
            requests.Select(r => r.Request).OfType<MessageJournalProtocol.AttemptAbandoned>().Select(a => a.Identity.Key).ToList(),
            requests.Select(r => r.Request).OfType<RecordDelivery>().Select(d => new DeliveryStarted(d.Identity.Key, d.Intent)).ToList(),
            requests.Select(r => r.Request).OfType<Finished>().Select(f => f.Identity.Key).ToList());
        _busy = DatabaseWork.Writing;
        _writesSinceHousekeeping++;
        var writeStartedAt = System.Diagnostics.Stopwatch.GetTimestamp();
        PersistAsync(batch, written =>
        {
            _counters?.JournalWritten(writeStartedAt);
            Apply(written, thisRun: true);
            Answer(requests, request => request switch
            {
                BeginAttempt begin => BegunFor(begin),
                RecordDelivery record => new DeliveryRecorded(record.Identity),
                _ => null,
            });
            _writing = new();
            _busy = DatabaseWork.None;
            Recorded(written.Count);
            Proceed();
        });
    }

    /// <param name="thisRun">False while recovering: what was begun then was begun by an earlier run of the gateway.</param>
    private void Apply(Batch batch, bool thisRun)
    {
        foreach (var started in batch.Attempts)
        {
            var previous = _messages.GetValueOrDefault(started.Key);
            _messages[started.Key] = new Remembered(started.QueueId, (previous?.Attempts ?? 0) + 1, started.TimeUtc, previous?.PendingDelivery, thisRun);
        }
        foreach (var key in batch.Abandoned)
        {
            if (_messages.TryGetValue(key, out var entry)) _messages[key] = entry with { Attempts = Math.Max(0, entry.Attempts - 1) };
        }
        foreach (var delivery in batch.Deliveries)
        {
            _messages[delivery.Key] = _messages.GetValueOrDefault(delivery.Key) is { } previous
                ? previous with { PendingDelivery = delivery.Intent }
                : new Remembered("", 1, DateTime.UtcNow, delivery.Intent, thisRun);
        }
        foreach (var key in batch.Finished) _messages.Remove(key);
    }

    /// <summary>
    /// A database file deleted (or replaced) under the running journal would take every later write with it: the
    /// pooled connections go on writing to the unlinked file, and the next start would find nothing. So the file is
    /// checked before every write and every few seconds; when it is not the one recovered from, it is made again with
    /// the plugin's own schema, and the caller writes everything the journal remembers into it at once, as a snapshot.
    /// </summary>
    private bool DatabaseRecreated()
    {
        if (_database is null || NativeFile.TryGetIdentity(_settings.DatabasePath) == _database) return false;
        _log.Error("Message journal database {Path} was deleted or replaced while the gateway runs; making it again and writing the {Count} message(s) the journal remembers into it",
            _settings.DatabasePath, _messages.Count);
        JournalConfig.Recreate(_settings);
        _database = NativeFile.TryGetIdentity(_settings.DatabasePath);
        return true;
    }

    private void Recorded(int events)
    {
        _eventsSinceSnapshot += events;
        if (_eventsSinceSnapshot < _settings.SnapshotEvery || _snapshotting) return;
        _snapshotting = true;
        _housekeeping.Enqueue(SaveSnapshotOfMemory);
    }

    /// <summary>Runs with nothing else on its way to the database, so the memory is exactly what the journal holds up to <see cref="Eventsourced.LastSequenceNr"/>.</summary>
    private void SaveSnapshotOfMemory()
    {
        var forgetBefore = DateTime.UtcNow - ForgetUntouchedAfter;
        foreach (var (key, stale) in _messages.Where(m => m.Value.LastAttemptUtc < forgetBefore && m.Value.PendingDelivery is null).ToList())
        {
            _log.Info("Message journal forgets {Key} (queue id {QueueId}): untouched since {Time:u}", key, stale.QueueId, stale.LastAttemptUtc);
            _messages.Remove(key);
        }
        _eventsSinceSnapshot = 0;
        SaveSnapshot(new MessageJournalSnapshot(_messages
            .Select(m => new MessageJournalSnapshot.Message(m.Key, m.Value.QueueId, m.Value.Attempts, m.Value.LastAttemptUtc, m.Value.PendingDelivery))
            .ToList()));
    }

    protected override void OnPersistFailure(Exception cause, object @event, long sequenceNr)
    {
        // The journal actor stops after this and its BackoffSupervisor starts it again. Everyone waiting is told now, so
        // that their messages go back to the queue at once. Whether the failed write reached the database is unknown:
        // the next incarnation recovers from the database, so a delivery recorded after all is found there and
        // completed (its staged copies stay where they are when a message is handed back), never written twice.
        var refused = _writing.Concat(_waiting).ToList();
        Answer(refused, Refusal($"the message journal could not write: {cause.GetBaseException().Message}"));
        _writing = new();
        _waiting.Clear();
        _log.Error("Message journal ({Database}) could not write: {Reason}; {Refused} waiting request(s) refused (their messages go back to the queue), restarting it with back-off",
            _settings.Location, cause.GetBaseException().Message, refused.Count(r => r.Request is BeginAttempt or RecordDelivery));
        // Not base.OnPersistFailure: it only logs the same failure again, with the whole stack trace, on every failed
        // write of an outage; the line above is the operator's. The actor is stopped after this either way.
    }

    protected override void OnPersistRejected(Exception cause, object @event, long sequenceNr)
    {
        // The database refused this write (nothing of it was written) but the journal goes on; its requests are refused,
        // so their messages are handed back and retried.
        _log.Error("Message journal write rejected ({Event}): {Reason}; its messages will be retried", @event.GetType().Name, cause.GetBaseException().Message);
        Answer(_writing, Refusal($"the message journal's database rejected the write: {cause.GetBaseException().Message}"));
        _writing = new();
        _busy = DatabaseWork.None;
        // Not base.OnPersistRejected: it only logs the rejection again, with its stack trace.
        Proceed();
    }

    protected override void OnRecoveryFailure(Exception reason, object? message = null)
    {
        _log.Error("Message journal could not be read from {Database}: {Reason}; messages wait or go back to the queue until it can, retrying with back-off",
            _settings.Location, reason.GetBaseException().Message);
        // base.OnRecoveryFailure only logs the failure again, with its stack trace: worth it for an exception in our own
        // replay (a bug), noise at every retry of a database outage.
        if (message is not null) base.OnRecoveryFailure(reason, message);
    }

    private AttemptBegun BegunFor(BeginAttempt begin)
    {
        var remembered = _messages.GetValueOrDefault(begin.Identity.Key);
        return new AttemptBegun(begin.Identity, remembered?.Attempts ?? 1, remembered?.PendingDelivery);
    }

    private static Func<object, object?> Refusal(string reason) =>
        request => request is BeginAttempt or RecordDelivery ? new Unavailable(reason) : null;

    /// <summary>
    /// Tells each asker its answer (none for the told requests): directly, or, for the requests a node's
    /// <see cref="JournalRelay"/> sent, gathered into one <see cref="JournalRelayProtocol.RelayedAnswers"/> per batch,
    /// which is sent even when it holds no answer, because the relay waits for it before it sends its next batch.
    /// </summary>
    private static void Answer(IEnumerable<Pending> requests, Func<object, object?> answerFor)
    {
        Dictionary<(IActorRef Relay, long Batch), (List<RelayedAttemptBegun> Begun, List<RelayedDeliveryRecorded> Recorded, List<RelayedRefusal> Refused)>? relayed = null;
        foreach (var (request, replyTo, tag) in requests)
        {
            var answer = answerFor(request);
            if (tag is not { } relay)
            {
                if (answer is not null) replyTo.Tell(answer);
                continue;
            }
            relayed ??= new();
            if (!relayed.TryGetValue((replyTo, relay.Batch), out var answers))
                relayed[(replyTo, relay.Batch)] = answers = (new(), new(), new());
            switch (answer)
            {
                case AttemptBegun begun: answers.Begun.Add(new RelayedAttemptBegun(relay.Ask, begun)); break;
                case DeliveryRecorded recorded: answers.Recorded.Add(new RelayedDeliveryRecorded(relay.Ask, recorded.Identity)); break;
                case Unavailable refused: answers.Refused.Add(new RelayedRefusal(relay.Ask, refused.Reason)); break;
            }
        }
        foreach (var ((relayRef, batch), answers) in relayed ?? new())
            relayRef.Tell(new JournalRelayProtocol.RelayedAnswers(batch, answers.Begun, answers.Recorded, answers.Refused));
    }

    /// <summary>A request waiting for the database, who to answer, and, when a node's relay sent it, its batch and ask.</summary>
    private readonly record struct Pending(object Request, IActorRef ReplyTo, RelayTag? Relay);

    private readonly record struct RelayTag(long Batch, long Ask);

    private sealed record CheckDatabase
    {
        public static readonly CheckDatabase Instance = new();
    }

    private sealed record LingerOver
    {
        public static readonly LingerOver Instance = new();
    }

    private enum DatabaseWork
    {
        None,
        Writing,
        Housekeeping,
    }

    /// <param name="BegunThisRun">Its latest attempt was begun by this run of the gateway, not one that ended before it.</param>
    private sealed record Remembered(string QueueId, int Attempts, DateTime LastAttemptUtc, DeliveryIntent? PendingDelivery, bool BegunThisRun);
}
