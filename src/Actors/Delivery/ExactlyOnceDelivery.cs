using MailScanner.Actors.Identity;
using MailScanner.Actors.Journal;
using MailScanner.Actors.Policy;
using MailScanner.Actors.Quarantine;
using MailScanner.Actors.Queue;
using MailScanner.Actors.Scanning;

namespace MailScanner.Actors.Delivery;

/// <summary>
/// Everything one delivery needs, fixed before it starts: it runs off the MessageActor's thread, so it reads nothing
/// of the actor's.
/// </summary>
/// <param name="Original">The claimed queue file, untouched: what the quarantine keeps.</param>
/// <param name="OutgoingQueueFile">The queue entry to deliver (original envelope, cleaned and tagged message); null when the action delivers nothing.</param>
/// <param name="Recorded">A delivery an earlier attempt recorded in the journal: completed, never written anew.</param>
public sealed record DeliveryPlan(
    FileIdentity Identity,
    string QueueId,
    QueueEnvelope Envelope,
    Verdict Verdict,
    MessageAction Action,
    ReadOnlyMemory<byte> Original,
    OutgoingEntry? OutgoingQueueFile,
    DeliveryIntent? Recorded)
{
    /// <summary>Not all digits, so the MTA ignores it; derived from the identity, so it is this message's alone.</summary>
    public string OutgoingTempName => $"tf-{Identity.Key}";
}

/// <summary>Where a delivery put the message: null where its action wrote nothing.</summary>
public sealed record DeliveryResult(string? OutgoingPath, string? QuarantinePath)
{
    /// <summary>The MTA could not be told about the new file (it finds it later by itself); once per episode, for the log.</summary>
    public string? AnnounceProblem { get; init; }

    /// <summary>How the one log line per message says what became of it.</summary>
    public string Describe(MessageAction action) => action switch
    {
        MessageAction.Deliver => $"delivered to {OutgoingPath}",
        MessageAction.DeliverCleaned => $"delivered cleaned to {OutgoingPath}, original quarantined at {QuarantinePath}",
        MessageAction.Store => $"delivered to {OutgoingPath}, copy stored at {QuarantinePath}",
        MessageAction.Quarantine => $"quarantined at {QuarantinePath}",
        _ => "deleted by policy, not delivered",
    };
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
public sealed class ExactlyOnceDelivery(QueueDirectoryWriter outgoing, QuarantineStore quarantine, MessageJournalClient journal)
{
    /// <summary>Fails with <see cref="WriteFailedException"/> when a disk or the journal could not take a write.</summary>
    public async Task<DeliveryResult> DeliverAsync(DeliveryPlan plan)
    {
        var intent = plan.Recorded ?? await StageCopiesAsync(plan).ConfigureAwait(false);
        if (plan.Recorded is null && (intent.OutgoingTemp is not null || intent.QuarantineStaging is not null))
        {
            try
            {
                await journal.RecordDeliveryAsync(plan.Identity, intent).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                throw new WriteFailedException(WriteFailure.OfJournal(journal.Location, e.GetBaseException().Message), e);
            }
        }
        var outgoingPath = intent.OutgoingTemp is { } temp ? WritingTo(outgoing.Directory, outgoing.PublishAsync(temp)) : Task.FromResult<string?>(null);
        var quarantinePath = intent.QuarantineStaging is { } staging ? WritingTo(quarantine.Directory, quarantine.PublishAsync(staging)) : Task.FromResult<string?>(null);
        var result = new DeliveryResult(await outgoingPath.ConfigureAwait(false), await quarantinePath.ConfigureAwait(false));
        return result.OutgoingPath is null ? result : result with { AnnounceProblem = await outgoing.AnnounceAsync(result.OutgoingPath).ConfigureAwait(false) };
    }

    private async Task<DeliveryIntent> StageCopiesAsync(DeliveryPlan plan)
    {
        var toOutgoing = plan.Action.Delivers();
        var toQuarantine = plan.Action.KeepsOriginalInQuarantine();
        // An earlier, unrecorded attempt may have staged a copy this action does not write (it was interrupted and
        // this time the message is unprocessable, or the policy changed): nothing will ever publish it.
        if (!toOutgoing) outgoing.DiscardUnrecorded(plan.OutgoingTempName);
        if (!toQuarantine) quarantine.DiscardUnrecorded(plan.Identity.Key);
        var outgoingCopy = toOutgoing
            ? WritingTo(outgoing.Directory, outgoing.StageAsync(plan.OutgoingQueueFile ?? throw new InvalidOperationException(
                $"{plan.Action} delivers, but the plan has no outgoing queue file"), plan.OutgoingTempName))
            : Task.FromResult<StagedName?>(null);
        // The quarantine keeps the original queue file, untouched, with what we know about it beside it.
        var quarantineCopy = toQuarantine
            ? WritingTo(quarantine.Directory, quarantine.StageAsync(plan.Original,
                QuarantineMetadata.For(DateTime.UtcNow, plan.QueueId, plan.Identity, plan.Envelope, plan.Verdict), plan.Identity.Key))
            : Task.FromResult<StagedName?>(null);
        return new DeliveryIntent(plan.Verdict.Kind, plan.Verdict.Reasons, plan.Action,
            await outgoingCopy.ConfigureAwait(false), await quarantineCopy.ConfigureAwait(false));
    }

    /// <summary>A write into <paramref name="directory"/>; a full or failing disk there is named as such (<see cref="WriteFailure"/>).</summary>
    private static async Task<T?> WritingTo<T>(string directory, Task<T> writing) where T : class
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
}
