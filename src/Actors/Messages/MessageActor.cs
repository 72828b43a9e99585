using System.Diagnostics;
using Akka.Actor;
using Akka.Cluster.Sharding;
using Akka.Event;
using MailScanner.Actors.Delivery;
using MailScanner.Actors.Identity;
using MailScanner.Actors.Journal;
using MailScanner.Actors.Metrics;
using MailScanner.Actors.Policy;
using MailScanner.Actors.Scanning;
using MailScanner.Actors.Scanning.Engines;
using static MailScanner.Actors.Messages.MessageCommands;
using static MailScanner.Actors.Messages.MessageReplies;

namespace MailScanner.Actors.Messages;

/// <summary>
/// The whole life of one queue file, and the only code that touches it.
///
///   unadmitted ──Admit / Recover──► claimed ──Scan──► attempt recorded ──► scanning ──► claimed ──Clean, Deliver──►
///        │                                 │            │ a scanner could not answer: handed back to the queue, retried later
///        │                                 │            └ a delivery was already recorded: completed, not repeated
///        │                                 └ attempts used up: quarantined as unprocessable (unscannable, by policy, when a scanner timed out on it)
///        └── any other command: absorbed, nothing touched
///   ──► copies staged ──► delivery recorded ──► copies published ──► safely written ──Delete──► gone
///
/// The journal (<see cref="MessageJournal"/>) records each attempt before scanning starts, so a crash counts as an
/// attempt, and each delivery before its first rename, so a restart completes a delivery instead of repeating it.
///
/// A Delete is honoured exactly once, and only after the message is safely written elsewhere; a Delete that
/// comes early is refused, a Delete that comes late is absorbed. Commands carry the file's identity
/// (device, inode, generation), so a command can never reach a newer file that was given the same name.
///
/// When the gateway stops and its grace period has passed, LetGo hands a message that is not yet being written back
/// to the incoming queue untouched; one being written finishes its write first and, written, is deleted as usual.
/// A message whose copies may already be out is therefore never handed back, journal or not.
///
/// This file is the lifecycle only. The work each step does lives beside it: claiming and parsing the file
/// (<see cref="MessageClaim"/>, giving an immutable <see cref="ClaimedMessage"/>), the decision
/// (<see cref="MessageDecision.Decide"/>, pure) and the exactly-once write (<see cref="ExactlyOnceDelivery"/>, which
/// runs off this actor's thread on an immutable <see cref="DeliveryPlan"/>).
/// </summary>
/// <remarks>
/// Longer than our other files on purpose: one file tells a message's whole life, every state and every way out of
/// it, and splitting the states apart would hide the transitions that keep the promise.
///
/// An <see cref="UntypedActor"/> with plain switches: one of these is created per message, and building
/// ReceiveActor handler tables for every one of them cost more CPU than the message's own file work.
/// </remarks>
public sealed class MessageActor : UntypedActor, IWithStash, IWithTimers
{
    /// <summary>Engines answer every scan themselves; this only guards against an engine that vanished mid-call.</summary>
    private static readonly TimeSpan ScanDeadline = TimeSpan.FromMinutes(5);

    private readonly MessageWorkspace _workspace;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Stopwatch _age = new();

    /// <summary>The file while we hold it; null before the claim and once it is deleted or handed back.</summary>
    private ClaimedMessage? _message;
    private ScanRound? _scan;
    private Verdict? _verdict;
    private MessageDecision? _decision;
    private DeliveryResult? _delivered;
    /// <summary>A delivery an earlier attempt recorded; Deliver completes it instead of writing anew.</summary>
    private DeliveryIntent? _recordedDelivery;
    /// <summary>An attempt is recorded in the journal and not yet ended: a clean hand-back must say it did not count.</summary>
    private bool _attemptOpen;
    /// <summary>Cluster Sharding moves this actor's shard (a rebalance, or its node leaving): stop once the file is let go.</summary>
    private bool _handingOff;
    private IActorRef _scanRequester = ActorRefs.Nobody;
    /// <summary>When the copies' write began (<see cref="Stopwatch.GetTimestamp"/>): the deliver stage's latency.</summary>
    private long _writeStartedAt;
    /// <summary>The command being handled and its sender, so that an exception can be answered to whoever sent it.</summary>
    private string _currentCommand = "";
    private IActorRef _currentRequester = ActorRefs.Nobody;

