using Akka.Actor;
using Akka.Event;
using MailScanner.Actors.Batching;
using MailScanner.Actors.Configuration;
using MailScanner.Actors.Identity;
using MailScanner.Actors.Journal;
using MailScanner.Actors.Messages;
using MailScanner.Actors.Metrics;
using static MailScanner.Actors.Messages.MessageReplies;

namespace MailScanner.Actors.Queue;

/// <summary>
/// Watches one incoming queue directory. It finds complete queue files, oldest first, learns each one's
/// identity and hands it to the MessageActor of that identity; it never renames or deletes a queue file.
/// A name that comes back with another identity is simply another message. At most
/// <see cref="QueueSettings.MaxInFlight"/> messages are in process at once: a backlog stays on disk, not in memory.
///
/// When the gateway stops (<see cref="QueueWatcherProtocol.Stop"/>) nothing more is admitted and the messages in
/// flight get the grace period to finish; then each unfinished one is told to let go (<see cref="MessageCommands.LetGo"/>):
/// back to the incoming queue untouched, or, if its copies are being written, finished.
///
/// Nothing is claimed before the message journal has recovered and answers: a claimed message could only wait for
/// it, and a first recovery takes seconds.
///
/// Messages an earlier run was scanning when it died are scanned first, one at a time and alone (see
/// <see cref="RecoverClaims"/>): a message that brings the whole gateway down then takes no other message with it.
///
/// Beside it: <see cref="IncomingQueueListing"/> (what is in the incoming queue), <see cref="CrashIsolationPlan"/>
/// (the order of an earlier run's claims), <see cref="StopInProgress"/> (the stop's bookkeeping),
/// <see cref="CoordinatorPool"/> (which coordinator on which node takes a message), <see cref="CoordinatorOutbox"/>
/// (what each coordinator was assigned and not yet sent), <see cref="AdmissionRouting"/> (clustered: which node's
/// <see cref="AdmissionDesk"/> an admission goes through) and <see cref="QueueWatcherProtocol"/> (what it is told and answers).
/// </summary>
/// <remarks>
/// Over 500 lines on purpose: what is left here is the admission flow itself (listing, admitting, handing to
/// coordinators and, clustered, keeping track of the nodes' coordinators, retries, stop), which reads best in one place;
/// the pieces that stand alone are beside it.
/// </remarks>
public sealed class QueueWatcher : ReceiveActor, IWithTimers
{
    private readonly QueueSettings _settings;
    private readonly IQueueFormat _format;
    private readonly IncomingQueueListing _listing;
    private readonly IActorRef _messages;
    private readonly Func<IActorContext, IReadOnlyList<IActorRef>> _startCoordinators;
    private readonly int _batchSize;
    private readonly PipelineCounters _counters;
    private readonly MessageJournalClient _journal;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private bool _watching;
    private bool _waitingForJournalReported;

    /// <summary>On one node its children; clustered, those of every <c>scan</c> node that registered (see <see cref="CoordinatorPool"/>).</summary>
    private readonly CoordinatorPool _coordinators;
    /// <summary>
    /// Clustered: admitted while no coordinator had registered (this watcher has just started), with the node of each one's
    /// MessageActor. Handed out as that node's coordinators register, or, after <see cref="WaitForOwnNodesCoordinator"/>, to any.
    /// </summary>
    private readonly List<(BatchCoordinatorProtocol.Enqueue Enqueue, Address Node)> _waitingForCoordinator = new();
    /// <summary>Two rounds of registration after this watcher started: by then every live <c>scan</c> node's coordinators have registered.</summary>
    private static readonly TimeSpan WaitForOwnNodesCoordinator = BatchCoordinator.RegisterInterval * 2;
    /// <summary>This incarnation: the coordinators of a cluster drop the batches they drove for an earlier one (see <see cref="BatchCoordinatorProtocol.Registered"/>).</summary>
    private readonly Guid _incarnation = Guid.NewGuid();
    private readonly DateTime _startedAt = DateTime.UtcNow;

