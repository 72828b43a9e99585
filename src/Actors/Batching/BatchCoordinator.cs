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
    public sealed record BatchFinished(IReadOnlyList<FileIdentity> Messages, IReadOnlyList<FileIdentity> HandedBack);

    /// <summary>To the watcher: this coordinator restarted after an exception and lost its batches; send them again.</summary>
    public sealed record CoordinatorRestarted
    {
        public static readonly CoordinatorRestarted Instance = new();
    }
}

/// <summary>
/// Forms batches (by count, bytes and maximum wait) and drives each through Scan → Clean → Deliver → Delete
/// by identity, like a MailScanner child. It never touches a file. Like MailScanner it asks for deletion more
/// than once — after delivery and again in a final sweep — and the MessageActors absorb the repeats.
/// </summary>
public sealed class BatchCoordinator : ReceiveActor, IWithTimers
{
    private static readonly TimeSpan StageTimeout = TimeSpan.FromSeconds(30);

    private readonly BatchSettings _settings;
    private readonly IActorRef _messages;
    private readonly IActorRef _watcher;
    private readonly PipelineCounters _counters;
    private readonly ILoggingAdapter _log = Context.GetLogger();

    private readonly List<BatchCoordinatorProtocol.Enqueue> _forming = new();
    private long _formingBytes;

    private Batch? _batch;

    public ITimerScheduler Timers { get; set; } = null!;

    public BatchCoordinator(BatchSettings settings, IActorRef messages, IActorRef watcher, PipelineCounters counters)
    {
        _settings = settings;
        _messages = messages;
        _watcher = watcher;
        _counters = counters;

        Receive<BatchCoordinatorProtocol.Enqueue>(Collect);
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

    public static Props PropsFor(BatchSettings settings, IActorRef messages, IActorRef watcher, PipelineCounters counters) =>
        Props.Create(() => new BatchCoordinator(settings, messages, watcher, counters));

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
            _watcher.Tell(new BatchCoordinatorProtocol.BatchFinished(batch.Messages.Keys.ToList(),
                batch.Messages.Values.Where(m => m.HandedBack).Select(m => m.Identity).ToList()));
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

    private sealed record NextStage(long BatchId);
    private sealed record StageTimedOut(long BatchId);
}