    public IStash Stash { get; set; } = null!;
    public ITimerScheduler Timers { get; set; } = null!;

    public MessageActor(MessageWorkspace workspace) => _workspace = workspace;

    public static Props PropsFor(MessageWorkspace workspace) => Props.Create(() => new MessageActor(workspace));

    private FileIdentity Identity => _message!.Identity;

    /// <summary>
    /// Clustered, what the shard region sends each MessageActor of a shard it moves elsewhere (a rebalance, or this node
    /// leaving): the message lets go of its file as on a stop (<see cref="LetGo"/>: back to the incoming queue untouched,
    /// or, being written, finished and deleted), then the actor stops. The watcher admits a handed-back file again, and
    /// its MessageActor is then created where the shard now lives; a message is never stopped with its file claimed.
    /// </summary>
    public sealed record HandOff
    {
        public static readonly HandOff Instance = new();
    }

    protected override bool AroundReceive(Receive receive, object message)
    {
        // Whether a batch's commands cross the network: a sender on this node has a local address, one elsewhere its host's.
        if (message is Scan or Clean or Deliver or Delete) _workspace.Counters.CountStageCommand(fromAnotherNode: !Sender.Path.Address.HasLocalScope);
        if (message is not HandOff) return base.AroundReceive(receive, message);
        _handingOff = true;
        if (_message is null)
        {
            Context.Stop(Self);
            return true;
        }
        return base.AroundReceive(receive, new LetGo(_message.Identity));
    }
    private string QueueId => _message!.QueueId;

    protected override void OnReceive(object message)
    {
        _age.Start();
        switch (message)
        {
            case Admit admit:
                using (_workspace.Counters.Time(PipelineStage.Claim)) TakeOn(admit, MessageClaim.Claim(admit, _workspace.WorkDirectory, _workspace.Format), Path.GetFileName(admit.IncomingPath));
                break;
            case Recover recover:
                using (_workspace.Counters.Time(PipelineStage.Claim)) TakeOn(recover, MessageClaim.TakeOver(recover, _workspace.Format), Path.GetFileName(recover.IncomingPath));
                break;
            case IWithFileIdentity command:
                AbsorbAndStop(command, "no such message: its file is gone or was never admitted");
                break;
            default:
                Unhandled(message);
                break;
        }
    }

    private void TakeOn(IWithFileIdentity command, ClaimResult result, string queueId)
    {
        switch (result)
        {
            case ClaimResult.Gone gone:
                AbsorbAndStop(command, gone.Why);
                break;
            case ClaimResult.Unreadable unreadable:
                _log.Warning("Queue file {QueueId} ({Identity}) cannot be read and is left in place: {Reason}", queueId, command.Identity, unreadable.Why);
                _workspace.Counters.CountRefused();
                Sender.Tell(new Refused(command.Identity, queueId, unreadable.Why));
                Finish(Gone);
                break;
            case ClaimResult.Malformed malformed:
                _message = malformed.File;
                RefuseClaimed(malformed.Reason);
                break;
            case ClaimResult.Claimed claimed:
                _message = claimed.Message;
                if (command is Recover)
                    _log.Info("Message {QueueId} ({Identity}) was claimed by an earlier run and not finished; resuming it", QueueId, Identity);
                _workspace.Counters.CountAdmitted();
                Sender.Tell(new Admitted(Identity, QueueId, _message.Size));
                Context.Become(Claimed);
                break;
        }
    }

    /// <summary>Ours but not a queue file: moved aside into the bad directory (or, failing that, left in the work area) and logged.</summary>
    private void RefuseClaimed(string problem)
    {
        var movedTo = QueueFileOperations.MoveAside(_message!, _workspace.BadDirectory, $"{QueueId}.{Identity.Key}");
        if (movedTo is not null)
            _log.Warning("Queue file {QueueId} ({Identity}) is malformed and was moved to {BadPath} ({Outcome}): {Reason}", QueueId, Identity, movedTo, "set_aside", problem);
        else
            _log.Error("Queue file {QueueId} ({Identity}) is malformed and could not be moved aside; it stays at {WorkPath}: {Reason}", QueueId, Identity, _message!.WorkPath, problem);
        _workspace.Counters.CountRefused();
        _workspace.Delivery.ForgetOnceDurable(Identity);
        Sender.Tell(new Refused(Identity, QueueId, problem));
        Finish(Gone);
    }