    private readonly Queue<string> _candidates = new();
    private readonly Dictionary<FileIdentity, string> _admitting = new();
    private readonly HashSet<string> _admittingNames = new();
    private readonly HashSet<FileIdentity> _inFlight = new();
    /// <summary>Which coordinator drives each message in flight, so that a coordinator that restarts can be given them again.</summary>
    private readonly Dictionary<FileIdentity, (IActorRef Coordinator, BatchCoordinatorProtocol.Enqueue Enqueued)> _assigned = new();
    /// <summary>Assigned and not yet sent: each coordinator's share goes as one message once the mailbox's burst is handled.</summary>
    private readonly CoordinatorOutbox _outbox = new();
    private bool _outboxSendQueued;
    /// <summary>Clustered: the nodes' admission desks and where each shard lives, so that admissions cross the network by the burst.</summary>
    private readonly AdmissionRouting? _routing;
    /// <summary>Messages handed back after a failed stage, and when each may be admitted again.</summary>
    private readonly RetryBackoff _retries;
    private bool _changedSinceListing = true;
    /// <summary>Set once the gateway has begun to stop: nothing more is admitted.</summary>
    private StopInProgress? _stopping;
    private bool _scanQueued;
    private FileSystemWatcher? _changeHint;
    /// <summary>Set while the messages an earlier run was scanning when it died are taken one at a time; nothing else is admitted.</summary>
    private CrashIsolationPlan? _isolation;
    /// <summary>Clustered: claims in the work area that no one drives (their node died) are taken up at each periodic listing.</summary>
    private readonly bool _recoverOrphanedClaims;
    /// <summary>
    /// Clustered: when each admission in progress was first and last sent, what it was (an Admit or a Recover), and to
    /// which node's desk (null: straight to the shard region). One its MessageActor does not answer is sent again, then
    /// given up (see <see cref="RecoverOrphanedClaims"/>); one sent to a node that is gone is given up at once (see
    /// <see cref="CoordinatorGone"/>).
    /// </summary>
    private readonly Dictionary<FileIdentity, AdmissionSent> _admissionSent = new();
    private static readonly TimeSpan AdmissionAnswerTimeout = TimeSpan.FromSeconds(30);
    /// <summary>
    /// An admission not answered within this is sent again, through the shard region. A region that has not yet taken in
    /// that a node is gone still sends its shards' messages there, and they are lost: measured in the crash harness, the
    /// admissions made again the moment a killed node's coordinators were gone all went that way, and the messages waited
    /// the whole <see cref="AdmissionAnswerTimeout"/>. Sending again is harmless: a MessageActor that has its file answers
    /// every Admit and Recover with Admitted.
    /// </summary>
    private static readonly TimeSpan AdmissionResendInterval = TimeSpan.FromSeconds(5);
    /// <summary>The first short look again at an entry the MTA had not finished (see <see cref="LookAgainSoon"/>); doubled each time.</summary>
    private static readonly TimeSpan FirstLookAgain = TimeSpan.FromMilliseconds(10);
    private int _lookAgainRound;
    private DateTime _lastLookAgainAsked;

    public ITimerScheduler Timers { get; set; } = null!;

