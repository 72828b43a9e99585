using System.Diagnostics;
using Akka.Actor;
using Akka.Cluster.Sharding;
using Akka.Event;
using MailScanner.Actors.Cleaning;
using MailScanner.Actors.Delivery;
using MailScanner.Actors.Identity;
using MailScanner.Actors.Journal;
using MailScanner.Actors.Policy;
using MailScanner.Actors.Quarantine;
using MailScanner.Actors.Queue;
using MailScanner.Actors.Scanning;
using MailScanner.Actors.Scanning.Engines;
using MailScanner.Actors.Scanning.Rules;
using Microsoft.Win32.SafeHandles;
using static MailScanner.Actors.Messages.MessageCommands;
using static MailScanner.Actors.Messages.MessageReplies;

namespace MailScanner.Actors.Messages;

/// <summary>
/// The whole life of one queue file, and the only code that touches it.
///
///   unadmitted ──Admit / Recover──► claimed ──Scan──► attempt recorded ──► scanning ──► claimed ──Clean, Deliver──►
///        │                                 │            │ a scanner could not answer: handed back to the queue, retried later
///        │                                 │            └ a delivery was already recorded: completed, not repeated
///        │                                 └ attempts used up: quarantined as unprocessable
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
/// </summary>
/// <remarks>
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

    private FileIdentity _identity;
    private string _queueId = "";
    private string _incomingPath = "";
    private string _workPath = "";
    private SafeFileHandle? _original;
    private QueueEnvelope _envelope = new("", Array.Empty<string>());
    private byte[] _content = Array.Empty<byte>();
    private int _messageOffset;
    private long _size;
    private Verdict? _verdict;
    private MessageAction? _action;
    /// <summary>The queue file to deliver: the original envelope and the cleaned, tagged message.</summary>
    private byte[]? _outgoing;
    private string? _outgoingPath;
    private string? _quarantinePath;

    private readonly List<ScanReport> _reports = new();
    private int _awaitedEngines;
    private IActorRef _scanRequester = ActorRefs.Nobody;
    /// <summary>An attempt is recorded in the journal and not yet ended: a clean hand-back must say it did not count.</summary>
    private bool _attemptOpen;
    /// <summary>A delivery an earlier attempt recorded; Deliver completes it instead of writing anew.</summary>
    private DeliveryIntent? _recordedDelivery;
    /// <summary>The command being handled and its sender, so that an exception can be answered to whoever sent it.</summary>
    private string _currentCommand = "";
    private IActorRef _currentRequester = ActorRefs.Nobody;

    public IStash Stash { get; set; } = null!;
    public ITimerScheduler Timers { get; set; } = null!;

    public MessageActor(MessageWorkspace workspace) => _workspace = workspace;

    public static Props PropsFor(MessageWorkspace workspace) => Props.Create(() => new MessageActor(workspace));

    protected override void OnReceive(object message)
    {
        switch (message)
        {
            case Admit admit:
                ClaimFile(admit);
                break;
            case Recover recover:
                TakeOverClaim(recover);
                break;
            case IWithFileIdentity command:
                AbsorbAndStop(command, "no such message: its file is gone or was never admitted");
                break;
            default:
                Unhandled(message);
                break;
        }
    }

    private void ClaimFile(Admit admit)
    {
        _age.Start();
        _identity = admit.Identity;
        _incomingPath = admit.IncomingPath;
        _queueId = Path.GetFileName(admit.IncomingPath);
        _workPath = Path.Combine(_workspace.WorkDirectory, _identity.Key);

        ClaimOutcome outcome;
        try
        {
            outcome = QueueFileOperations.Claim(_identity, _incomingPath, _workPath);
        }
        catch (IOException e)
        {
            outcome = new ClaimOutcome.Unreadable(e.Message);
        }

        switch (outcome)
        {
            case ClaimOutcome.Gone gone:
                AbsorbAndStop(admit, gone.Why);
                return;
            case ClaimOutcome.Unreadable unreadable:
                _log.Warning("Queue file {QueueId} ({Identity}) cannot be read and is left in place: {Reason}", _queueId, _identity, unreadable.Why);
                _workspace.Counters.CountRefused();
                Sender.Tell(new Refused(_identity, _queueId, unreadable.Why));
                Finish(Gone);
                return;
            case ClaimOutcome.Claimed claimed:
                _original = claimed.Handle;
                _content = claimed.Content;
                _size = _content.Length;
                break;
        }

        AcceptClaimed(nameMustMatch: true);
    }

    /// <summary>
    /// A claim left in the work area: by an earlier run of the gateway, or still ours while the watcher restarted
    /// (then we are not this fresh actor and answer from <see cref="Claimed"/>).
    /// </summary>
    private void TakeOverClaim(Recover recover)
    {
        _age.Start();
        _identity = recover.Identity;
        _incomingPath = recover.IncomingPath;
        _queueId = Path.GetFileName(recover.IncomingPath);
        _workPath = recover.WorkPath;
        var opened = NativeFile.TryOpenRegularForReading(_workPath, out var handle);
        if (opened != OpenOutcome.Opened)
        {
            AbsorbAndStop(recover, "nothing left in the work area to recover");
            return;
        }
        if (NativeFile.GetIdentity(handle!) != _identity)
        {
            handle!.Dispose();
            AbsorbAndStop(recover, "the work area entry is not this file");
            return;
        }
        _original = handle;
        _content = QueueFileOperations.ReadAll(handle!);
        _size = _content.Length;
        _log.Info("Message {QueueId} ({Identity}) was claimed by an earlier run and not finished; resuming it", _queueId, _identity);
        AcceptClaimed(nameMustMatch: false);
    }

    /// <summary>The file is ours, in the work area: parse its envelope, or move it aside when it is not a queue file.</summary>
    private void AcceptClaimed(bool nameMustMatch)
    {
        var problem = !nameMustMatch || _workspace.Format.NameMatches(_queueId, _identity) ? null : $"its name is not its inode number {_identity.Inode}";
        if (problem is null)
        {
            QueueFileParse parse;
            try
            {
                parse = _workspace.Format.Parse(_content);
            }
            catch (Exception e)
            {
                // A parser bug must not turn into a crash loop: the same bytes would fail the same way every time.
                parse = new QueueFileParse.Malformed($"the queue file parser failed: {e.GetType().Name}: {e.Message}");
            }
            switch (parse)
            {
                case QueueFileParse.Parsed parsed:
                    _envelope = parsed.Envelope;
                    _messageOffset = parsed.MessageOffset;
                    break;
                case QueueFileParse.Malformed malformed:
                    problem = malformed.Reason;
                    break;
            }
        }
        if (problem is not null)
        {
            RefuseClaimed(problem);
            return;
        }

        _workspace.Counters.CountAdmitted();
        Sender.Tell(new Admitted(_identity, _queueId, _size));
        Context.Become(Claimed);
    }

    private void RefuseClaimed(string problem)
    {
        var movedTo = QueueFileOperations.MoveAside(_workPath, _workspace.BadDirectory, $"{_queueId}.{_identity.Key}");
        if (movedTo is not null)
            _log.Warning("Queue file {QueueId} ({Identity}) is malformed and was moved to {BadPath}: {Reason}", _queueId, _identity, movedTo, problem);
        else
            _log.Error("Queue file {QueueId} ({Identity}) is malformed and could not be moved aside; it stays at {WorkPath}: {Reason}", _queueId, _identity, _workPath, problem);
        _workspace.Counters.CountRefused();
        _workspace.Journal.Finished(_identity);
        Sender.Tell(new Refused(_identity, _queueId, problem));
        Finish(Gone);
    }

    private void Claimed(object message)
    {
        (_currentCommand, _currentRequester) = (message.GetType().Name, Sender);
        switch (message)
        {
            case Admit or Recover:
                Sender.Tell(new Admitted(_identity, _queueId, _size));
                break;
            case Scan when _verdict is not null:
                Sender.Tell(new Scanned(_identity, _verdict));
                break;
            case Scan:
                BeginAttempt();
                break;
            case Clean when _verdict is null:
                Sender.Tell(new NotReady(_identity, nameof(Clean), "not scanned yet"));
                break;
            case Clean:
                // Until per-verdict actions exist: infected or dangerous mail goes to quarantine, spam is delivered.
                _action ??= DecideAndClean();
                Sender.Tell(new Cleaned(_identity, _action.Value));
                break;
            case Deliver when _action is null:
                Sender.Tell(new NotReady(_identity, nameof(Deliver), "not cleaned yet"));
                break;
            case Deliver:
                WriteCopies(_action.Value);
                break;
            case Delete:
                Sender.Tell(new NotReady(_identity, nameof(Delete), "not delivered yet; the original is kept"));
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
        _workspace.Journal.BeginAttemptAsync(_identity, _queueId).PipeTo(Self,
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
                _verdict = new Verdict(recorded.Verdict, recorded.Reasons);
                _action = recorded.Action;
                _log.Info("Message {QueueId} ({Identity}): an earlier attempt recorded its delivery ({Action}); completing it, not repeating it",
                    _queueId, _identity, MessageActionNames.Name(recorded.Action));
                ScanFinished();
                break;
            case MessageJournalProtocol.AttemptBegun begun when begun.Attempt > _workspace.Journal.MaxProcessingAttempts:
                _attemptOpen = true;
                _verdict = new Verdict(VerdictKind.Unprocessable,
                    [$"processing was started {begun.Attempt - 1} times and never finished (max-processing-attempts = {_workspace.Journal.MaxProcessingAttempts})"]);
                _action = MessageAction.Quarantine;
                _log.Error("Message {QueueId} ({Identity}) from <{Sender}> could not be processed in {Attempts} attempts; it is quarantined as unprocessable",
                    _queueId, _identity, _envelope.Sender, begun.Attempt - 1);
                ScanFinished();
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

    /// <summary>Back to <see cref="Claimed"/> with a verdict; whatever arrived meanwhile is handled now.</summary>
    private void ScanFinished()
    {
        Context.Become(Claimed);
        _scanRequester.Tell(new Scanned(_identity, _verdict!));
        Stash.UnstashAll();
    }

    /// <summary>
    /// The built-in rules run here; each enabled daemon engine gets the message too, and the verdict waits for all
    /// of them. A message is never judged on a partial scan.
    /// </summary>
    private void StartScan()
    {
        var message = _content.AsMemory(_messageOffset);
        _reports.Clear();
        _reports.Add(_workspace.ScanWithBuiltInRules(message, _workspace.Rules));
        _awaitedEngines = _workspace.ScannerEngines.Count;
        if (_awaitedEngines == 0)
        {
            FinishScan();
            return;
        }
        foreach (var engine in _workspace.ScannerEngines) engine.Tell(new ScannerEngine.Scan(_identity.Key, message));
        Timers.StartSingleTimer("scan-deadline", new ScanDeadlinePassed(), ScanDeadline);
        Context.Become(Scanning);
    }

    private void Scanning(object message)
    {
        switch (message)
        {
            case ScannerEngine.Scanned scanned when scanned.MessageKey == _identity.Key:
                _reports.Add(scanned.Report);
                if (--_awaitedEngines == 0)
                {
                    Timers.Cancel("scan-deadline");
                    FinishScan();
                }
                break;
            case ScannerEngine.Unavailable unavailable when unavailable.MessageKey == _identity.Key:
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

    private void FinishScan()
    {
        _verdict = Verdict.Of(_reports.SelectMany(r => r.Findings).ToList());
        ScanFinished();
    }

    /// <summary>
    /// Gives the file back to the incoming queue untouched, under its own name, and says why: the message will
    /// be admitted again later (the watcher backs off). Used when a scan or a write could not complete; such an
    /// attempt says nothing about the message, so it does not count towards the poison limit. A write that failed
    /// because a disk is full or failing (<paramref name="writeFailure"/>) is logged once per episode by
    /// <see cref="WriteFailureEpisodes"/>, not once per message: each message's own line is then a debug line.
    /// </summary>
    private void HandBack(string command, string reason, IActorRef replyTo, WriteFailure? writeFailure = null)
    {
        _workspace.Counters.CountFailed();
        var released = GiveBackToQueue();
        var outcome = released ? "it is back in the incoming queue and will be retried" : $"it stays in the work area at {_workPath}";
        if (writeFailure is null)
        {
            _log.Warning("Message {QueueId} ({Identity}): {Reason}; {Outcome}", _queueId, _identity, reason, outcome);
        }
        else
        {
            _workspace.WriteFailures.HandedBack(writeFailure);
            _log.Debug("Message {QueueId} ({Identity}): {Reason}; {Outcome}", _queueId, _identity, reason, outcome);
        }
        replyTo.Tell(new Failed(_identity, command, reason));
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
        _log.Debug("Message {QueueId} ({Identity}): the gateway is stopping; {Outcome}", _queueId, _identity,
            released ? "it is back in the incoming queue, untouched" : $"it stays claimed in the work area at {_workPath}, resumed at the next start");
        if (awaitingScan) _scanRequester.Tell(new Failed(_identity, nameof(Scan), "handed back: the gateway is stopping"));
        Sender.Tell(new HandedBack(_identity, released));
        Finish(Released);
        Stash.UnstashAll();
    }

    /// <summary>Ends the attempt without counting it and renames the file back to its name in the incoming queue.</summary>
    private bool GiveBackToQueue()
    {
        if (_attemptOpen) _workspace.Journal.AttemptAbandoned(_identity);
        _attemptOpen = false;
        return QueueFileOperations.Release(_workPath, _incomingPath);
    }

    /// <summary>
    /// The message's policy (first matching ruleset) turns the verdict into an action; a message that will be
    /// delivered is cleaned and tagged now, so that Deliver only has to write it.
    /// </summary>
    private MessageAction DecideAndClean()
    {
        var policy = _workspace.Policy.Resolve(_envelope);
        var findings = _reports.SelectMany(r => r.Findings).ToList();
        var spam = _reports.Select(r => r.Spam).FirstOrDefault(score => score is not null);
        _verdict = VerdictUnder(policy, findings, spam);
        var action = policy.ActionFor(_verdict.Kind);
        // Cleaning replaces the parts a finding names. A finding that names no part (a virus clamd finds in the
        // message but in no single part, or a limit of the analysis) leaves nothing to replace, and such a message
        // must not be delivered "cleaned" with its virus.
        if (action == MessageAction.DeliverCleaned &&
            findings.Any(f => f.Kind is VerdictKind.Infected or VerdictKind.DangerousContent && f.PartName is null))
        {
            _log.Warning("Message {QueueId} ({Identity}) is {Verdict} in no particular part; it is quarantined instead of cleaned",
                _queueId, _identity, _verdict);
            action = MessageAction.Quarantine;
        }
        if (action.Delivers())
        {
            var request = new CleaningRequest(_verdict, findings, spam, ReplaceDangerousParts: action == MessageAction.DeliverCleaned,
                policy.SubjectTagFor(_verdict), _workspace.Rules.Html);
            var cleaned = MessageCleaner.CleanAsNeeded(_content.AsMemory(_messageOffset), request, _reports.Any(r => r.HasActiveHtml));
            _outgoing = new byte[_messageOffset + cleaned.Message.Length];
            _content.AsSpan(0, _messageOffset).CopyTo(_outgoing);
            cleaned.Message.CopyTo(_outgoing.AsSpan(_messageOffset));
        }
        return action;
    }

    /// <summary>A ruleset may set its own spam thresholds; they replace the spam scanner's.</summary>
    private static Verdict VerdictUnder(MessagePolicy policy, List<ScanFinding> findings, SpamScore? spam)
    {
        if (spam is null || (policy.SpamThreshold is null && policy.HighSpamThreshold is null)) return Verdict.Of(findings);
        var engineSaidHigh = findings.Any(f => f.Kind == VerdictKind.HighSpam);
        var judged = findings.Where(f => f.Kind is not (VerdictKind.Spam or VerdictKind.HighSpam)).ToList();
        var threshold = policy.SpamThreshold ?? spam.Threshold;
        if (policy.HighSpamThreshold is { } high ? spam.Score >= high : engineSaidHigh)
            judged.Add(new ScanFinding(VerdictKind.HighSpam, $"high spam score {spam.Score:F1} ({policy.RulesetName})"));
        else if (spam.Score >= threshold)
            judged.Add(new ScanFinding(VerdictKind.Spam, $"spam score {spam.Score:F1} >= {threshold:F1} ({policy.RulesetName})"));
        return Verdict.Of(judged);
    }

    /// <summary>Writes what the action asks for; the original stays untouched until every copy is durable.</summary>
    private void WriteCopies(MessageAction action)
    {
        Task<(string?, string?)> writing;
        try
        {
            writing = DeliverAsync(_recordedDelivery, action);
        }
        catch (Exception e)
        {
            writing = Task.FromException<(string?, string?)>(e);
        }
        writing.PipeTo(Self, Sender,
            success: paths => new CopyWritten(paths.Item1, paths.Item2),
            failure: CopyFailed.Of);
        Context.Become(Writing);
    }

    /// <summary>
    /// Exactly-once delivery, whatever instant the process dies at:
    /// <list type="number">
    /// <item>stage every copy under a temp name that is this message's alone (its identity), durably;</item>
    /// <item>record the staged names in the journal, durably — the decision point;</item>
    /// <item>rename each copy into place (never replacing anything), durably; only then may the original go.</item>
    /// </list>
    /// A crash before 2 leaves temps no record names: the next attempt replaces them. After 2 the next attempt finds
    /// the record and only completes step 3 — a temp still there is renamed now, a temp gone was renamed before — so
    /// the message is never written a second time, and the original is deleted only after step 3 is durable.
    /// </summary>
    private async Task<(string? Outgoing, string? Quarantine)> DeliverAsync(DeliveryIntent? recorded, MessageAction action)
    {
        var intent = recorded ?? await StageCopiesAsync(action).ConfigureAwait(false);
        if (recorded is null && (intent.OutgoingTemp is not null || intent.QuarantineStaging is not null))
        {
            try
            {
                await _workspace.Journal.RecordDeliveryAsync(_identity, intent).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                throw new WriteFailedException(WriteFailure.OfJournal(_workspace.Journal.Location, e.GetBaseException().Message), e);
            }
        }
        var outgoing = intent.OutgoingTemp is { } temp ? WritingTo(_workspace.Outgoing.Directory, _workspace.Outgoing.PublishAsync(temp)) : Task.FromResult<string>(null!);
        var quarantine = intent.QuarantineStaging is { } staging ? WritingTo(_workspace.Quarantine.Directory, _workspace.Quarantine.PublishAsync(staging)) : Task.FromResult<string>(null!);
        return (await outgoing.ConfigureAwait(false), await quarantine.ConfigureAwait(false));
    }

    private async Task<DeliveryIntent> StageCopiesAsync(MessageAction action)
    {
        var toOutgoing = action.Delivers();
        var toQuarantine = action.KeepsOriginalInQuarantine();
        // An earlier, unrecorded attempt may have staged a copy this action does not write (it was interrupted and
        // this time the message is unprocessable, or the policy changed): nothing will ever publish it.
        if (!toOutgoing) _workspace.Outgoing.DiscardUnrecorded(OutgoingTempName);
        if (!toQuarantine) _workspace.Quarantine.DiscardUnrecorded(_identity.Key);
        var outgoing = toOutgoing ? WritingTo(_workspace.Outgoing.Directory, _workspace.Outgoing.StageAsync(_outgoing!, OutgoingTempName)) : Task.FromResult<StagedName>(null!);
        // The quarantine keeps the original queue file, untouched, with what we know about it beside it.
        var quarantine = toQuarantine
            ? WritingTo(_workspace.Quarantine.Directory,
                _workspace.Quarantine.StageAsync(_content, QuarantineMetadata.For(DateTime.UtcNow, _queueId, _identity, _envelope, _verdict!), _identity.Key))
            : Task.FromResult<StagedName>(null!);
        return new DeliveryIntent(_verdict!.Kind, _verdict.Reasons, action,
            toOutgoing ? await outgoing.ConfigureAwait(false) : null,
            toQuarantine ? await quarantine.ConfigureAwait(false) : null);
    }

    /// <summary>A write into <paramref name="directory"/>; a full or failing disk there is named as such (<see cref="WriteFailure"/>).</summary>
    private static async Task<T> WritingTo<T>(string directory, Task<T> writing)
    {
        try
        {
            return await writing.ConfigureAwait(false);
        }
        catch (Exception e) when (WriteFailure.InDirectory(e, directory) is { } failure)
        {
            throw new WriteFailedException(failure, e);
        }
    }

    /// <summary>Not all digits, so the MTA ignores it; derived from the identity, so it is this message's alone.</summary>
    private string OutgoingTempName => $"tf-{_identity.Key}";

    private void Writing(object message)
    {
        switch (message)
        {
            case CopyWritten written:
                (_outgoingPath, _quarantinePath) = (written.OutgoingPath, written.QuarantinePath);
                if (_outgoingPath is not null)
                {
                    _workspace.Counters.CountDelivered();
                    _workspace.WriteFailures.Succeeded(_workspace.Outgoing.Directory);
                }
                if (_quarantinePath is not null)
                {
                    _workspace.Counters.CountQuarantined();
                    _workspace.WriteFailures.Succeeded(_workspace.Quarantine.Directory);
                }
                if (_recordedDelivery is null && (_outgoingPath ?? _quarantinePath) is not null)
                    _workspace.WriteFailures.Succeeded(_workspace.Journal.Location);
                Sender.Tell(new Delivered(_identity, _action!.Value, _outgoingPath, _quarantinePath));
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

    private void SafelyWritten(object message)
    {
        (_currentCommand, _currentRequester) = (message.GetType().Name, Sender);
        switch (message)
        {
            case Admit or Recover:
                Sender.Tell(new Admitted(_identity, _queueId, _size));
                break;
            case Scan:
                Sender.Tell(new Scanned(_identity, _verdict!));
                break;
            case Clean:
                Sender.Tell(new Cleaned(_identity, _action!.Value));
                break;
            case Deliver:
                Sender.Tell(new Delivered(_identity, _action!.Value, _outgoingPath, _quarantinePath));
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
        bool removed;
        try
        {
            removed = QueueFileOperations.DeleteIfStill(_identity, _workPath);
        }
        catch (IOException e)
        {
            _log.Warning("Message {QueueId} ({Identity}) was delivered but its original could not be removed yet: {Reason}", _queueId, _identity, e.Message);
            Sender.Tell(new Failed(_identity, nameof(Delete), e.Message));
            return;
        }
        if (!removed)
            _log.Error("Message {QueueId} ({Identity}): the entry at {WorkPath} is no longer this file; nothing was deleted", _queueId, _identity, _workPath);
        _workspace.Counters.CountDeleted();
        _attemptOpen = false;
        _workspace.Journal.Finished(_identity);
        // One line per message outcome: what an operator greps for when a message is asked about.
        _log.Info(
            "Message {QueueId} {Identity} from <{Sender}> to {RecipientCount} recipient(s), {Size} bytes: {Verdict}, {Action} in {Milliseconds} ms",
            new object[]
            {
                _queueId, _identity, _envelope.Sender, _envelope.Recipients.Count, _size, _verdict!,
                Outcome(),
                _age.ElapsedMilliseconds,
            });
        Sender.Tell(new Deleted(_identity));
        Finish(Gone);
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
        if (_original is not null) _workspace.Closer.Close(_original);
        _original = null;
        _content = Array.Empty<byte>();
        Context.Become(finalState);
        Context.Parent.Tell(new Passivate(PoisonPill.Instance));
    }

    protected override void PostStop() => _original?.Dispose();

    /// <summary>
    /// An exception escaped (a scanner library bug, a poison message), and the supervisor restarts us with empty
    /// state. Before that, while we still know the file: the attempt is already counted in the journal, so the file
    /// goes back to the queue untouched and the command that failed is answered. The message is retried after a
    /// back-off — or, its attempts used up, quarantined as unprocessable — while the messages behind it go on.
    /// </summary>
    protected override void PreRestart(Exception reason, object message)
    {
        if (_original is not null && _workPath.Length > 0)
        {
            var released = NativeFile.TryGetIdentity(_workPath) == _identity && QueueFileOperations.Release(_workPath, _incomingPath);
            _workspace.Counters.CountFailed();
            _log.Error("Message {QueueId} ({Identity}) failed while handling {Command}: {Reason}; the attempt counts, and {Outcome}",
                _queueId, _identity, _currentCommand, $"{reason.GetType().Name}: {reason.Message}",
                released ? "it is back in the incoming queue to be retried" : $"it stays in the work area at {_workPath}");
            _currentRequester.Tell(new Failed(_identity, _currentCommand, $"failed: {reason.Message}"));
        }
        base.PreRestart(reason, message);
    }

    private sealed record ScanDeadlinePassed;
    private string Outcome() => _action switch
    {
        MessageAction.Deliver => $"delivered to {_outgoingPath}",
        MessageAction.DeliverCleaned => $"delivered cleaned to {_outgoingPath}, original quarantined at {_quarantinePath}",
        MessageAction.Store => $"delivered to {_outgoingPath}, copy stored at {_quarantinePath}",
        MessageAction.Quarantine => $"quarantined at {_quarantinePath}",
        _ => "deleted by policy, not delivered",
    };

    private sealed record CopyWritten(string? OutgoingPath, string? QuarantinePath);
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
