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
    /// <summary>The queue format the original was read with (<c>mailscanner.queue.format</c>), kept with it in the quarantine.</summary>
    public string? QueueFormat { get; init; }

    /// <summary>The lengths of the files <see cref="Original"/> joins (<see cref="QueueFileParse.Parsed.OriginalPartLengths"/>).</summary>
    public IReadOnlyList<int>? OriginalPartLengths { get; init; }

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
/// <item>rename each copy into place (never replacing anything), durably; only then may the original go;</item>
/// <item>unlink the original, durably; only then may the journal forget the message (<see cref="ForgetOnceDurable"/>).</item>
/// </list>
/// A crash before 2 leaves temps no record names: the next attempt replaces them. After 2 the next attempt finds
/// the record and only completes step 3 — a temp still there is renamed now, a temp gone was renamed before — so
/// the message is never written a second time, and the original is deleted only after step 3 is durable.
/// </summary>
/// <remarks>
/// <para>
/// <b>Durability is shared, not repeated.</b> "Durably" above means: a round of the one <see cref="DurabilityBarrier"/>
/// (syncfs of every file system involved: outgoing, quarantine, work area, the SQLite journal's directory) that
/// started after the step's writes returned. SQLite runs in synchronous=NORMAL: a commit is in its write-ahead log
/// (so it survives the process dying at once) but is certain to be on disk only after such a round, which makes the
/// queue files of every message in flight durable with it. Each message passes four barriers, each shared by all the messages that reach it in
/// the same millisecond:
/// </para>
/// <code>
///   stage temp ─B1─► record in journal ─B2─► rename temp → final ─B3─► unlink original ─B4─► journal: Finished
/// </code>
/// <para>
/// The rule that makes a power cut harmless: <i>a write is issued only after everything it depends on is durable</i>.
/// A write that is not yet covered by a barrier may reach the disk at any moment or never (page write-back, an SQLite
/// checkpoint, the cut); either way only steps whose prerequisites are already on disk can be there. Then, cut
/// anywhere, the disk holds a state in which:
/// </para>
/// <list type="bullet">
/// <item>B1 before the record: a record on disk names temps that are on disk with their content, so "the temp is gone"
/// can only mean "it was renamed"; without B1 a cut could keep the record and drop the temp, and recovery would
/// delete an original that was never delivered (lost).</item>
/// <item>B2 before the rename: a final file on disk has its record on disk, so recovery completes it instead of
/// scanning and delivering the message again; without B2 a cut could keep the rename and drop the record
/// (duplicated).</item>
/// <item>B3 before the unlink: an original gone from disk has its copies on disk under their final names.</item>
/// <item>B4 before Finished: a journal that has forgotten the message has its original gone from disk too; without
/// B4 a cut could keep Finished and drop the unlink, and the original would be taken as a new message
/// (duplicated).</item>
/// </list>
/// <para>
/// SQLite keeps a prefix of its commits across a cut (its log is checksummed frame by frame), so a later record is never
/// on disk without the earlier ones. An attempt recorded before scanning (BeginAttempt) needs no barrier: it counts
/// crashes of the process, which NORMAL survives, and losing one to a power cut only gives the message an attempt back.
/// A record an earlier run wrote and this run read at recovery (<see cref="DeliveryPlan.Recorded"/>) may still be only in
/// the page cache when the earlier run was killed, so it goes through B2 too. With PostgreSQL a record is durable when
/// the server answers (<see cref="MessageJournalClient.DurableOnWrite"/>), so B2 is skipped; B4 still orders the unlink
/// before Finished. <c>PowerCutSpecs</c> restores what each round made durable, and every mix of two neighbouring
/// rounds' queues and journal, and checks that recovery neither loses nor duplicates.
/// </para>
/// </remarks>
public sealed class ExactlyOnceDelivery(QueueDirectoryWriter outgoing, QuarantineStore quarantine, MessageJournalClient journal)
{
    /// <summary>Fails with <see cref="WriteFailedException"/> when a disk or the journal could not take a write.</summary>
    /// <remarks>
    /// Not itself async: the plan's outgoing entry, composed for this delivery and held by nothing else, is written by
    /// the time staging returns, so that it is not kept alive across the barrier waits below (what lives through those
    /// waits, the collector copies). The original stays with its MessageActor until its Delete either way.
    /// </remarks>
    public Task<DeliveryResult> DeliverAsync(DeliveryPlan plan)
    {
        Task<DeliveryIntent> staged;
        try
        {
            staged = plan.Recorded is { } recorded ? Task.FromResult(recorded) : StageCopies(plan);
        }
        catch (Exception e)
        {
            staged = Task.FromException<DeliveryIntent>(e);
        }
        return PublishAsync(plan.Identity, recordedEarlier: plan.Recorded is not null, staged);
    }

    private async Task<DeliveryResult> PublishAsync(FileIdentity identity, bool recordedEarlier, Task<DeliveryIntent> staged)
    {
        var intent = await staged.ConfigureAwait(false);
        var publishes = intent.OutgoingTemp is not null || intent.QuarantineStaging is not null;
        if (publishes)
        {
            try
            {
                if (!recordedEarlier) await journal.RecordDeliveryAsync(identity, intent).ConfigureAwait(false);
                // B2: the record on disk before any rename it decides.
                if (!journal.DurableOnWrite) await outgoing.Barrier.WhenDurableAsync().ConfigureAwait(false);
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

    /// <summary>
    /// The original was unlinked (or moved aside): the journal forgets the message once that is durable (B4), never
    /// before. Should the flush fail or the gateway be stopping, the record stays: a recorded delivery whose original
    /// is gone is never acted on, and one whose original came back is completed, not repeated.
    /// </summary>
    public void ForgetOnceDurable(FileIdentity identity)
    {
        if (!journal.Enabled) return;
        Task durable;
        try
        {
            durable = outgoing.Barrier.WhenDurableAsync();
        }
        catch (ObjectDisposedException)
        {
            return;
        }
        durable.ContinueWith(flushed =>
        {
            if (flushed.IsCompletedSuccessfully) journal.Finished(identity);
        }, TaskScheduler.Default);
    }

    private Task<DeliveryIntent> StageCopies(DeliveryPlan plan)
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
                QuarantineMetadata.For(DateTime.UtcNow, plan.QueueId, plan.Identity, plan.Envelope, plan.Verdict)
                    with { QueueFormat = plan.QueueFormat, PartLengths = plan.OriginalPartLengths }, plan.Identity.Key))
            : Task.FromResult<StagedName?>(null);
        return IntentOnceStaged(plan.Verdict.Kind, plan.Verdict.Reasons, plan.Action, outgoingCopy, quarantineCopy);
    }

    private static async Task<DeliveryIntent> IntentOnceStaged(VerdictKind verdict, IReadOnlyList<string> reasons, MessageAction action,
        Task<StagedName?> outgoingCopy, Task<StagedName?> quarantineCopy) =>
        new(verdict, reasons, action, await outgoingCopy.ConfigureAwait(false), await quarantineCopy.ConfigureAwait(false));

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