    public QueueWatcher(QueueSettings settings, IQueueFormat format, IActorRef messages,
        Func<IActorContext, IReadOnlyList<IActorRef>> startCoordinators, int batchSize, PipelineCounters counters,
        MessageJournalClient? journal = null, bool recoverOrphanedClaims = false)
    {
        _settings = settings;
        _recoverOrphanedClaims = recoverOrphanedClaims;
        _routing = recoverOrphanedClaims ? new AdmissionRouting() : null;
        _journal = journal ?? MessageJournalClient.Disabled();
        _format = format;
        _listing = new IncomingQueueListing(settings.Incoming, settings.Bad, format);
        _retries = new RetryBackoff(settings.RetryBackoffMin, settings.RetryBackoffMax);
        _messages = messages;
        _startCoordinators = startCoordinators;
        _batchSize = Math.Max(1, batchSize);
        _coordinators = new CoordinatorPool(_batchSize);
        _counters = counters;

        Receive<QueueWatcherProtocol.ScanQueue>(_ =>
        {
            _scanQueued = false;
            _changedSinceListing = true;
            ScanAndAdmit();
        });
        Receive<PeriodicScan>(_ =>
        {
            _changedSinceListing = true;
            RecoverOrphanedClaims();
            ScanAndAdmit();
        });
        Receive<ChangeHint>(_ =>
        {
            _changedSinceListing = true;
            if (_scanQueued) return;
            _scanQueued = true;
            Self.Tell(QueueWatcherProtocol.ScanQueue.Instance);
        });
        Receive<JournalReady>(ready => StartWatching(ready.Interrupted));
        Receive<JournalNotReady>(notReady =>
        {
            if (!_waitingForJournalReported)
                _log.Warning("Waiting for the message journal ({Location}) before claiming any message: {Reason}", _journal.Location, notReady.Reason);
            _waitingForJournalReported = true;
            Timers.StartSingleTimer("journal-ready", AskJournal.Instance, TimeSpan.FromSeconds(1));
        });
        Receive<AskJournal>(_ => AwaitJournal());
        Receive<Admitted>(admitted => OnAdmitted(admitted, Sender.Path.Address));
        Receive<AdmissionDeskProtocol.AdmittedMany>(many =>
        {
            foreach (var admitted in many.Admitted) OnAdmitted(admitted, Sender.Path.Address);
        });
        Receive<DeskFound>(found => _routing?.DeskFound(found.Desk));
        Receive<DeskNotFound>(notFound => _routing?.LookupFailed(notFound.Node));
        Receive<Refused>(refused => AdmissionEnded(refused.Identity, leaveAlone: true));
        // Also the answer to a LetGo for a message that had already finished or been handed back: its batch reports it.
        Receive<Absorbed>(absorbed =>
        {
            // The file may still be there, held locked by the MTA (the claim let it be): look again soon.
            if (AdmissionEnded(absorbed.Identity, leaveAlone: false) && _stopping is null) LookAgainSoon();
        });
        Receive<BatchCoordinatorProtocol.BatchFinished>(finished =>
        {
            // Driven for an earlier incarnation of this watcher: this one re-admitted those messages and counts them itself.
            if (finished.Watcher is { } driverFor && driverFor != _incarnation) return;
            foreach (var identity in finished.Messages)
            {
                var wasInFlight = _inFlight.Remove(identity);
                _assigned.Remove(identity);
                var handedBack = finished.HandedBack.Contains(identity);
                if (!handedBack) _retries.Forget(identity);
                if (wasInFlight) _stopping?.Count(handedBack ? StopInProgress.MessageOutcome.HandedBack : StopInProgress.MessageOutcome.Finished);
            }
            foreach (var identity in finished.HandedBack) _retries.Failed(identity, DateTime.UtcNow);
            ContinueIsolation();
            ScanAndAdmit();
            StopIfDrained();
        });
        Receive<QueueWatcherProtocol.Stop>(BeginStopping);
        Receive<GracePeriodPassed>(_ => LetGoOfUnfinished());
        Receive<LetGoDeadlinePassed>(_ => EndStopping());
        Receive<HandedBack>(handedBack => LetGoAnswered(handedBack.Identity,
            handedBack.InIncomingQueue ? StopInProgress.MessageOutcome.HandedBack : StopInProgress.MessageOutcome.LeftClaimed));
        Receive<Deleted>(deleted => LetGoAnswered(deleted.Identity, StopInProgress.MessageOutcome.Finished));
        Receive<Failed>(failed => LetGoAnswered(failed.Identity, StopInProgress.MessageOutcome.LeftClaimed));
        Receive<BatchCoordinatorProtocol.CoordinatorRestarted>(_ => GiveBackToRestartedCoordinator(Sender));
        Receive<BatchCoordinatorProtocol.Register>(_ => RegisterCoordinator(Sender));
        Receive<Terminated>(terminated => CoordinatorGone(terminated.ActorRef));
        Receive<CoordinatorsWaitedFor>(_ => AssignWaiting(onlyTo: null));
        Receive<SendOutbox>(_ =>
        {
            _outboxSendQueued = false;
            _outbox.SendAll(Self);
        });
        Receive<QueueWatcherProtocol.GetStatus>(_ => Sender.Tell(new QueueWatcherProtocol.Status(
            _candidates.Count, _admitting.Count, _inFlight.Count, _coordinators.Count)));
    }

    public static Props PropsFor(QueueSettings settings, IQueueFormat format, IActorRef messages,
        Func<IActorContext, IReadOnlyList<IActorRef>> startCoordinators, int batchSize, PipelineCounters counters,
        MessageJournalClient? journal = null, bool recoverOrphanedClaims = false) =>
        Props.Create(() => new QueueWatcher(settings, format, messages, startCoordinators, batchSize, counters, journal, recoverOrphanedClaims));

    protected override void PreStart()
    {
        foreach (var child in _startCoordinators(Context)) _coordinators.Add(child);
        AwaitJournal();
    }

    private void AwaitJournal() =>
        _journal.RecoveredAsync().PipeTo(Self, success: interrupted => new JournalReady(interrupted), failure: e => new JournalNotReady(e.Message));

