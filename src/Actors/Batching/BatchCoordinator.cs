using Akka.Actor;
using Akka.Event;
using MailScanner.Actors.Configuration;
using MailScanner.Actors.Identity;
using MailScanner.Actors.Metrics;
using static MailScanner.Actors.Messages.MessageCommands;
using static MailScanner.Actors.Messages.MessageReplies;

namespace MailScanner.Actors.Batching;

/// <summary>Messages between the QueueWatcher and a BatchCoordinator.</summary>
public static class BatchCoordinatorProtocol
{
    /// <summary>A claimed message, ready to be batched.</summary>
    public sealed record Enqueue(FileIdentity Identity, string QueueId, long Size);

    /// <summary>
    /// Several claimed messages at once: what the watcher assigned to this coordinator while working through its mailbox,
    /// sent together so that a cluster pays one remote message for them rather than one each. With
    /// <paramref name="Flush"/>, nothing more is coming right now (as <see cref="BatchCoordinatorProtocol.Flush"/>).
    /// </summary>
    public sealed record EnqueueMany(IReadOnlyList<Enqueue> Messages, bool Flush);

    /// <summary>Nothing more is coming right now: do not wait for the batch to fill.</summary>
    public sealed record Flush
    {
        public static readonly Flush Instance = new();
    }

    /// <summary>
    /// To the watcher: these messages are out of the pipeline; their slots are free. <paramref name="HandedBack"/>
    /// are those a stage could not complete (a scanner down, a write failed): they are back in the incoming
    /// queue and are to be admitted again only after a back-off.
    /// </summary>
    /// <remarks>
    /// <paramref name="Watcher"/> is the incarnation of the watcher the batch was driven for (clustered coordinators,
    /// see <see cref="Registered"/>); a watcher ignores a batch driven for another one, whose messages it has re-admitted
    /// itself. Null from a watcher's own children, which live and die with it.
    /// </remarks>
    public sealed record BatchFinished(IReadOnlyList<FileIdentity> Messages, IReadOnlyList<FileIdentity> HandedBack, Guid? Watcher = null);

    /// <summary>To the watcher: this coordinator restarted after an exception and lost its batches; send them again.</summary>
    public sealed record CoordinatorRestarted
    {
        public static readonly CoordinatorRestarted Instance = new();
    }

    /// <summary>
    /// Clustered, from a node's own coordinator to the watcher (through the singleton proxy), at its start and then
    /// periodically: hand me the messages whose MessageActors live on my node. The watcher answers <see cref="Registered"/>
    /// every time and DeathWatches the coordinator.
    /// </summary>
    public sealed record Register
    {
        public static readonly Register Instance = new();
    }

    /// <summary>
    /// The watcher's answer to <see cref="Register"/>, sent before any <see cref="Enqueue"/> to that coordinator.
    /// <paramref name="Watcher"/> changes when the watcher restarts in place or starts on another node: the coordinator
    /// then drops the batches it drove for the earlier one (that one's successor re-admits every claim).
    /// </summary>
    public sealed record Registered(Guid Watcher);
}

/// <summary>
/// Forms batches (by count, bytes and maximum wait) and drives each through Scan → Clean → Deliver → Delete
/// by identity, like a MailScanner child. It never touches a file. Like MailScanner it asks for deletion more
/// than once — after delivery and again in a final sweep — and the MessageActors absorb the repeats.
/// </summary>
/// <remarks>
/// On one node the watcher starts its coordinators as its children. Clustered, every node with the <c>scan</c> role
/// starts its own and they register with the watcher singleton (<see cref="BatchCoordinatorProtocol.Register"/>), which
/// hands each of them the messages whose MessageActors live on its node: the commands then go through the node's own
/// shard region to a local entity, and never cross the network. Such a coordinator serves one watcher incarnation at a
/// time and drops its batches when that one ends (see <see cref="ServeWatcher"/>).
/// </remarks>
public sealed class BatchCoordinator : ReceiveActor, IWithTimers
{
    private static readonly TimeSpan StageTimeout = TimeSpan.FromSeconds(30);

