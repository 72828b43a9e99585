using System.Globalization;
using System.Text.Json;
using MailScanner.Actors.Identity;

namespace MailScanner.Actors.Quarantine;

/// <summary>Releasing a quarantined message back into the outgoing queue, exactly once across crashes.</summary>
public sealed partial class QuarantineStore
{
    /// <summary>
    /// Releasing happens in five durable steps; a crash can stop it after any of them:
    /// <list type="number">
    /// <item>write the original to <c>tf-quarantine-&lt;id&gt;</c> in the outgoing directory, fsync it and the directory;</item>
    /// <item>write <c>release-intent.json</c> (outgoing directory, temp name, the temp's identity) into the entry, fsync;</item>
    /// <item>rename the temp to its inode number without replacing anything, fsync the directory: the MTA now owns it;</item>
    /// <item>record the release in <c>metadata.json</c> (write aside, fsync, rename over, fsync);</item>
    /// <item>remove the intent.</item>
    /// </list>
    /// Why this releases at most once: the temp name is ours alone and, once an intent names it, only step 3 removes
    /// it. So on a retry that finds an intent, a temp that is still there (with the recorded identity) was never
    /// published and is renamed now, while a temp that is gone was published, and may already have been delivered
    /// and removed by the MTA, which is why we look at the temp rather than at the final name: we only record it.
    /// Without an intent no rename can have happened (step 2 is durable before step 3 starts), so a leftover temp is
    /// an unpublished fragment and is written afresh. After step 4 every attempt is refused as "already released".
    /// Why at least once: the original stays in the quarantine until the release is recorded.
    /// </summary>
    private ReleaseOutcome Release(string id, string outgoingDirectory)
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

        if (File.Exists(intentPath)) return Finish(entryPath, document, Deserialize(intentPath, QuarantineJson.Default.ReleaseIntent));

        if (!System.IO.Directory.Exists(outgoingDirectory))
            return new ReleaseOutcome.Refused($"the outgoing queue directory {outgoingDirectory} does not exist");
        var tempName = OutgoingTempPrefix + id;
        var tempPath = Path.Combine(outgoingDirectory, tempName);
        if (NativeFile.TryLStat(tempPath) is not null) File.Delete(tempPath); // an unpublished fragment (see above)

        var content = File.ReadAllBytes(Path.Combine(entryPath, QueueFileName));
        FileIdentity written;
        using (var handle = NativeFile.CreateExclusive(tempPath))
        {
            RandomAccess.Write(handle, content, fileOffset: 0);
            NativeFile.Sync(handle);
            written = NativeFile.GetIdentity(handle);
        }
        // The temp's name must be durable before the intent says it exists, or a crash could make it look published.
        NativeFile.SyncDirectory(outgoingDirectory);

        var intent = new ReleaseIntent(outgoingDirectory, tempName, written.Key, written.Inode, DateTime.UtcNow);
        WriteNewFile(intentPath, JsonSerializer.SerializeToUtf8Bytes(intent, QuarantineJson.Default.ReleaseIntent), sync: true);
        NativeFile.SyncDirectory(entryPath);
        return Finish(entryPath, document, intent);
    }

    /// <summary>Steps 3 to 5 of <see cref="Release"/>, for a fresh release and for one resumed after a crash.</summary>
    private static ReleaseOutcome Finish(string entryPath, QuarantineDocument document, ReleaseIntent intent)
    {
        var tempPath = Path.Combine(intent.OutgoingDirectory, intent.TempName);
        var finalPath = Path.Combine(intent.OutgoingDirectory, intent.Inode.ToString(CultureInfo.InvariantCulture));
        var recovered = true;
        if (NativeFile.TryLStat(tempPath) is not null)
        {
            if (NativeFile.TryGetIdentity(tempPath)?.Key != intent.OutgoingIdentity)
                return new ReleaseOutcome.Refused(
                    $"{tempPath} is not the file release of {document.Id} wrote (identity differs); left it and {ReleaseIntentFileName} alone for inspection");
            switch (NativeFile.TryRenameNoReplace(tempPath, finalPath))
            {
                case RenameOutcome.Renamed:
                    NativeFile.SyncDirectory(intent.OutgoingDirectory);
                    recovered = false;
                    break;
                case RenameOutcome.TargetExists:
                    // Our inode number is ours alone: whatever has that name is not a queue file we wrote.
                    return new ReleaseOutcome.Refused(
                        $"cannot name the released queue file {finalPath}: a foreign file already has that name; {tempPath} is left for inspection");
                case RenameOutcome.SourceMissing:
                    break; // cannot happen while we hold the entry's lock; if it did, the temp was published
            }
        }

        var release = new QuarantineRelease(DateTime.UtcNow, finalPath, intent.OutgoingIdentity, recovered);
        ReplaceFile(Path.Combine(entryPath, MetadataFileName), Serialize(document with { Release = release }));
        File.Delete(Path.Combine(entryPath, ReleaseIntentFileName));
        return new ReleaseOutcome.Released(finalPath, intent.OutgoingIdentity, recovered);
    }
}