    private void StartWatching(IReadOnlyDictionary<string, int> interrupted)
    {
        // A gateway told to stop while it waited claims nothing at all.
        if (_watching || _stopping is not null) return;
        _watching = true;
        if (_waitingForJournalReported) _log.Info("The message journal answers: claiming messages");
        RecoverClaims(interrupted);
        // inotify is only a hint that something changed; the periodic listing is what guarantees progress.
        var self = Self;
        _changeHint = new FileSystemWatcher(_settings.Incoming)
        {
            IncludeSubdirectories = true,
            InternalBufferSize = 64 * 1024,
            // Names, and attributes (IN_ATTRIB): an MTA may mark an entry complete by its mode alone, after its name is in
            // place (Postfix's cleanup renames into hold/ and only then fchmods 0700), and a listing on the name alone
            // would leave it to the next periodic one. Not writes: those come by the thousand and complete nothing.
            NotifyFilter = NotifyFilters.FileName | NotifyFilters.DirectoryName | NotifyFilters.Attributes,
        };
        _changeHint.Created += (_, _) => self.Tell(ChangeHint.Instance);
        _changeHint.Renamed += (_, _) => self.Tell(ChangeHint.Instance);
        _changeHint.Changed += (_, _) => self.Tell(ChangeHint.Instance);
        _changeHint.Error += (_, _) => self.Tell(ChangeHint.Instance);
        _changeHint.EnableRaisingEvents = true;
        Timers.StartPeriodicTimer("scan", PeriodicScan.Instance, TimeSpan.Zero, _settings.ScanInterval);
    }

    protected override void PostStop() => _changeHint?.Dispose();

    /// <summary>A coordinator that throws restarts empty; it tells us (PostRestart) and gets its messages again.</summary>
    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(_ => Directive.Restart);

    /// <summary>
    /// Every claim in the work area goes to its MessageActor first, before anything new is admitted: at start-up
    /// these are an earlier run's unfinished messages, which the MessageActor finishes from the journal (a recorded
    /// delivery is completed, never repeated); after this watcher restarted they are messages still in process,
    /// whose MessageActors simply answer Admitted so that new coordinators take them on.
    /// </summary>
    /// <remarks>
    /// The claims whose scanning was interrupted by more than one crash (<paramref name="interrupted"/>) come first,
    /// one at a time with nothing else in process, fewest attempts first (<see cref="CrashIsolationPlan"/> says why).
    /// </remarks>
    private void RecoverClaims(IReadOnlyDictionary<string, int> interrupted)
    {
        var claims = WorkAreaClaim.FindIn(_settings.Work, _settings.Incoming, _format)
            .Where(c => !_admitting.ContainsKey(c.Identity)).ToList();
        var plan = CrashIsolationPlan.For(claims, interrupted, _journal.MaxProcessingAttempts);
        if (plan is null)
        {
            foreach (var claim in claims) Recover(claim);
            return;
        }
        _log.Warning("{Count} message(s) were being scanned when the gateway last ended without finishing them (a crash or a kill); " +
                     "they are scanned one at a time, alone, before anything else, so that a message that brings the gateway down is the only one it counts against",
            plan.Suspects);
        _isolation = plan;
        ContinueIsolation();
    }

    /// <summary>Once nothing is in process: the next interrupted message, or, when none is left, everything else.</summary>
    private void ContinueIsolation()
    {
        if (_isolation is null || _stopping is not null || _admitting.Count > 0 || _inFlight.Count > 0) return;
        if (_isolation.TryTakeNextSuspect(out var next))
        {
            Recover(next);
            return;
        }
        var heldBack = _isolation.HeldBack;
        _isolation = null;
        _log.Info("The messages interrupted by the last ending are done; claiming as usual");
        foreach (var claim in heldBack) Recover(claim);
        ScanAndAdmit();
    }

    /// <summary>
    /// Clustered only: a claim in the work area that is neither being admitted nor in flight here lost its MessageActor
    /// with its node (a command to it then reached a new MessageActor, which absorbed it, so its batch let it go). The
    /// claim is handed to its identity's MessageActor again, which takes it over and resumes it from the journal. On one
    /// node no claim is ever left without an owner while the watcher runs, so this is off there.
    /// </summary>
    private void RecoverOrphanedClaims()
    {
        if (!_recoverOrphanedClaims || !_watching || _stopping is not null || _isolation is not null) return;
        // An Admit or Recover routed to a node that died before it was downed is lost with it: after a while the admission
        // is given up, so that the file is admitted again from the incoming queue, or, claimed meanwhile, taken up below.
        var now = DateTime.UtcNow;
        var unanswered = _admissionSent.Where(a => now - a.Value.At > AdmissionAnswerTimeout).Select(a => a.Key).ToList();
        foreach (var identity in unanswered)
        {
            _log.Warning("Message {Identity}: no answer from its MessageActor within {Timeout} (its node may be gone); it is admitted again", identity, AdmissionAnswerTimeout);
            ForgetAdmission(identity);
        }
        var resend = _admissionSent.Where(a => now - a.Value.LastSent > AdmissionResendInterval).Select(a => a.Key).ToList();
        if (resend.Count > 0)
            _log.Info("{Count} admission(s) not answered within {Interval}; sent again through the shard region", resend.Count, AdmissionResendInterval);
        foreach (var identity in resend)
        {
            var sent = _admissionSent[identity];
            _admissionSent[identity] = sent with { LastSent = now };
            _messages.Tell(sent.Command);
        }
        foreach (var claim in WorkAreaClaim.FindIn(_settings.Work, _settings.Incoming, _format))
        {
            if (_admitting.ContainsKey(claim.Identity) || _inFlight.Contains(claim.Identity)) continue;
            _log.Info("Message {Identity} is claimed in the work area but no node drives it (its node is gone); taking it over", claim.Identity);
            Recover(claim);
        }
    }