    private readonly BatchSettings _settings;
    private readonly IActorRef _messages;
    private readonly IActorRef _watcher;
    private readonly PipelineCounters _counters;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    /// <summary>Clustered: this coordinator registers with the watcher (<see cref="_watcher"/> is then the singleton's proxy).</summary>
    private readonly bool _registers;
    /// <summary>Clustered: the watcher this coordinator serves, and its incarnation; none until it answers <see cref="BatchCoordinatorProtocol.Register"/>.</summary>
    private IActorRef? _served;
    private Guid? _servedIncarnation;
    public static readonly TimeSpan RegisterInterval = TimeSpan.FromSeconds(2);

    private readonly List<BatchCoordinatorProtocol.Enqueue> _forming = new();
    private long _formingBytes;

    private Batch? _batch;

    public ITimerScheduler Timers { get; set; } = null!;

    public BatchCoordinator(BatchSettings settings, IActorRef messages, IActorRef watcher, PipelineCounters counters, bool registers = false)
    {
        _settings = settings;
        _registers = registers;
        _messages = messages;
        _watcher = watcher;
        _counters = counters;

        Receive<BatchCoordinatorProtocol.Enqueue>(enqueue =>
        {
            if (FromServedWatcher) Collect(enqueue);
        });
        Receive<BatchCoordinatorProtocol.EnqueueMany>(many =>
        {
            if (!FromServedWatcher) return;
            foreach (var enqueue in many.Messages) Collect(enqueue);
            if (many.Flush) StartBatchIfIdle();
        });
        Receive<BatchCoordinatorProtocol.Registered>(registered => ServeWatcher(Sender, registered.Watcher));
        Receive<RegisterNow>(_ => _watcher.Tell(BatchCoordinatorProtocol.Register.Instance));
        Receive<Terminated>(terminated =>
        {
            if (!terminated.ActorRef.Equals(_served)) return;
            _log.Warning("The queue watcher {Watcher} this coordinator served is gone; its batches are dropped (its successor takes their messages up)", _served.Path);
            DropBatches();
            (_served, _servedIncarnation) = (null, null);
        });
        Receive<BatchCoordinatorProtocol.Flush>(_ => StartBatchIfIdle());
        Receive<MaxWaitElapsed>(_ => StartBatchIfIdle());
        Receive<NextStage>(next => { if (_batch is not null && _batch.Id == next.BatchId) RunStage(); });
        Receive<StageTimedOut>(timedOut => ResendPending(timedOut.BatchId));

        Receive<Scanned>(reply => Answered(reply.Identity, Stage.Scan));
        Receive<Cleaned>(reply => Answered(reply.Identity, Stage.Clean));
        Receive<Delivered>(reply => Answered(reply.Identity, Stage.Deliver));
        Receive<Deleted>(reply => Answered(reply.Identity, Stage.Delete));
        Receive<Absorbed>(reply => Answered(reply.Identity, _batch?.Stage ?? Stage.Delete, m => m.Dropped |= reply.Command != nameof(Delete)));
        Receive<Failed>(reply => Answered(reply.Identity, _batch?.Stage ?? Stage.Delete, m => m.Dropped = m.HandedBack = true));
        Receive<NotReady>(reply => _log.Warning("Message {Identity} was not ready for {Command}: {Why}", reply.Identity, reply.Command, reply.Why));
    }

    /// <param name="registers">Clustered: <paramref name="watcher"/> is the watcher singleton's proxy, and this coordinator registers with it.</param>
    public static Props PropsFor(BatchSettings settings, IActorRef messages, IActorRef watcher, PipelineCounters counters, bool registers = false) =>
        Props.Create(() => new BatchCoordinator(settings, messages, watcher, counters, registers));