    private void Claimed(object message)
    {
        (_currentCommand, _currentRequester) = (message.GetType().Name, Sender);
        switch (message)
        {
            case Admit or Recover:
                Sender.Tell(new Admitted(Identity, QueueId, _message!.Size));
                break;
            case Scan when _verdict is not null:
                Sender.Tell(new Scanned(Identity, _verdict));
                break;
            case Scan:
                BeginAttempt();
                break;
            case Clean when _verdict is null:
                Sender.Tell(new NotReady(Identity, nameof(Clean), "not scanned yet"));
                break;
            case Clean:
                Decide();
                Sender.Tell(new Cleaned(Identity, _decision!.Action));
                break;
            case Deliver when _decision is null:
                Sender.Tell(new NotReady(Identity, nameof(Deliver), "not cleaned yet"));
                break;
            case Deliver:
                WriteCopies();
                break;
            case Delete:
                Sender.Tell(new NotReady(Identity, nameof(Delete), "not delivered yet; the original is kept"));
                break;
            case LetGo:
                LetGoUnwritten(awaitingScan: false);
                break;
            default:
                Unhandled(message);
                break;
        }
    }

    /// <summary>
    /// Records the attempt before any scanning starts: if scanning brings the process down, the attempt still counts,
    /// and a message that does so every time is quarantined instead of tried forever.
    /// </summary>
    private void BeginAttempt()
    {
        _scanRequester = Sender;
        _workspace.Journal.BeginAttemptAsync(Identity, QueueId).PipeTo(Self,
            failure: e => new JournalUnavailable(e.GetBaseException().Message));
        Context.Become(BeginningAttempt);
    }

    private void BeginningAttempt(object message)
    {
        if (message is MessageJournalProtocol.AttemptBegun) _workspace.WriteFailures.Succeeded(_workspace.Journal.Location);
        switch (message)
        {
            case MessageJournalProtocol.AttemptBegun begun when begun.PendingDelivery is { } recorded:
                _attemptOpen = true;
                _recordedDelivery = recorded;
                _decision = MessageDecision.Already(new Verdict(recorded.Verdict, recorded.Reasons), recorded.Action);
                _log.Info("Message {QueueId} ({Identity}): an earlier attempt recorded its delivery ({Action}); completing it, not repeating it",
                    QueueId, Identity, MessageActionNames.Name(recorded.Action));
                ScanFinished(_decision.Verdict);
                break;
            case MessageJournalProtocol.AttemptBegun begun when begun.Attempt > _workspace.Journal.MaxProcessingAttempts
                                                               && _workspace.ScannerTimeouts.Count(Identity.Key) is > 0 and var timeouts:
                _attemptOpen = true;
                // A scanner that answers everything else timed out on this one: never fully scanned, and the policy
                // decides what happens to it (by default the quarantine), as for any other verdict.
                _scan = new ScanRound([new ScanReport("gateway", [new ScanFinding(VerdictKind.Unscannable,
                    $"a scanner timed out on it {timeouts} time(s) while it answered other messages; {begun.Attempt - 1} attempts (max-processing-attempts = {_workspace.Journal.MaxProcessingAttempts})")])], 0);
                _log.Error("Message {QueueId} ({Identity}) from <{Sender}>: the scanners timed out on it in its {Attempts} attempts; it is unscannable",
                    QueueId, Identity, PrintableText.Of(_message!.Envelope.Sender), begun.Attempt - 1);
                ScanFinished(_scan.Verdict);
                break;
            case MessageJournalProtocol.AttemptBegun begun when begun.Attempt > _workspace.Journal.MaxProcessingAttempts:
                _attemptOpen = true;
                _decision = MessageDecision.Already(new Verdict(VerdictKind.Unprocessable,
                    [$"processing was started {begun.Attempt - 1} times and never finished: the gateway stopped, scanning threw, or a scanner timed out on it (max-processing-attempts = {_workspace.Journal.MaxProcessingAttempts})"]),
                    MessageAction.Quarantine);
                _log.Error("Message {QueueId} ({Identity}) from <{Sender}> could not be processed in {Attempts} attempts; it is quarantined as unprocessable",
                    QueueId, Identity, PrintableText.Of(_message!.Envelope.Sender), begun.Attempt - 1);
                ScanFinished(_decision.Verdict);
                break;
            case MessageJournalProtocol.AttemptBegun:
                _attemptOpen = true;
                Context.Become(Claimed);
                StartScan();
                break;
            case JournalUnavailable unavailable:
                HandBack(nameof(Scan), $"not scanned: the journal did not record the attempt ({unavailable.Reason})", _scanRequester,
                    WriteFailure.OfJournal(_workspace.Journal.Location, unavailable.Reason));
                break;
            case LetGo:
                // The attempt may be recorded by now: abandoning it keeps a stop from counting against the message.
                _attemptOpen = true;
                LetGoUnwritten(awaitingScan: true);
                break;
            default:
                Stash.Stash();
                break;
        }
    }