    private void Recover(WorkAreaClaim claim)
    {
        _admitting[claim.Identity] = claim.IncomingPath;
        var recover = new MessageCommands.Recover(claim.Identity, claim.WorkPath, claim.IncomingPath);
        if (_recoverOrphanedClaims) _admissionSent[claim.Identity] = AdmissionSent.Now(recover, node: null);
        _admittingNames.Add(Path.GetFileName(claim.IncomingPath));
        _messages.Tell(recover);
    }

    /// <summary>A coordinator lost its batches when it restarted; the messages are still claimed, so it gets them again.</summary>
    private void GiveBackToRestartedCoordinator(IActorRef coordinator)
    {
        var lost = _assigned.Values.Where(a => a.Coordinator.Equals(coordinator)).Select(a => a.Enqueued).ToList();
        if (lost.Count == 0) return;
        _log.Warning("Batch coordinator {Coordinator} restarted; its {Count} message(s) are given to it again", coordinator.Path.Name, lost.Count);
        _outbox.Forget(coordinator); // those not yet sent are among them
        foreach (var enqueued in lost) coordinator.Tell(enqueued);
        coordinator.Tell(BatchCoordinatorProtocol.Flush.Instance);
    }

    /// <summary>
    /// Clustered: a node's coordinator registers (at its start, then every few seconds). It is answered every time, so
    /// that it learns of this incarnation, and watched once: when it ends, its messages are taken up again.
    /// </summary>
    private void RegisterCoordinator(IActorRef coordinator)
    {
        // Registered first: the coordinator takes messages only from the watcher it serves.
        coordinator.Tell(new BatchCoordinatorProtocol.Registered(_incarnation));
        LookForDesk(coordinator.Path.Address);
        if (!_coordinators.Add(coordinator)) return;
        Context.Watch(coordinator);
        _log.Info("Batch coordinator {Coordinator} registered ({Count} in all)", coordinator.Path, _coordinators.Count);
        AssignWaiting(onlyTo: coordinator.Path.Address);
    }

    /// <summary>Clustered: a node whose coordinators register has an admission desk beside them (started with them).</summary>
    private void LookForDesk(Address node)
    {
        if (_routing is null || !_routing.ShouldLookFor(node)) return;
        var path = new RootActorPath(node) / "user" / AdmissionDesk.Name;
        Context.ActorSelection(path).ResolveOne(DeskLookupTimeout)
            .PipeTo(Self, success: desk => new DeskFound(desk), failure: _ => new DeskNotFound(node));
    }

    private static readonly TimeSpan DeskLookupTimeout = TimeSpan.FromSeconds(5);

    /// <summary>The messages waiting for a coordinator of their node (<paramref name="onlyTo"/>), or for any (null).</summary>
    private void AssignWaiting(Address? onlyTo)
    {
        var ready = _waitingForCoordinator.Where(w => onlyTo is null || w.Node.Equals(onlyTo)).ToList();
        if (ready.Count == 0) return;
        _waitingForCoordinator.RemoveAll(ready.Contains);
        foreach (var (enqueue, node) in ready) Assign(enqueue, node);
        FlushIfNothingMoreIsComing();
    }