    /// <summary>Clustered: registers now and again every <see cref="RegisterInterval"/>, so that a watcher that restarted or moved learns of it.</summary>
    protected override void PreStart()
    {
        if (!_registers) return;
        // At once, not by the timer: after a restart this must reach the watcher before CoordinatorRestarted (PostRestart),
        // so that its Registered comes before the messages it gives back.
        _watcher.Tell(BatchCoordinatorProtocol.Register.Instance);
        Timers.StartPeriodicTimer("register", RegisterNow.Instance, RegisterInterval);
    }

    /// <summary>
    /// A watcher answered our registration. Another one than we served (a new incarnation, in place or on another node):
    /// the batches driven for the earlier one are dropped. Their messages stay claimed, and the new watcher re-admits
    /// every claim (Recover), so nothing waits on them; their MessageActors answer any repeated command idempotently.
    /// </summary>
    private void ServeWatcher(IActorRef watcher, Guid incarnation)
    {
        if (_servedIncarnation == incarnation) return;
        if (_served is not null)
        {
            _log.Warning("The queue watcher changed ({Old} to {New}); the batches driven for the old one are dropped", _served.Path, watcher.Path);
            DropBatches();
            Context.Unwatch(_served);
        }
        (_served, _servedIncarnation) = (watcher, incarnation);
        Context.Watch(watcher);
    }

    private void DropBatches()
    {
        _forming.Clear();
        _formingBytes = 0;
        _batch = null;
        Timers.Cancel("max-wait");
        Timers.Cancel("stage-timeout");
        Timers.Cancel("next-stage");
    }

    /// <summary>
    /// Batch state is not worth persisting: every message in it is still claimed by its MessageActor, which answers
    /// every command again idempotently, so the watcher simply gives us the same messages once more.
    /// </summary>
    protected override void PostRestart(Exception reason)
    {
        base.PostRestart(reason);
        _log.Error(reason, "Batch coordinator restarted after an exception; asking for its messages again");
        _watcher.Tell(BatchCoordinatorProtocol.CoordinatorRestarted.Instance);
    }

    /// <summary>
    /// False for messages from a watcher this coordinator no longer serves (it ended, or restarted): that one's successor
    /// re-admits them. A coordinator that does not register serves the watcher that started it, its parent.
    /// </summary>
    private bool FromServedWatcher => !_registers || Sender.Equals(_served);

    private void Collect(BatchCoordinatorProtocol.Enqueue message)
    {
        _forming.Add(message);
        _formingBytes += message.Size;
        if (_forming.Count >= _settings.MaxMessages || _formingBytes >= _settings.MaxBytes) StartBatchIfIdle();
        else if (!Timers.IsTimerActive("max-wait")) Timers.StartSingleTimer("max-wait", MaxWaitElapsed.Instance, _settings.MaxWait);
    }

    private void StartBatchIfIdle()
    {
        if (_batch is not null || _forming.Count == 0) return;
        Timers.Cancel("max-wait");
        var take = 0;
        long bytes = 0;
        while (take < _forming.Count && take < _settings.MaxMessages && (take == 0 || bytes + _forming[take].Size <= _settings.MaxBytes))
            bytes += _forming[take++].Size;
        _batch = new Batch(_forming.Take(take).Select(m => m.Identity));
        _forming.RemoveRange(0, take);
        _formingBytes -= bytes;
        _counters.CountBatch(take);
        RunStage();
    }

    /// <summary>Sends the current stage's command to every message still in the batch, then waits for the answers.</summary>
    private void RunStage()
    {
        var batch = _batch!;
        var targets = batch.Stage switch
        {
            Stage.Scan => batch.Live,
            Stage.Clean => batch.Live,
            Stage.Deliver => batch.Live,
            // MailScanner's RemoveDeletedMessages runs after each stage: we repeat it after delivery and in a final sweep.
            Stage.Delete or Stage.FinalSweep => batch.Messages.Values.Where(m => !m.Dropped),
            _ => Enumerable.Empty<BatchMember>(),
        };
        batch.Pending.Clear();
        foreach (var member in targets) batch.Pending.Add(member.Identity);
        if (batch.Pending.Count == 0)
        {
            Advance();
            return;
        }
        SendStageCommands(batch);
        Timers.StartSingleTimer("stage-timeout", new StageTimedOut(batch.Id), StageTimeout);
    }

