namespace MailScanner.Actors.Journal;

/// <summary>
/// What the <see cref="MessageJournal"/> persists. Messages are named by their <see cref="Identity.FileIdentity.Key"/>.
/// </summary>
public interface IMessageJournalEvent;

public static class MessageJournalEvents
{
    public sealed record AttemptStarted(string Key, string QueueId, DateTime TimeUtc);

    public sealed record DeliveryStarted(string Key, DeliveryIntent Intent);

    /// <summary>
    /// The one event persisted: everything that was asked of the journal while its previous write was on its way, in
    /// one row, so a busy gateway (three transitions per message) writes one row per commit rather than one per
    /// transition. Applied in this order, which is the order they can happen in for one message; abandoned and
    /// finished messages are named by their key.
    /// </summary>
    public sealed record Batch(
        IReadOnlyList<AttemptStarted> Attempts,
        IReadOnlyList<string> Abandoned,
        IReadOnlyList<DeliveryStarted> Deliveries,
        IReadOnlyList<string> Finished) : IMessageJournalEvent
    {
        public int Count => Attempts.Count + Abandoned.Count + Deliveries.Count + Finished.Count;
    }
}

/// <summary>The state a snapshot holds: every message the journal still has to remember.</summary>
public sealed record MessageJournalSnapshot(IReadOnlyList<MessageJournalSnapshot.Message> Messages)
{
    public sealed record Message(string Key, string QueueId, int Attempts, DateTime LastAttemptUtc, DeliveryIntent? PendingDelivery);
}
