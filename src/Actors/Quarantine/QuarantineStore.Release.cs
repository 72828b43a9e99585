using System.Text.Json;
using MailScanner.Actors.Delivery;
using MailScanner.Actors.Identity;
using MailScanner.Actors.Journal;
using MailScanner.Actors.Queue;

namespace MailScanner.Actors.Quarantine;

/// <summary>Releasing a quarantined message back into the outgoing queue, exactly once across crashes.</summary>
public sealed partial class QuarantineStore
{
    /// <summary>The durable steps of a release, after each of which a crash can stop it.</summary>
    public enum ReleaseStep
    {
        Staged,
        IntentRecorded,
        Published,
        Recorded,
    }

    /// <summary>Specs only: runs after each step of a release; throwing there stops the release as a crash would.</summary>
    internal Action<ReleaseStep>? AfterReleaseStep { get; set; }

    /// <summary>
    /// Releasing reads the stored original back with the queue format (its envelope and message) and writes it into
    /// the outgoing queue as the format writes a delivered message (<see cref="QueueDirectoryWriter"/>: names,
    /// subdirectories, companion files, owner and mode). It happens in five durable steps; a crash can stop it after
    /// any of them:
    /// <list type="number">
    /// <item>stage the entry in the outgoing directory, its companions as <c>tf-quarantine-&lt;id&gt;+1</c>, ... and its
    /// primary file as <c>tf-quarantine-&lt;id&gt;</c>, and make them durable;</item>
    /// <item>write <c>release-intent.json</c> (outgoing directory, temp name, the primary temp's identity, the final
    /// name) into the entry, fsync;</item>
    /// <item>publish: rename the companions, then the primary, to their final names without replacing anything, durably:
    /// the MTA now owns the entry;</item>
    /// <item>record the release in <c>metadata.json</c> (write aside, fsync, rename over, fsync);</item>
    /// <item>remove the intent.</item>
    /// </list>
    /// Why this releases at most once: the temp names are ours alone and, once an intent names them, only step 3 removes
    /// them, the primary last. So on a retry that finds an intent, a primary temp that is still there (with the recorded
    /// identity) was never published and is published now (with whichever companions are still staged), while one that
    /// is gone was published, and may already have been delivered and removed by the MTA, which is why we look at the
    /// temp rather than at the final name: we only record it. Without an intent no rename can have happened (step 2 is
    /// durable before step 3 starts), so leftover temps are an unpublished fragment and are written afresh. After step 4
    /// every attempt is refused as "already released". Why at least once: the original stays in the quarantine until the
    /// release is recorded. After step 4 the MTA is told, as after a delivery (Postfix: qmgr is woken; Exim, Sendmail: the
    /// delivering MTA is run for the message), and waited for: the release command exits right after.
    /// </summary>
    private async Task<ReleaseOutcome> ReleaseCoreAsync(string id, string outgoingDirectory, IQueueFormat format)
    {
        if (!QuarantineId.IsValid(id)) return NotAnId(id);
        var entryPath = EntryPath(id);
        using var entryLock = TryLockEntry(entryPath, out var busy);
        if (busy) return new ReleaseOutcome.Refused($"quarantine entry {id} is busy: another release or delete of it is running");
        var document = entryLock is null ? null : TryReadDocument(id, entryPath);
        if (document is null) return Unknown(id);

        var intentPath = Path.Combine(entryPath, ReleaseIntentFileName);
        if (document.Release is { } done)
        {
            if (File.Exists(intentPath)) File.Delete(intentPath); // the crash came after step 4
            return new ReleaseOutcome.Refused(
                $"quarantine entry {id} was already released on {done.TimeUtc:yyyy-MM-dd HH:mm:ss}Z to {done.OutgoingPath}");
        }

        if (File.Exists(intentPath))
        {
            var recorded = Deserialize(intentPath, QuarantineJson.Default.ReleaseIntent);
            using var resumed = new DurabilityBarrier(recorded.OutgoingDirectory);
            return await FinishAsync(entryPath, document, recorded, new QueueDirectoryWriter(recorded.OutgoingDirectory, resumed, format.Outgoing))
                .ConfigureAwait(false);
        }

        if (!System.IO.Directory.Exists(outgoingDirectory))
            return new ReleaseOutcome.Refused($"the outgoing queue directory {outgoingDirectory} does not exist");
        var read = ReadBack(document, File.ReadAllBytes(Path.Combine(entryPath, QueueFileName)), format);
        if (read is not QueueFileParse.Parsed parsed) return new ReleaseOutcome.Refused(WhyNotReleasable(document, format, read));
        // What the format's delivery writes for this message: its envelope (as read) around its message, unchanged; under
        // a queue id of its own, as the cleaned copy delivered under the claimed one may still be queued.
        var entry = format.ComposeOutgoing(format.WithNewQueueId(parsed), parsed.Message.Span);

        using var barrier = new DurabilityBarrier(outgoingDirectory);
        var writer = new QueueDirectoryWriter(outgoingDirectory, barrier, format.Outgoing);
        var tempName = OutgoingTempPrefix + id;
        // Leftover temps of this name are an unpublished fragment (see above): the writer replaces them.
        var staged = await writer.StageAsync(entry, tempName).ConfigureAwait(false);
        AfterReleaseStep?.Invoke(ReleaseStep.Staged);
        var inode = NativeFile.TryGetIdentity(staged.Path)?.Inode ?? throw new IOException($"{staged.Path} vanished right after it was staged");

        var intent = new ReleaseIntent(outgoingDirectory, tempName, staged.IdentityKey!, inode, DateTime.UtcNow, staged.FinalName);
        WriteNewFile(intentPath, JsonSerializer.SerializeToUtf8Bytes(intent, QuarantineJson.Default.ReleaseIntent), sync: true);
        NativeFile.SyncDirectory(entryPath);
        AfterReleaseStep?.Invoke(ReleaseStep.IntentRecorded);
        return await FinishAsync(entryPath, document, intent, writer).ConfigureAwait(false);
    }