    /// <summary>
    /// Clustered: a coordinator ended (its node left or died, or it stopped) with the batches it drove. Their messages
    /// leave the in-flight set, so that the periodic look at the work area (<see cref="RecoverOrphanedClaims"/>) hands
    /// each claim to its MessageActor again: a live one answers Admitted and goes to another coordinator, a lost one is
    /// taken over and resumed from the journal, one that finished meanwhile is no longer claimed.
    /// </summary>
    private void CoordinatorGone(IActorRef coordinator)
    {
        if (!_coordinators.Remove(coordinator)) return;
        _outbox.Forget(coordinator);
        if (!_coordinators.HasNode(coordinator.Path.Address))
        {
            _routing?.NodeGone(coordinator.Path.Address);
            AdmissionsToGoneNode(coordinator.Path.Address);
        }
        var lost = _assigned.Where(a => a.Value.Coordinator.Equals(coordinator)).Select(a => a.Key).ToList();
        _log.Warning("Batch coordinator {Coordinator} is gone; its {Count} message(s) are taken up again from the work area", coordinator.Path, lost.Count);
        foreach (var identity in lost)
        {
            _assigned.Remove(identity);
            if (_inFlight.Remove(identity)) _stopping?.Count(StopInProgress.MessageOutcome.LeftClaimed);
        }
        StopIfDrained();
    }

    /// <summary>
    /// The node's last coordinator is gone (it died and was downed, or it left): admissions sent to its desk and not yet
    /// answered will not be, so they are given up now rather than after <see cref="AdmissionAnswerTimeout"/>, and the
    /// files are admitted again (or, claimed meanwhile, taken up as claims no node drives). An answer
    /// that still comes, from a node that was only leaving, is one more admission answered: MessageActors are idempotent.
    /// </summary>
    private void AdmissionsToGoneNode(Address node)
    {
        var unanswered = _admissionSent.Where(a => node.Equals(a.Value.Node)).Select(a => a.Key).ToList();
        if (unanswered.Count == 0) return;
        _log.Warning("{Count} admission(s) sent to {Node} were not answered before its coordinators were gone; they are admitted again", unanswered.Count, node);
        foreach (var identity in unanswered) ForgetAdmission(identity);
        // As the periodic listing does, now: the files still queued are listed again, the ones the dead node had
        // claimed are taken up from the work area.
        Self.Tell(PeriodicScan.Instance);
    }

    private int Capacity => _settings.MaxInFlight - _admitting.Count - _inFlight.Count;

    private void ScanAndAdmit()
    {
        if (_stopping is not null || _isolation is not null) return;
        if (_candidates.Count == 0 && _changedSinceListing && Capacity > 0) ListCandidates();
        AdmitCandidates();
    }

    /// <summary>
    /// Lists the queue directory once: the oldest <see cref="QueueSettings.ListingWindow"/> complete queue files, oldest first.
    /// Anything else is left to the MTA.
    /// </summary>
    private void ListCandidates()
    {
        var listed = _listing.List(_admittingNames, _settings.ListingWindow);
        // Files left unlisted are listed again once these are admitted, with or without a change notification.
        _changedSinceListing = listed.More;
        foreach (var entry in listed.SetAside)
        {
            _counters.CountRefused();
            if (entry.MovedTo is { } badPath) _log.Warning("Queue entry {Path} was moved to {BadPath}: {Reason}", entry.Path, badPath, entry.Reason);
            else _log.Warning("Queue entry {Path} is left in place and ignored: {Reason}", entry.Path, entry.Reason);
        }
        foreach (var path in listed.OldestFirst) _candidates.Enqueue(path);
        if (listed.Incomplete > 0) LookAgainSoon();
    }

    /// <summary>
    /// An entry the MTA was still writing (a Sendmail qf still empty) or still held locked may be finished by a write or
    /// an unlock, neither of which the change notifications report (they would report every write of every message), so
    /// without this it would wait for the next periodic listing. The queue is listed again after 10 ms, then 20, 40, ...
    /// up to the periodic interval while such entries keep turning up, so that one that stays unfinished costs no more
    /// than the periodic listing; after a quiet spell the next one starts at 10 ms again.
    /// </summary>
    private void LookAgainSoon()
    {
        var now = DateTime.UtcNow;
        if (now - _lastLookAgainAsked > _settings.ScanInterval + _settings.ScanInterval) _lookAgainRound = 0;
        _lastLookAgainAsked = now;
        if (Timers.IsTimerActive("look-again")) return;
        var delay = TimeSpan.FromTicks(Math.Min(_settings.ScanInterval.Ticks, FirstLookAgain.Ticks << Math.Min(_lookAgainRound++, 20)));
        Timers.StartSingleTimer("look-again", ChangeHint.Instance, delay);
    }

