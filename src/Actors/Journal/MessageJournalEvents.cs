namespace MailScanner.Actors.Journal;

/// <summary>
/// The events the <see cref="MessageJournal"/> persists, one row each. Messages are named by their
/// <see cref="Identity.FileIdentity.Key"/>; events stay small because a busy gateway writes thousands a second.
/// </summary>
public interface IMessageJournalEvent
{
    string Key { get; }
}

public static class MessageJournalEvents
{
    public sealed record AttemptStarted(string Key, string QueueId, DateTime TimeUtc) : IMessageJournalEvent;

    public sealed record AttemptAbandoned(string Key) : IMessageJournalEvent;

    public sealed record DeliveryStarted(string Key, DeliveryIntent Intent) : IMessageJournalEvent;

    public sealed record MessageFinished(string Key) : IMessageJournalEvent;
}

/// <summary>The state a snapshot holds: every message the journal still has to remember.</summary>
public sealed record MessageJournalSnapshot(IReadOnlyList<MessageJournalSnapshot.Message> Messages)
{
    public sealed record Message(string Key, string QueueId, int Attempts, DateTime LastAttemptUtc, DeliveryIntent? PendingDelivery);
}
