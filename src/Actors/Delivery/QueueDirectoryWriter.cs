using MailScanner.Actors.Identity;
using MailScanner.Actors.Journal;
using MailScanner.Actors.Queue;

namespace MailScanner.Actors.Delivery;

/// <summary>
/// Writes a file into a queue directory the way MTAs do: a temp name the queue ignores, content made durable, then
/// an atomic rename (never replacing anything) to the final name, made durable too. A reader of the directory
/// therefore sees either nothing or the complete file.
/// </summary>
/// <remarks>
/// The two halves are separate so that the caller can record the staged temp in the journal between them: that
/// record is what makes a delivery exactly-once across crashes (see <see cref="PublishAsync"/>).
/// </remarks>
public sealed class QueueDirectoryWriter
{
    private readonly IOutgoingQueueRules _rules;

    /// <param name="rules">The MTA's part: ownership and mode, the final name, its subdirectory, the wake-up.</param>
    public QueueDirectoryWriter(string directory, DurabilityBarrier barrier, IOutgoingQueueRules rules)
    {
        Directory = directory;
        Barrier = barrier;
        _rules = rules;
    }

    public string Directory { get; }

    /// <summary>The group commit that makes this writer's files durable; the gateway shares one across the delivery's file systems and its journal.</summary>
    public DurabilityBarrier Barrier { get; }

    /// <summary>
    /// Writes <paramref name="content"/> durably under <paramref name="tempName"/> (unique to one message, never all
    /// digits). A leftover of that name is from an attempt that never recorded it, so it was never published: it is
    /// replaced.
    /// </summary>
    public Task<StagedName> StageAsync(ReadOnlyMemory<byte> content, string tempName) => StageAsync(OutgoingEntry.OneFile(content), tempName);

    /// <summary>
    /// Writes the files of <paramref name="entry"/> durably: each companion under <c>&lt;tempName&gt;+&lt;n&gt;</c>
    /// (n from 1, in order), then the primary under <paramref name="tempName"/>; the returned name is the primary's,
    /// and the companions' are derived from it. Leftovers of these names are from an attempt that never recorded them,
    /// so they were never published: they are replaced. (A leftover companion numbered beyond this entry's, possible
    /// only if the queue format changed between the attempts, is never published: the MTA ignores its name.)
    /// </summary>
    /// <remarks>
    /// The files are written before this returns; only the name waits for the barrier. So this does not keep the
    /// entry's bytes alive across the wait, where every message in flight would hold them long enough for the collector
    /// to copy them into its older generations. Failures still come as a faulted task, as from any other write.
    /// </remarks>
    public Task<StagedName> StageAsync(OutgoingEntry entry, string tempName)
    {
        var tempPath = Path.Combine(Directory, tempName);
        StagedName staged;
        try
        {
            // Leftovers are rare (an attempt cut short before its record), so they are looked for only when a name is
            // taken, not before every write: each look is a name missed in a directory of thousands (3.6 % of the
            // gateway's CPU in perf). Then they all go, and the entry is written again from its first file.
            if (TryWriteEntry(tempPath, entry) is not { } written)
            {
                DiscardUnrecorded(tempName);
                written = TryWriteEntry(tempPath, entry) ?? throw new IOException($"cannot stage {tempPath}: the name was taken again");
            }
            staged = new StagedName(tempPath, entry.FinalName ?? _rules.FinalNameFor(written), written.Key);
        }
        catch (Exception e)
        {
            DiscardAfterFailure(tempName);
            return Task.FromException<StagedName>(e);
        }
        return WhenDurableAsync(staged, tempName);
    }

    private async Task<StagedName> WhenDurableAsync(StagedName staged, string tempName)
    {
        try
        {
            await Barrier.WhenDurableAsync().ConfigureAwait(false);
        }
        catch
        {
            DiscardAfterFailure(tempName);
            throw;
        }
        return staged;
    }

