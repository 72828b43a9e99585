using Akka.Actor;
using MailScanner.Actors.Identity;
using static MailScanner.Actors.Journal.MessageJournalProtocol;

namespace MailScanner.Actors.Journal;

/// <summary>
/// Clustered, one per node, between the node's MessageActors and the journal singleton: what they ask of the journal
/// crosses the network as one <see cref="JournalRelayProtocol.RelayedRequests"/> at a time, carrying everything asked
/// while the previous one was on its way, and comes back as one <see cref="JournalRelayProtocol.RelayedAnswers"/>. The
/// journal writes that way anyway (one write carries every request that arrived during the previous one); without the
/// relay each request and each answer was a remote message of its own, 5 a message, most of them through the node that
/// runs the singletons.
/// </summary>
/// <remarks>
/// The askers wait on the relay as they would on the journal (their own timeout, <see cref="Unavailable"/> when the
/// journal restarts). A batch that gets no answer (its node's journal died with it) is given up after the askers' own
/// timeout, so the relay never waits for it longer than they do.
/// </remarks>
public sealed class JournalRelay : ReceiveActor, IWithTimers
{
    private readonly IActorRef _journal;
    private readonly TimeSpan _answerTimeout;
    private readonly Dictionary<long, IActorRef> _askers = new();
    private readonly List<RelayedBegin> _begins = new();
    private readonly List<RelayedRecord> _records = new();
    private readonly List<FileIdentity> _abandoned = new();
    private readonly List<FileIdentity> _finished = new();
    private long _lastAsk, _lastBatch;
    /// <summary>The batch on its way to the journal and the asks it carries; null when none is.</summary>
    private (long Batch, List<long> Asks)? _outstanding;

    public ITimerScheduler Timers { get; set; } = null!;

    public JournalRelay(IActorRef journal, TimeSpan answerTimeout)
    {
        _journal = journal;
        _answerTimeout = answerTimeout;
        Receive<BeginAttempt>(begin =>
        {
            _begins.Add(new RelayedBegin(Asked(), begin.Identity, begin.QueueId));
            SendIfFree();
        });
        Receive<RecordDelivery>(record =>
        {
            _records.Add(new RelayedRecord(Asked(), record.Identity, record.Intent));
            SendIfFree();
        });
        Receive<AttemptAbandoned>(abandoned =>
        {
            _abandoned.Add(abandoned.Identity);
            SendIfFree();
        });
        Receive<Finished>(finished =>
        {
            _finished.Add(finished.Identity);
            SendIfFree();
        });
        Receive<JournalRelayProtocol.RelayedAnswers>(answers =>
        {
            foreach (var begun in answers.Begun) Answer(begun.Ask, begun.Answer);
            foreach (var recorded in answers.Recorded) Answer(recorded.Ask, new DeliveryRecorded(recorded.Identity));
            foreach (var refused in answers.Refused) Answer(refused.Ask, new Unavailable(refused.Reason));
            if (_outstanding?.Batch == answers.Batch) Release();
        });
        // The journal's supervisor says so while the journal restarts after its database failed: the batch on its way is refused.
        Receive<Unavailable>(unavailable =>
        {
            if (_outstanding is not { } outstanding) return;
            foreach (var ask in outstanding.Asks) Answer(ask, unavailable);
            Release();
        });
        Receive<BatchOverdue>(overdue =>
        {
            if (_outstanding is not { } outstanding || outstanding.Batch != overdue.Batch) return;
            // Its askers have given up by now; a late answer finds none of them.
            foreach (var ask in outstanding.Asks) _askers.Remove(ask);
            Release();
        });
        // Lookups, GetInterrupted, GetSize: rare, and answered by the journal to the asker directly.
        ReceiveAny(message => _journal.Forward(message));
    }

    public static Props PropsFor(IActorRef journal, TimeSpan answerTimeout) => Props.Create(() => new JournalRelay(journal, answerTimeout));

    private long Asked()
    {
        _askers[++_lastAsk] = Sender;
        return _lastAsk;
    }

    private void Answer(long ask, object answer)
    {
        if (_askers.Remove(ask, out var asker)) asker.Tell(answer);
    }

    private void Release()
    {
        _outstanding = null;
        Timers.Cancel(OverdueTimer);
        SendIfFree();
    }

    private void SendIfFree()
    {
        if (_outstanding is not null || _begins.Count + _records.Count + _abandoned.Count + _finished.Count == 0) return;
        var batch = new JournalRelayProtocol.RelayedRequests(++_lastBatch, _begins.ToList(), _records.ToList(), _abandoned.ToList(), _finished.ToList());
        _outstanding = (batch.Batch, batch.Begins.Select(b => b.Ask).Concat(batch.Records.Select(r => r.Ask)).ToList());
        _begins.Clear();
        _records.Clear();
        _abandoned.Clear();
        _finished.Clear();
        _journal.Tell(batch, Self);
        Timers.StartSingleTimer(OverdueTimer, new BatchOverdue(batch.Batch), _answerTimeout);
    }

    private const string OverdueTimer = "overdue";

    private sealed record BatchOverdue(long Batch);
}

/// <summary>What a node's <see cref="JournalRelay"/> and the journal singleton say to each other.</summary>
public static class JournalRelayProtocol
{
    /// <summary>A node's requests, gathered while its previous batch was on its way; <paramref name="Batch"/> numbers them per relay.</summary>
    public sealed record RelayedRequests(
        long Batch,
        IReadOnlyList<RelayedBegin> Begins,
        IReadOnlyList<RelayedRecord> Records,
        IReadOnlyList<FileIdentity> Abandoned,
        IReadOnlyList<FileIdentity> Finished)
    {
        public int Count => Begins.Count + Records.Count + Abandoned.Count + Finished.Count;
    }

    /// <summary>
    /// The answers to one <see cref="RelayedRequests"/>, sent once the write holding all of it is durable (or failed:
    /// then every ask in it is <paramref name="Refused"/>).
    /// </summary>
    public sealed record RelayedAnswers(
        long Batch,
        IReadOnlyList<RelayedAttemptBegun> Begun,
        IReadOnlyList<RelayedDeliveryRecorded> Recorded,
        IReadOnlyList<RelayedRefusal> Refused);
}

/// <param name="Ask">The relay's number for the asker waiting for the answer.</param>
public sealed record RelayedBegin(long Ask, FileIdentity Identity, string QueueId);

public sealed record RelayedRecord(long Ask, FileIdentity Identity, DeliveryIntent Intent);

public sealed record RelayedAttemptBegun(long Ask, AttemptBegun Answer);

public sealed record RelayedDeliveryRecorded(long Ask, FileIdentity Identity);

public sealed record RelayedRefusal(long Ask, string Reason);