    private void AdmitCandidates()
    {
        if (_stopping is not null || _isolation is not null) return;
        while (Capacity > 0 && _candidates.TryDequeue(out var path))
        {
            var opened = NativeFile.TryOpenRegularForReading(path, out var handle, out var identity);
            if (opened == OpenOutcome.Missing || opened == OpenOutcome.NotRegular) continue; // gone, or reported at the next listing
            if (opened != OpenOutcome.Opened)
            {
                if (_listing.LeaveInPlace(path))
                {
                    _counters.CountRefused();
                    _log.Warning("Queue file {Path} cannot be opened and is left in place: {Reason}", path, opened.Reason);
                }
                continue;
            }
            handle!.Dispose();
            if (_inFlight.Contains(identity) || _admitting.ContainsKey(identity) || _listing.WasRefused(identity)) continue;
            if (_retries.MustWait(identity, DateTime.UtcNow)) continue;
            _admitting[identity] = path;
            _admittingNames.Add(Path.GetFileName(path));
            var admit = new MessageCommands.Admit(identity, path);
            Address? desk = null;
            if (_routing?.Gather(admit, out var deskNode) == true) desk = deskNode;
            else _messages.Tell(admit);
            if (_recoverOrphanedClaims) _admissionSent[identity] = AdmissionSent.Now(admit, desk);
        }
        _routing?.SendGathered(Self);
        if (_candidates.Count == 0 && _changedSinceListing && Capacity > 0 && !_scanQueued)
        {
            _scanQueued = true;
            Self.Tell(QueueWatcherProtocol.ScanQueue.Instance);
        }
    }

    /// <param name="node">Where its MessageActor runs: the node of the actor that answered (it, or its node's desk).</param>
    private void OnAdmitted(Admitted admitted, Address node)
    {
        _routing?.Seen(admitted, node);
        // An answer we no longer wait for still counts (it may be for an admission made before this watcher
        // restarted); one for a message already in flight does not.
        ForgetAdmission(admitted.Identity);
        if (!_inFlight.Add(admitted.Identity)) return;
        // Told to let go already (the LetGo followed the Admit): its answer to that accounts for it.
        if (_stopping is { LettingGo: true }) return;
        // The MessageActor answered: its address is its node's, whose coordinators then drive it without leaving the node.
        Assign(new BatchCoordinatorProtocol.Enqueue(admitted.Identity, admitted.QueueId, admitted.Size), node);
        FlushIfNothingMoreIsComing();
    }

    private void Assign(BatchCoordinatorProtocol.Enqueue enqueue, Address messageActorNode)
    {
        // Clustered, just started: every live node's coordinators register within a round or two; until then a message
        // waits for its own node's rather than going to whichever node's registered first.
        var mayFallBack = !_recoverOrphanedClaims || DateTime.UtcNow - _startedAt >= WaitForOwnNodesCoordinator;
        var coordinator = _coordinators.For(messageActorNode, mayFallBack);
        if (coordinator is null)
        {
            _waitingForCoordinator.Add((enqueue, messageActorNode));
            if (!Timers.IsTimerActive("coordinators-waited-for"))
                Timers.StartSingleTimer("coordinators-waited-for", CoordinatorsWaitedFor.Instance, WaitForOwnNodesCoordinator);
            return;
        }
        _assigned[enqueue.Identity] = (coordinator, enqueue);
        if (_outbox.Add(coordinator, enqueue)) SendOutboxSoon();
    }

    /// <summary>After the messages already in the mailbox: a burst of answers then reaches each coordinator as one message.</summary>
    private void SendOutboxSoon()
    {
        if (_outboxSendQueued) return;
        _outboxSendQueued = true;
        Self.Tell(SendOutbox.Instance);
    }

    /// <returns>Whether it was an admission in progress.</returns>
    private bool AdmissionEnded(FileIdentity identity, bool leaveAlone)
    {
        if (!ForgetAdmission(identity)) return false;
        if (leaveAlone) _listing.LeaveInPlace(identity);
        FlushIfNothingMoreIsComing();
        ContinueIsolation();
        AdmitCandidates();
        StopIfDrained();
        return true;
    }

    /// <summary>
    /// The first step of a stop: nothing more is admitted (the listing timer ends, change hints are ignored), and the
    /// messages in flight — admitted, or being admitted — get the grace period to finish.
    /// </summary>
    private void BeginStopping(QueueWatcherProtocol.Stop stop)
    {
        if (_stopping is not null)
        {
            _stopping.AnswerWhenEnded(Sender);
            return;
        }
        _stopping = new StopInProgress(stop.GracePeriod, _admitting.Count + _inFlight.Count);
        _stopping.AnswerWhenEnded(Sender);
        Timers.Cancel("scan");
        _candidates.Clear();
        _log.Info("Stopping: no more messages are admitted; the {InFlight} message(s) in flight get up to {GracePeriod} to finish",
            _stopping.InFlightAtStart, stop.GracePeriod);
        if (StopIfDrained()) return;
        Timers.StartSingleTimer("grace-period", GracePeriodPassed.Instance, stop.GracePeriod);
        Timers.StartSingleTimer("let-go-deadline", LetGoDeadlinePassed.Instance, stop.GracePeriod + stop.LetGoAllowance);
    }