    /// <summary>
    /// The built-in rules run here; each enabled daemon engine gets the message too, and the verdict waits for all
    /// of them. A message is never judged on a partial scan.
    /// </summary>
    private void StartScan()
    {
        var message = _message!.Message;
        ScanReport rules;
        using (_workspace.Counters.Time(PipelineStage.Rules)) rules = _workspace.ScanWithBuiltInRules(message, _workspace.Rules, _workspace.UnpackBudget);
        if (rules.Postponed is { } busy)
        {
            // Not judged on what it could not unpack for lack of memory others held: back to the queue, tried again later.
            HandBack(nameof(Scan), $"not scanned yet: {busy}", _scanRequester);
            return;
        }
        _scan = new ScanRound([rules], _workspace.ScannerEngines.Count);
        if (_scan.Complete)
        {
            ScanFinished(_scan.Verdict);
            return;
        }
        foreach (var engine in _workspace.ScannerEngines) engine.Tell(new ScannerEngine.Scan(Identity.Key, message));
        Timers.StartSingleTimer("scan-deadline", new ScanDeadlinePassed(), ScanDeadline);
        Context.Become(Scanning);
    }

    private void Scanning(object message)
    {
        switch (message)
        {
            case ScannerEngine.Scanned scanned when scanned.MessageKey == Identity.Key:
                _scan = _scan!.With(scanned.Report);
                if (_scan.Complete)
                {
                    Timers.Cancel("scan-deadline");
                    ScanFinished(_scan.Verdict);
                }
                break;
            case ScannerEngine.Unavailable { MessageMayBeTheCause: true } unavailable when unavailable.MessageKey == Identity.Key:
                // The scanner answers others but not this message: the attempt counts, so a message no scanner gets
                // through ends in the quarantine after max-processing-attempts instead of being retried forever.
                Timers.Cancel("scan-deadline");
                _workspace.ScannerTimeouts.Record(Identity.Key);
                HandBack(nameof(Scan), $"not scanned, and the attempt counts: {unavailable.Reason}", _scanRequester, attemptCounts: true);
                break;
            case ScannerEngine.Unavailable unavailable when unavailable.MessageKey == Identity.Key:
                Timers.Cancel("scan-deadline");
                HandBack(nameof(Scan), $"not scanned: {unavailable.Reason}", _scanRequester);
                break;
            case ScanDeadlinePassed:
                HandBack(nameof(Scan), $"not scanned: no answer from the scanners within {ScanDeadline}", _scanRequester);
                break;
            case LetGo:
                Timers.Cancel("scan-deadline");
                LetGoUnwritten(awaitingScan: true);
                break;
            default:
                Stash.Stash();
                break;
        }
    }

    /// <summary>Back to <see cref="Claimed"/> with a verdict; whatever arrived meanwhile is handled now.</summary>
    private void ScanFinished(Verdict verdict)
    {
        _verdict = verdict;
        Context.Become(Claimed);
        _scanRequester.Tell(new Scanned(Identity, verdict));
        Stash.UnstashAll();
    }