    /// <summary>Steps 3 to 5 of <see cref="ReleaseCoreAsync"/>, for a fresh release and for one resumed after a crash.</summary>
    private async Task<ReleaseOutcome> FinishAsync(string entryPath, QuarantineDocument document, ReleaseIntent intent, QueueDirectoryWriter writer)
    {
        var tempPath = Path.Combine(intent.OutgoingDirectory, intent.TempName);
        var recovered = NativeFile.TryLStat(tempPath) is null;
        if (!recovered && NativeFile.TryGetIdentity(tempPath)?.Key != intent.OutgoingIdentity)
            return new ReleaseOutcome.Refused(
                $"{tempPath} is not the file release of {document.Id} wrote (identity differs); left it and {ReleaseIntentFileName} alone for inspection");
        string finalPath;
        try
        {
            finalPath = await writer.PublishAsync(new StagedName(tempPath, intent.PublishedName, intent.OutgoingIdentity)).ConfigureAwait(false);
        }
        catch (IOException e) when (e.Message.Contains("already exists", StringComparison.Ordinal))
        {
            // Our names are ours alone (ZMailer, Postfix: the inode; Exim, Sendmail: the message's id): whatever has one is not ours.
            return new ReleaseOutcome.Refused(
                $"cannot publish the released queue entry as {Path.Combine(intent.OutgoingDirectory, intent.PublishedName)}: a foreign file already has that name ({e.Message}); {tempPath} is left for inspection");
        }

        AfterReleaseStep?.Invoke(ReleaseStep.Published);
        var release = new QuarantineRelease(DateTime.UtcNow, finalPath, intent.OutgoingIdentity, recovered);
        ReplaceFile(Path.Combine(entryPath, MetadataFileName), Serialize(document with { Release = release }));
        AfterReleaseStep?.Invoke(ReleaseStep.Recorded);
        File.Delete(Path.Combine(entryPath, ReleaseIntentFileName));
        // A recovered release's entry may be delivered and gone already: then there is nothing to tell.
        var announceProblem = File.Exists(finalPath) ? await writer.AnnounceNowAsync(finalPath).ConfigureAwait(false) : null;
        return new ReleaseOutcome.Released(finalPath, intent.OutgoingIdentity, recovered) { AnnounceProblem = announceProblem };
    }

    /// <summary>
    /// The stored original read back with the format, as it was claimed: its files split again by the lengths recorded
    /// when it was quarantined. Malformed (saying why) when the format cannot read it.
    /// </summary>
    private static QueueFileParse ReadBack(QuarantineDocument document, byte[] stored, IQueueFormat format)
    {
        if (document.QueueFormat is { } quarantinedFrom && quarantinedFrom != format.Name)
            return new QueueFileParse.Malformed($"it was quarantined from a {quarantinedFrom} queue, and mailscanner.queue.format is {format.Name}");
        if (document.PartLengths is not { Count: > 1 } lengths) return format.ParseEntry(QueueEntryContent.OneFile(stored));
        if (lengths.Any(length => length < 0) || lengths.Sum(length => (long)length) != stored.Length)
            return new QueueFileParse.Malformed($"partLengths in {MetadataFileName} ({string.Join(", ", lengths)}) do not add up to the {stored.Length} bytes of {QueueFileName}");
        var parts = new List<ReadOnlyMemory<byte>>(lengths.Count);
        var offset = 0;
        foreach (var length in lengths)
        {
            parts.Add(stored.AsMemory(offset, length));
            offset += length;
        }
        return format.ParseEntry(new QueueEntryContent(parts[0], parts.Skip(1).ToList()));
    }

    private static string WhyNotReleasable(QuarantineDocument document, IQueueFormat format, QueueFileParse read)
    {
        var reason = read is QueueFileParse.Malformed malformed ? malformed.Reason : "unreadable";
        var missing = document.PartLengths is null && document.QueueFormat is null && format.CompanionPathsOf("entry").Count > 0
            ? $"; the entry was stored before the quarantine recorded the lengths of a {format.Name} entry's files (partLengths in {MetadataFileName}), so its {QueueFileName} cannot be split back into them"
            : "";
        return $"quarantine entry {document.Id} cannot be released as a {format.Name} queue entry: {reason}{missing}; nothing was written";
    }
}
