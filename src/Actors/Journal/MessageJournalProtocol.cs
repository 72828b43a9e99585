using MailScanner.Actors.Identity;
using MailScanner.Actors.Policy;
using MailScanner.Actors.Scanning;

namespace MailScanner.Actors.Journal;

/// <summary>
/// What must be published for a message, recorded durably before the first rename that publishes it. Each file is
/// named by a temp name that belongs to this message alone, and the outgoing temp by the identity it was given.
/// </summary>
/// <param name="Verdict">The verdict's kind, so that a resumed message reports (and counts) what it was ...</param>
/// <param name="Reasons">... and why.</param>
/// <param name="Action">The action the policy chose.</param>
/// <param name="OutgoingTemp">The outgoing queue's temp file and its identity key, or null when nothing is delivered.</param>
/// <param name="QuarantineStaging">The quarantine entry's staging directory and the id it is published under, or null.</param>
public sealed record DeliveryIntent(
    VerdictKind Verdict,
    IReadOnlyList<string> Reasons,
    MessageAction Action,
    StagedName? OutgoingTemp,
    StagedName? QuarantineStaging);

/// <param name="Path">Where the staged file or directory is, under its temp name.</param>
/// <param name="FinalName">What it is called once published: the outgoing file's inode number, or the quarantine id.</param>
/// <param name="IdentityKey">The staged outgoing file's <see cref="FileIdentity.Key"/> (null for a quarantine directory).</param>
public sealed record StagedName(string Path, string FinalName, string? IdentityKey);

/// <summary>What MessageActors ask of the <see cref="MessageJournal"/>; every message is keyed by the file's identity.</summary>
public static class MessageJournalProtocol
{
    /// <summary>A processing attempt starts (scanning is about to begin); it counts until it ends in a clean hand-back.</summary>
    public sealed record BeginAttempt(FileIdentity Identity, string QueueId);

    /// <summary>
    /// Durably recorded. <paramref name="Attempt"/> counts this one (1 for a fresh message); <paramref name="PendingDelivery"/>
    /// is an earlier attempt's recorded delivery, which must be completed, never repeated.
    /// </summary>
    public sealed record AttemptBegun(FileIdentity Identity, int Attempt, DeliveryIntent? PendingDelivery);

    public sealed record RecordDelivery(FileIdentity Identity, DeliveryIntent Intent);

    public sealed record DeliveryRecorded(FileIdentity Identity);

    /// <summary>
    /// The attempt ended without judging the message (a scanner was down, a write failed): it goes back to the queue
    /// and the attempt does not count towards the poison limit. Not acknowledged.
    /// </summary>
    public sealed record AttemptAbandoned(FileIdentity Identity);

    /// <summary>The original is deleted (or moved aside): the message needs no memory any more. Not acknowledged.</summary>
    public sealed record Finished(FileIdentity Identity);

    /// <summary>
    /// The answer instead of the one asked for when the journal cannot record anything now: its database failed and it
    /// is restarting (the request may or may not have been written; a recorded delivery is found again either way, see
    /// <see cref="MessageJournal"/>). The asker gives up at once instead of waiting for its timeout.
    /// </summary>
    public sealed record Unavailable(string Reason);

    /// <summary>What is recorded about one message, read-only (tests and operators).</summary>
    public sealed record Lookup(FileIdentity Identity);

    public sealed record Entry(FileIdentity Identity, int Attempts, DeliveryIntent? PendingDelivery);

    /// <summary>
    /// Asked once the journal has recovered: which messages an earlier run of the gateway began to scan and never
    /// finished. Such an attempt ended because the process died — possibly because of that very message.
    /// </summary>
    public sealed record GetInterrupted
    {
        public static readonly GetInterrupted Instance = new();
    }

    /// <param name="AttemptsByKey">Each such message's <see cref="FileIdentity.Key"/> and how many attempts it has had.</param>
    public sealed record Interrupted(IReadOnlyDictionary<string, int> AttemptsByKey);

    /// <summary>How many messages the journal remembers (tests: pruning keeps this bounded).</summary>
    public sealed record GetSize
    {
        public static readonly GetSize Instance = new();
    }

    public sealed record Size(int Messages, long LastSequenceNr);
}