    /// <summary>
    /// The message's policy turns the verdict into an action; a message that will be delivered is cleaned and tagged
    /// now, so that Deliver only has to write it. Decided once: a repeated Clean gets the same answer.
    /// </summary>
    private void Decide()
    {
        if (_decision is not null) return;
        using var timing = _workspace.Counters.Time(PipelineStage.Clean);
        _decision = MessageDecision.Decide(_message!.Envelope, _message.Message, _scan!.Reports, _workspace.Policy, _workspace.Rules.Html, _workspace.Rules.Limits);
        _verdict = _decision.Verdict;
        if (_decision.QuarantinedInsteadOfCleaned)
            _log.Warning("Message {QueueId} ({Identity}) is {Verdict} in no particular part; it is quarantined instead of cleaned",
                QueueId, Identity, _decision.Verdict);
    }

    /// <summary>Writes what the decision asks for, off this thread; the original stays untouched until every copy is durable.</summary>
    private void WriteCopies()
    {
        var message = _message!;
        var outgoing = _decision!.DeliveredMessage is { } delivered
            ? _workspace.Format.ComposeOutgoing(message.Parsed!, delivered)
            : null;
        var plan = new DeliveryPlan(Identity, QueueId, message.Envelope, _decision.Verdict, _decision.Action, message.Parsed!.Original, outgoing, _recordedDelivery)
        {
            QueueFormat = _workspace.Format.Name,
            OriginalPartLengths = message.Parsed.OriginalPartLengths,
        };
        Task<DeliveryResult> writing;
        try
        {
            writing = _workspace.Delivery.DeliverAsync(plan);
        }
        catch (Exception e)
        {
            writing = Task.FromException<DeliveryResult>(e);
        }
        _writeStartedAt = Stopwatch.GetTimestamp();
        writing.PipeTo(Self, Sender, success: written => written, failure: CopyFailed.Of);
        Context.Become(Writing);
    }

    private void Writing(object message)
    {
        switch (message)
        {
            case DeliveryResult written:
                _workspace.Counters.StageEnded(PipelineStage.Deliver, _writeStartedAt);
                _delivered = written;
                if (written.AnnounceProblem is { } problem)
                    _log.Warning("The MTA could not be told about the messages written to {Outgoing}: {Problem}; it picks them up at its next scan of the queue",
                        _workspace.Outgoing.Directory, problem);
                if (written.OutgoingPath is not null)
                {
                    _workspace.Counters.CountDelivered(_message!.Handle);
                    _workspace.WriteFailures.Succeeded(_workspace.Outgoing.Directory);
                }
                if (written.QuarantinePath is not null)
                {
                    _workspace.Counters.CountQuarantined();
                    _workspace.WriteFailures.Succeeded(_workspace.Quarantine.Directory);
                }
                if (_recordedDelivery is null && (written.OutgoingPath ?? written.QuarantinePath) is not null)
                    _workspace.WriteFailures.Succeeded(_workspace.Journal.Location);
                Sender.Tell(DeliveredReply);
                Context.Become(SafelyWritten);
                Stash.UnstashAll();
                break;
            case CopyFailed failed:
                HandBack(nameof(Deliver), $"could not be written ({failed.Reason})", Sender, failed.Failure);
                break;
            default:
                Stash.Stash();
                break;
        }
    }

    private Delivered DeliveredReply => new(Identity, _decision!.Action, _delivered!.OutgoingPath, _delivered.QuarantinePath);

    private void SafelyWritten(object message)
    {
        (_currentCommand, _currentRequester) = (message.GetType().Name, Sender);
        switch (message)
        {
            case Admit or Recover:
                Sender.Tell(new Admitted(Identity, QueueId, _message!.Size));
                break;
            case Scan:
                Sender.Tell(new Scanned(Identity, _decision!.Verdict));
                break;
            case Clean:
                Sender.Tell(new Cleaned(Identity, _decision!.Action));
                break;
            case Deliver:
                Sender.Tell(DeliveredReply);
                break;
            case Delete or LetGo:
                DeleteOriginal();
                break;
            default:
                Unhandled(message);
                break;
        }
    }

