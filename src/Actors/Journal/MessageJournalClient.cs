using Akka.Actor;
using MailScanner.Actors.Identity;
using static MailScanner.Actors.Journal.MessageJournalProtocol;

namespace MailScanner.Actors.Journal;

/// <summary>
/// How a MessageActor talks to the <see cref="MessageJournal"/>. The two records that must be durable before the
/// actor goes on are asked for and awaited; the others are told. With the journal disabled every record is
/// accepted at once and nothing is remembered.
/// </summary>
public sealed class MessageJournalClient
{
    private readonly IActorRef? _journal;
    private readonly TimeSpan _timeout;

    private MessageJournalClient(IActorRef? journal, TimeSpan timeout, int maxProcessingAttempts, string location, bool durableOnWrite = true)
    {
        _journal = journal;
        DurableOnWrite = durableOnWrite;
        Location = location;
        _timeout = timeout;
        MaxProcessingAttempts = maxProcessingAttempts;
    }

    public static MessageJournalClient For(IActorRef journal, JournalSettings settings) =>
        new(journal, settings.AnswerTimeout, settings.MaxProcessingAttempts, settings.Location, settings.DurableOnWrite);

    /// <summary>No journal: at-least-once delivery across crashes, and no attempt counting (attempt 1, always).</summary>
    public static MessageJournalClient Disabled(int maxProcessingAttempts = 6) => new(null, TimeSpan.Zero, maxProcessingAttempts, "disabled");

    public int MaxProcessingAttempts { get; }

    /// <summary>False when there is no journal: nothing is remembered, so nothing waits to be forgotten.</summary>
    public bool Enabled => _journal is not null;

    /// <summary>
    /// Whether a write is durable once answered (PostgreSQL commits with its own fsync). False for SQLite, which runs in
    /// synchronous=NORMAL: its writes survive a crash of the process at once, a power cut only after the delivery path's
    /// next <see cref="Delivery.DurabilityBarrier"/> round.
    /// </summary>
    public bool DurableOnWrite { get; }

    /// <summary>The journal's database: where a journal that cannot write is reported to be.</summary>
    public string Location { get; }

    /// <summary>
    /// Completes once the journal has recovered and answers requests (at once when there is no journal), with the
    /// messages whose scanning an earlier run began and never finished (<see cref="GetInterrupted"/>).
    /// </summary>
    public async Task<IReadOnlyDictionary<string, int>> RecoveredAsync() =>
        _journal is null
            ? new Dictionary<string, int>()
            : (await AskAsync<Interrupted>(GetInterrupted.Instance).ConfigureAwait(false)).AttemptsByKey;

    public Task<AttemptBegun> BeginAttemptAsync(FileIdentity identity, string queueId) =>
        _journal is null
            ? Task.FromResult(new AttemptBegun(identity, 1, null))
            : AskAsync<AttemptBegun>(new BeginAttempt(identity, queueId));

    public Task RecordDeliveryAsync(FileIdentity identity, DeliveryIntent intent) =>
        _journal is null ? Task.CompletedTask : AskAsync<DeliveryRecorded>(new RecordDelivery(identity, intent));

    /// <summary>
    /// The journal's answer, or <see cref="MessageJournalUnavailableException"/> when it said it cannot record now
    /// (<see cref="Unavailable"/>: its database failed, it restarts) or did not answer in time.
    /// </summary>
    private async Task<T> AskAsync<T>(object request)
    {
        object answer;
        try
        {
            answer = await _journal!.Ask<object>(request, _timeout).ConfigureAwait(false);
        }
        catch (AskTimeoutException)
        {
            throw new MessageJournalUnavailableException($"no answer within {_timeout.TotalSeconds:F0} s");
        }
        return answer switch
        {
            T expected => expected,
            Unavailable unavailable => throw new MessageJournalUnavailableException(unavailable.Reason),
            _ => throw new InvalidOperationException($"the message journal answered {request.GetType().Name} with {answer.GetType().Name}"),
        };
    }

    public void AttemptAbandoned(FileIdentity identity) => _journal?.Tell(new MessageJournalProtocol.AttemptAbandoned(identity));

    public void Finished(FileIdentity identity) => _journal?.Tell(new Finished(identity));
}

/// <summary>The journal could not record a request (its database failed and it restarts, or it did not answer in time).</summary>
public sealed class MessageJournalUnavailableException(string reason) : Exception(reason);
