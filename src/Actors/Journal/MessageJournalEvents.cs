namespace MailScanner.Actors.Journal;

/// <summary>
/// What the <see cref="MessageJournal"/> persists. Messages are named by their <see cref="Identity.FileIdentity.Key"/>.
/// </summary>
public interface IMessageJournalEvent;

public static class MessageJournalEvents
{
    public sealed record AttemptStarted(string Key, string QueueId, DateTime TimeUtc) : IMessageJournalEvent;

    public sealed record AttemptAbandoned(string Key) : IMessageJournalEvent;

    public sealed record DeliveryStarted(string Key, DeliveryIntent Intent) : IMessageJournalEvent;

    public sealed record MessageFinished(string Key) : IMessageJournalEvent;

    /// <summary>
    /// Everything that was asked of the journal while its previous write was on its way, in one row: a busy gateway
    /// records three transitions per message, thousands a second, and a row each would make the journal the
    /// bottleneck. Applied in this order, which is the order they can happen in for one message.
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