    private void DeleteOriginal()
    {
        var message = _message!;
        bool removed;
        try
        {
            removed = QueueFileOperations.DeleteIfStill(message);
        }
        catch (IOException e)
        {
            _log.Warning("Message {QueueId} ({Identity}) was delivered but its original could not be removed yet: {Reason}", QueueId, Identity, e.Message);
            Sender.Tell(new Failed(Identity, nameof(Delete), e.Message));
            return;
        }
        if (!removed)
            _log.Error("Message {QueueId} ({Identity}): the entry at {WorkPath} is no longer this file; nothing was deleted", QueueId, Identity, message.WorkPath);
        _workspace.Counters.CountDeleted();
        var outcome = _workspace.Counters.CountFinished(message.QueueId, _decision!.Verdict.Kind, _decision.Action, message.Envelope);
        _attemptOpen = false;
        // The journal forgets the message only once the unlink is on disk (ExactlyOnceDelivery: B4).
        _workspace.Delivery.ForgetOnceDurable(Identity);
        _workspace.ScannerTimeouts.Forget(Identity.Key);
        // One line per message outcome: what an operator greps for when a message is asked about. Outcome and
        // VerdictKind are the labels of mailscanner_messages_total and mailscanner_verdicts_total.
        _log.Info(
            "Message {QueueId} {Identity} {Outcome} ({VerdictKind}) from <{Sender}> to {RecipientCount} recipient(s), {Size} bytes: {Verdict}, {Action} in {Milliseconds} ms",
            new object[]
            {
                message.QueueId, message.Identity, outcome, PipelineCounters.VerdictLabel(_decision.Verdict.Kind), PrintableText.Of(message.Envelope.Sender),
                message.Envelope.Recipients.Count, message.Size, _decision.Verdict, _delivered!.Describe(_decision.Action), _age.ElapsedMilliseconds,
            });
        Sender.Tell(new Deleted(message.Identity));
        Finish(Gone);
    }

    /// <summary>
    /// Gives the file back to the incoming queue untouched, under its own name, and says why: the message will
    /// be admitted again later (the watcher backs off). Used when a scan or a write could not complete; such an
    /// attempt says nothing about the message, so it does not count towards the poison limit, unless
    /// <paramref name="attemptCounts"/> (a scanner that answers others timed out on this message). A write that failed
    /// because a disk is full or failing (<paramref name="writeFailure"/>) is logged once per episode by
    /// <see cref="WriteFailureEpisodes"/>, not once per message: each message's own line is then a debug line.
    /// </summary>
    private void HandBack(string command, string reason, IActorRef replyTo, WriteFailure? writeFailure = null, bool attemptCounts = false)
    {
        _workspace.Counters.CountFailed();
        var released = GiveBackToQueue(abandonAttempt: !attemptCounts);
        var disposition = released ? "it is back in the incoming queue and will be retried" : $"it stays in the work area at {_message!.WorkPath}";
        if (writeFailure is null)
        {
            _log.Warning("Message {QueueId} ({Identity}) {Outcome}: {Reason}; {Disposition}", QueueId, Identity, "handed_back", reason, disposition);
        }
        else
        {
            _workspace.WriteFailures.HandedBack(writeFailure);
            _log.Debug("Message {QueueId} ({Identity}) {Outcome}: {Reason}; {Disposition}", QueueId, Identity, "handed_back", reason, disposition);
        }
        replyTo.Tell(new Failed(Identity, command, reason));
        Finish(Released);
        Stash.UnstashAll();
    }

    /// <summary>
    /// The gateway is stopping and its grace period has passed: nothing of this message is written yet, so its file goes
    /// back to the incoming queue untouched, for the next start (or another node) to take up. Not a failure.
    /// </summary>
    private void LetGoUnwritten(bool awaitingScan)
    {
        var released = GiveBackToQueue();
        _workspace.Counters.CountLetGo();
        _log.Debug("Message {QueueId} ({Identity}) {Outcome}: the gateway is stopping; {Disposition}", QueueId, Identity, "handed_back",
            released ? "it is back in the incoming queue, untouched" : $"it stays claimed in the work area at {_message!.WorkPath}, resumed at the next start");
        if (awaitingScan) _scanRequester.Tell(new Failed(Identity, nameof(Scan), "handed back: the gateway is stopping"));
        Sender.Tell(new HandedBack(Identity, released));
        Finish(Released);
        Stash.UnstashAll();
    }