    private void SendStageCommands(Batch batch)
    {
        var repeats = batch.Stage is Stage.Delete or Stage.FinalSweep ? Math.Max(1, _settings.DeleteRepeats) : 1;
        foreach (var identity in batch.Pending)
        {
            for (var i = 0; i < repeats; i++) _messages.Tell(CommandFor(batch.Stage, identity));
        }
    }

    private static object CommandFor(Stage stage, FileIdentity identity) => stage switch
    {
        Stage.Scan => new Scan(identity),
        Stage.Clean => new Clean(identity),
        Stage.Deliver => new Deliver(identity),
        _ => new Delete(identity),
    };

    private void Answered(FileIdentity identity, Stage answeredStage, Action<BatchMember>? record = null)
    {
        var batch = _batch;
        if (batch is null || !batch.Messages.TryGetValue(identity, out var member)) return;
        if (Normalized(answeredStage) != Normalized(batch.Stage)) return; // a late answer to an earlier stage
        record?.Invoke(member);
        if (!batch.Pending.Remove(identity) || batch.Pending.Count > 0) return;
        Advance();
    }

    private static Stage Normalized(Stage stage) => stage == Stage.FinalSweep ? Stage.Delete : stage;

    private void Advance()
    {
        var batch = _batch!;
        Timers.Cancel("stage-timeout");
        if (batch.Stage == Stage.FinalSweep)
        {
            (_served ?? _watcher).Tell(new BatchCoordinatorProtocol.BatchFinished(batch.Messages.Keys.ToList(),
                batch.Messages.Values.Where(m => m.HandedBack).Select(m => m.Identity).ToList(), _servedIncarnation));
            _batch = null;
            StartBatchIfIdle();
            return;
        }
        batch.Stage++;
        var jitter = _settings.StageJitter;
        if (jitter > TimeSpan.Zero)
            Timers.StartSingleTimer("next-stage", new NextStage(batch.Id), TimeSpan.FromTicks(Random.Shared.NextInt64(jitter.Ticks)));
        else
            RunStage();
    }

    private void ResendPending(long batchId)
    {
        if (_batch is null || _batch.Id != batchId || _batch.Pending.Count == 0) return;
        _log.Warning("Batch stage {Stage}: {Count} message(s) did not answer within {Timeout}; asking again", _batch.Stage, _batch.Pending.Count, StageTimeout);
        SendStageCommands(_batch);
        Timers.StartSingleTimer("stage-timeout", new StageTimedOut(batchId), StageTimeout);
    }

    private enum Stage { Scan, Clean, Deliver, Delete, FinalSweep }

    private sealed class BatchMember(FileIdentity identity)
    {
        public FileIdentity Identity { get; } = identity;
        /// <summary>Left the batch early: handed back, refused or gone. Never sent another command.</summary>
        public bool Dropped { get; set; }
        /// <summary>A stage failed and the message went back to the incoming queue, to be retried later.</summary>
        public bool HandedBack { get; set; }
    }

    private sealed class Batch
    {
        private static long _lastId;

        public Batch(IEnumerable<FileIdentity> identities)
        {
            Messages = identities.ToDictionary(id => id, id => new BatchMember(id));
        }

        public long Id { get; } = Interlocked.Increment(ref _lastId);
        public Dictionary<FileIdentity, BatchMember> Messages { get; }
        public HashSet<FileIdentity> Pending { get; } = new();
        public Stage Stage { get; set; } = Stage.Scan;
        public IEnumerable<BatchMember> Live => Messages.Values.Where(m => !m.Dropped);
    }

    private sealed record MaxWaitElapsed
    {
        public static readonly MaxWaitElapsed Instance = new();
    }

    private sealed record RegisterNow
    {
        public static readonly RegisterNow Instance = new();
    }

    private sealed record NextStage(long BatchId);
    private sealed record StageTimedOut(long BatchId);
}