    /// <summary>
    /// The grace period has passed: every message still in flight lets go of its file. Those not yet being written
    /// go back to the incoming queue untouched; those being written finish their write and are deleted as usual.
    /// </summary>
    private void LetGoOfUnfinished()
    {
        if (_stopping is null || _stopping.Outcome is not null) return;
        _stopping.LettingGo = true;
        _log.Info("Stopping: the grace period of {GracePeriod} has passed; the {Count} message(s) still in flight are handed back",
            _stopping.GracePeriod, _admitting.Count + _inFlight.Count);
        foreach (var identity in _admitting.Keys.Concat(_inFlight)) _messages.Tell(new MessageCommands.LetGo(identity));
    }

    private void LetGoAnswered(FileIdentity identity, StopInProgress.MessageOutcome outcome)
    {
        if (_stopping is null) return;
        if (!ForgetAdmission(identity) && !_inFlight.Remove(identity)) return;
        _assigned.Remove(identity);
        _waitingForCoordinator.RemoveAll(waiting => waiting.Enqueue.Identity == identity);
        _stopping.Count(outcome);
        StopIfDrained();
    }

    private bool StopIfDrained()
    {
        if (_stopping is null || _stopping.Outcome is not null || _admitting.Count > 0 || _inFlight.Count > 0) return false;
        EndStopping();
        return true;
    }

    /// <summary>Answers the stop; whatever has not answered by now stays claimed in the work area, where the next start resumes it.</summary>
    private void EndStopping()
    {
        if (_stopping is null || _stopping.Outcome is not null) return;
        Timers.Cancel("grace-period");
        Timers.Cancel("let-go-deadline");
        var stopped = _stopping.End(stillClaimed: _admitting.Count + _inFlight.Count + (_isolation?.Waiting ?? 0));
        if (stopped.LeftClaimed == 0)
            _log.Info("Stopped: {Finished} message(s) finished, {HandedBack} handed back to the incoming queue untouched",
                stopped.Finished, stopped.HandedBack);
        else
            _log.Warning("Stopped: {Finished} message(s) finished, {HandedBack} handed back to the incoming queue untouched, " +
                         "{LeftClaimed} left claimed in the work area (the next start resumes them)",
                stopped.Finished, stopped.HandedBack, stopped.LeftClaimed);
        _stopping.AnswerRequesters();
    }

    private bool ForgetAdmission(FileIdentity identity)
    {
        _admissionSent.Remove(identity);
        if (!_admitting.Remove(identity, out var path)) return false;
        _admittingNames.Remove(Path.GetFileName(path));
        return true;
    }

    /// <summary>Once every admission in progress has answered, batches need not wait for more: latency stays low when quiet.</summary>
    private void FlushIfNothingMoreIsComing()
    {
        if (_admitting.Count > 0) return;
        if (_outbox.FlushAll()) SendOutboxSoon();
        _coordinators.EndBurst();
    }

    private sealed record GracePeriodPassed { public static readonly GracePeriodPassed Instance = new(); }
    private sealed record LetGoDeadlinePassed { public static readonly LetGoDeadlinePassed Instance = new(); }
    private sealed record JournalReady(IReadOnlyDictionary<string, int> Interrupted);
    private sealed record JournalNotReady(string Reason);
    private sealed record AskJournal { public static readonly AskJournal Instance = new(); }
    private sealed record CoordinatorsWaitedFor { public static readonly CoordinatorsWaitedFor Instance = new(); }
    private sealed record PeriodicScan { public static readonly PeriodicScan Instance = new(); }

    /// <summary>An admission (Admit or Recover) sent and not yet answered: <see cref="_admissionSent"/>.</summary>
    private sealed record AdmissionSent(DateTime At, DateTime LastSent, Address? Node, IWithFileIdentity Command)
    {
        public static AdmissionSent Now(IWithFileIdentity command, Address? node)
        {
            var now = DateTime.UtcNow;
            return new AdmissionSent(now, now, node, command);
        }
    }
    private sealed record ChangeHint { public static readonly ChangeHint Instance = new(); }
    private sealed record SendOutbox { public static readonly SendOutbox Instance = new(); }
    private sealed record DeskFound(IActorRef Desk);
    private sealed record DeskNotFound(Address Node);
}