    /// <summary>Renames the file back to its name in the incoming queue, ending the attempt without counting it unless told otherwise.</summary>
    private bool GiveBackToQueue(bool abandonAttempt = true)
    {
        if (_attemptOpen && abandonAttempt) _workspace.Journal.AttemptAbandoned(Identity);
        _attemptOpen = false;
        return QueueFileOperations.Release(_message!);
    }

    /// <summary>After deletion every command is acknowledged and counted, and touches nothing.</summary>
    private void Gone(object message) => Absorb(message, "already deleted");

    private void Released(object message) => Absorb(message, "handed back to the incoming queue");

    private void Absorb(object message, string why)
    {
        if (message is not IWithFileIdentity command)
        {
            Unhandled(message);
            return;
        }
        _workspace.Counters.CountAbsorbed();
        Sender.Tell(new Absorbed(command.Identity, command.GetType().Name, why));
    }

    private void AbsorbAndStop(IWithFileIdentity command, string why)
    {
        Absorb(command, why);
        Finish(Gone);
    }

    /// <summary>
    /// Lets go of the file and asks the parent (local region or shard) to stop us; it holds whatever arrives
    /// meanwhile and hands it to a fresh actor, which absorbs it.
    /// </summary>
    private void Finish(UntypedReceive finalState)
    {
        if (_message is not null) _workspace.Closer.Close(_message.Handle);
        _message = null;
        Context.Become(finalState);
        // Handing off, the shard waits for this actor to stop; otherwise the parent stops it when nothing is on its way.
        if (_handingOff) Context.Stop(Self);
        else Context.Parent.Tell(new Passivate(PoisonPill.Instance));
    }

    protected override void PostStop() => _message?.Handle.Dispose();

    /// <summary>
    /// An exception escaped (a scanner library bug, a poison message), and the supervisor restarts us with empty
    /// state. Before that, while we still know the file: the attempt is already counted in the journal, so the file
    /// goes back to the queue untouched and the command that failed is answered. The message is retried after a
    /// back-off — or, its attempts used up, quarantined as unprocessable — while the messages behind it go on.
    /// </summary>
    protected override void PreRestart(Exception reason, object message)
    {
        if (_message is { } held)
        {
            var released = NativeFile.TryGetIdentity(held.WorkPath) == held.Identity && QueueFileOperations.Release(held);
            _workspace.Counters.CountFailed();
            _log.Error("Message {QueueId} ({Identity}) {Outcome}: it failed while handling {Command}: {Reason}; the attempt counts, and {Disposition}",
                held.QueueId, held.Identity, "handed_back", _currentCommand, $"{reason.GetType().Name}: {reason.Message}",
                released ? "it is back in the incoming queue to be retried" : $"it stays in the work area at {held.WorkPath}");
            _currentRequester.Tell(new Failed(held.Identity, _currentCommand, $"failed: {reason.Message}"));
        }
        base.PreRestart(reason, message);
    }

    /// <summary>The reports gathered so far for one scan, and how many engines have yet to answer.</summary>
    private sealed record ScanRound(IReadOnlyList<ScanReport> Reports, int Awaiting)
    {
        public bool Complete => Awaiting == 0;
        public ScanRound With(ScanReport report) => new([.. Reports, report], Awaiting - 1);
        public Verdict Verdict => Verdict.Of(Reports.SelectMany(r => r.Findings).ToList());
    }

    private sealed record ScanDeadlinePassed;

    private sealed record CopyFailed(string Reason, WriteFailure? Failure)
    {
        public static CopyFailed Of(Exception e)
        {
            var cause = e is AggregateException { InnerExceptions.Count: > 0 } aggregate ? aggregate.Flatten().InnerExceptions[0] : e;
            return cause is WriteFailedException failed
                ? new CopyFailed(failed.Message, failed.Failure)
                : new CopyFailed(e.GetBaseException().Message, null);
        }
    }

    private sealed record JournalUnavailable(string Reason);
}