    /// <summary>
    /// A disk that filled up mid-write leaves a partial temp: no record names it, so it goes, and its space with it.
    /// Should that fail too, the next attempt replaces it; the write's own error is the one to report.
    /// </summary>
    private void DiscardAfterFailure(string tempName)
    {
        try
        {
            DiscardUnrecorded(tempName);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>The companions' temps, then the primary's; null as soon as one of the names is taken.</summary>
    private FileIdentity? TryWriteEntry(string tempPath, OutgoingEntry entry)
    {
        for (var i = 0; i < entry.Companions.Count; i++)
        {
            if (TryWriteStaged(CompanionTempPath(tempPath, i), entry.Companions[i]) is null) return null;
        }
        return TryWriteStaged(tempPath, entry.Primary);
    }

    private FileIdentity? TryWriteStaged(string path, ReadOnlyMemory<byte> content)
    {
        using var handle = NativeFile.TryCreateExclusive(path);
        if (handle is null) return null;
        RandomAccess.Write(handle, content.Span, 0);
        _rules.PrepareStaged(handle, path);
        return NativeFile.GetIdentity(handle);
    }

    /// <summary>Where the companion at <paramref name="index"/> of the entry staged as <paramref name="tempPath"/> is staged.</summary>
    private static string CompanionTempPath(string tempPath, int index) => $"{tempPath}+{index + 1}";

    /// <summary>
    /// Removes a temp of this name and its companions' temps; only for one no journal entry names (it can never have
    /// been published). Companions are staged in order, so the first one missing ends them.
    /// </summary>
    public void DiscardUnrecorded(string tempName)
    {
        var tempPath = Path.Combine(Directory, tempName);
        if (NativeFile.TryLStat(tempPath) is not null) File.Delete(tempPath);
        for (var i = 0; NativeFile.TryLStat(CompanionTempPath(tempPath, i)) is not null; i++) File.Delete(CompanionTempPath(tempPath, i));
    }

    /// <summary>
    /// Renames a staged temp to its final name, unless an earlier attempt already did, and makes that durable; its
    /// companions first, each made durable before the primary appears, so the MTA never sees the primary alone.
    /// Exactly once: once the journal names a temp, nothing but this rename removes it. So a temp that is still
    /// there (with the recorded identity) was never published, and a temp that is gone was, even if the MTA has
    /// since taken the final file away; which is why we look at the temp, not at the final name.
    /// </summary>
    public async Task<string> PublishAsync(StagedName staged)
    {
        var finalPath = Path.Combine(Directory, staged.FinalName);
        if (NativeFile.TryGetIdentity(staged.Path) is { } present)
        {
            if (present.Key != staged.IdentityKey)
                throw new IOException($"{staged.Path} is not the file that was staged for delivery (identity {present.Key}, recorded {staged.IdentityKey}); left alone");
            if (PublishCompanions(staged)) await Barrier.WhenDurableAsync().ConfigureAwait(false);
            _rules.PrepareToPublish(Directory, staged.FinalName);
            if (NativeFile.TryRenameNoReplace(staged.Path, finalPath) == RenameOutcome.TargetExists)
                throw new IOException($"cannot publish {staged.Path}: {finalPath} already exists");
        }
        // Also when the rename was an earlier attempt's: it may not have reached the disk before that attempt died.
        await Barrier.WhenDurableAsync().ConfigureAwait(false);
        return finalPath;
    }

    /// <summary>Renames each companion temp still there into place; true when any was renamed (or may have been, by an earlier attempt).</summary>
    private bool PublishCompanions(StagedName staged)
    {
        var companions = _rules.CompanionNamesOf(staged.FinalName);
        for (var i = 0; i < companions.Count; i++)
        {
            var tempPath = CompanionTempPath(staged.Path, i);
            if (NativeFile.TryLStat(tempPath) is null) continue; // renamed by an earlier attempt
            var finalPath = Path.Combine(Directory, companions[i]);
            _rules.PrepareToPublish(Directory, companions[i]);
            if (NativeFile.TryRenameNoReplace(tempPath, finalPath) == RenameOutcome.TargetExists)
                throw new IOException($"cannot publish {tempPath}: {finalPath} already exists");
        }
        return companions.Count > 0;
    }

    /// <summary>Tells the MTA that an entry was published (Postfix: wakes qmgr; Exim: delivers it); null, or why it could not.</summary>
    public Task<string?> AnnounceAsync(string publishedPath) => _rules.AnnounceAsync(publishedPath);

    /// <summary>As <see cref="AnnounceAsync"/>, done when the task completes (<see cref="IOutgoingQueueRules.AnnounceNowAsync"/>).</summary>
    public Task<string?> AnnounceNowAsync(string publishedPath) => _rules.AnnounceNowAsync(publishedPath);
}
