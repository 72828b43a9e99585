using MailScanner.Actors.Identity;
using MailScanner.Actors.Queue;
using Microsoft.Win32.SafeHandles;

namespace MailScanner.Actors.Messages;

/// <summary>
/// The destructive file operations of a MessageActor, each guarded by the identity it was given. None of
/// them acts on a name alone: a name can be reused by a new file at any moment, an identity cannot.
/// </summary>
/// <remarks>
/// The claimed file stays open until it is deleted. While a descriptor holds an inode, no other file on that
/// file system can be given its number, so "the entry at this path has our (device, inode)" is then proof
/// that it is our file — one statx instead of a second open and ioctl.
/// </remarks>
internal static class QueueFileOperations
{
    /// <summary>
    /// Moves the entry whose primary file carries <paramref name="expected"/> from the queue into our private work area:
    /// the primary first, then its companions (<see cref="IQueueFormat.CompanionPathsOf"/>), each under the MTA's lock
    /// where the format has one. rename(2) of the primary is the atomic step: of all workers, processes and nodes,
    /// exactly one succeeds. A crash before the companions follow leaves them in the incoming queue beside a name no
    /// longer complete there (the MTA lists entries by their primary); <see cref="MessageClaim.TakeOver"/> fetches them.
    /// </summary>
    public static ClaimOutcome Claim(FileIdentity expected, string incomingPath, string workPath, IQueueFormat format)
    {
        var opened = NativeFile.TryOpenRegularForReading(incomingPath, out var handle, out var identity);
        if (opened == OpenOutcome.Missing) return new ClaimOutcome.Gone("file already gone from the queue");
        if (opened == OpenOutcome.NotRegular) return new ClaimOutcome.Gone("name no longer holds a regular file");
        if (opened != OpenOutcome.Opened) return new ClaimOutcome.Unreadable(opened.Reason);

        var keepOpen = false;
        var companions = new List<(string IncomingPath, string WorkPath, SafeFileHandle Handle)>();
        try
        {
            if (identity != expected)
                return new ClaimOutcome.Gone("name now belongs to a newer file");
            if (!format.TryLockForClaim(handle!, incomingPath))
                return new ClaimOutcome.Gone("the MTA is working on it (it holds its lock); looked at again later");
            foreach (var companionPath in format.CompanionPathsOf(incomingPath))
            {
                var companionOpened = NativeFile.TryOpenRegularForReading(companionPath, out var companion);
                if (companionOpened != OpenOutcome.Opened)
                    return new ClaimOutcome.Unreadable($"its companion {Path.GetFileName(companionPath)} is {DescribeUnopened(companionOpened)}");
                companions.Add((companionPath, CompanionWorkPath(workPath, expected, companionPath), companion!));
                if (!format.TryLockForClaim(companion!, companionPath))
                    return new ClaimOutcome.Gone($"the MTA is working on it (it holds its lock on {Path.GetFileName(companionPath)}); looked at again later");
            }

            switch (NativeFile.TryRenameNoReplace(incomingPath, workPath))
            {
                case RenameOutcome.SourceMissing: return new ClaimOutcome.Gone("claimed by another worker");
                case RenameOutcome.TargetExists: return new ClaimOutcome.Gone("already claimed into the work area");
            }

            // Between our identity check and the rename the name could have been handed to another file.
            // If that happened we hold someone else's message: give it back untouched.
            if (!IsStill(expected, workPath))
            {
                NativeFile.TryRenameNoReplace(workPath, incomingPath);
                return new ClaimOutcome.Gone("name was reused while claiming; the newer file was put back");
            }

            for (var i = 0; i < companions.Count; i++)
            {
                if (NativeFile.TryRenameNoReplace(companions[i].IncomingPath, companions[i].WorkPath) == RenameOutcome.Renamed) continue;
                // Not ours after all (gone while we held it open, or a stale name in the work area): the entry goes back as it was.
                for (var j = i - 1; j >= 0; j--) NativeFile.TryRenameNoReplace(companions[j].WorkPath, companions[j].IncomingPath);
                NativeFile.TryRenameNoReplace(workPath, incomingPath);
                return new ClaimOutcome.Unreadable($"its companion {Path.GetFileName(companions[i].IncomingPath)} could not be moved with it; the entry was put back");
            }

            keepOpen = true;
            return new ClaimOutcome.Claimed(ReadAll(handle!), handle!,
                companions.Select(c => new CompanionFile(c.IncomingPath, c.WorkPath, ReadAll(c.Handle))).ToList());
        }
        finally
        {
            // Closing a companion ends the MTA lock we took on it: by then it is in our work area, or back where it was.
            foreach (var companion in companions) companion.Handle.Dispose();
            if (!keepOpen) handle!.Dispose();
        }
    }

    private static string DescribeUnopened(OpenOutcome outcome) =>
        outcome == OpenOutcome.Missing ? "missing" : outcome == OpenOutcome.NotRegular ? "not a regular file" : $"unreadable ({outcome.Reason})";

    /// <summary>Where a companion of the entry claimed to <paramref name="workPath"/> lies in the work area.</summary>
    public static string CompanionWorkPath(string workPath, FileIdentity identity, string companionIncomingPath) =>
        Path.Combine(Path.GetDirectoryName(workPath)!, WorkArea.CompanionEntryName(identity, Path.GetFileName(companionIncomingPath)));

    /// <summary>
    /// Unlinks the claimed entry only if its primary file is still the one we hold open, then its companions. A crash
    /// between the two leaves companions whose primary is gone from the work area; the next start removes them
    /// (<see cref="WorkAreaClaim.FindIn"/>).
    /// </summary>
    public static bool DeleteIfStill(ClaimedMessage message)
    {
        if (!IsStill(message.Identity, message.WorkPath)) return false;
        File.Delete(message.WorkPath);
        foreach (var companion in message.Companions) File.Delete(companion.WorkPath);
        return true;
    }

    /// <summary>
    /// Puts a claimed entry back into the queue under its own names, to be picked up again later: companions first,
    /// the primary last, so that the entry is complete in the queue only once it is whole.
    /// </summary>
    public static bool Release(ClaimedMessage message)
    {
        foreach (var companion in message.Companions)
        {
            if (NativeFile.TryRenameNoReplace(companion.WorkPath, companion.IncomingPath) == RenameOutcome.TargetExists) return false;
        }
        return NativeFile.TryRenameNoReplace(message.WorkPath, message.IncomingPath) == RenameOutcome.Renamed;
    }

    /// <summary>
    /// Moves a claimed entry into the bad directory without replacing anything there: companions first (each as
    /// <c>&lt;its name&gt;.&lt;identity key&gt;</c>), then the primary as <paramref name="name"/>, whose path is returned.
    /// </summary>
    public static string? MoveAside(ClaimedMessage message, string badDirectory, string name)
    {
        foreach (var companion in message.Companions)
        {
            var companionTarget = Path.Combine(badDirectory, $"{Path.GetFileName(companion.IncomingPath)}.{message.Identity.Key}");
            if (NativeFile.TryRenameNoReplace(companion.WorkPath, companionTarget) == RenameOutcome.TargetExists) return null;
        }
        var target = Path.Combine(badDirectory, name);
        return NativeFile.TryRenameNoReplace(message.WorkPath, target) == RenameOutcome.Renamed ? target : null;
    }

    /// <summary>Valid only while the caller holds the file open (see the remarks on this class).</summary>
    private static bool IsStill(FileIdentity held, string path) =>
        NativeFile.TryLStat(path) is { Kind: FileKind.Regular } status && status.Device == held.Device && status.Inode == held.Inode;

    public static byte[] ReadAll(SafeFileHandle handle)
    {
        var length = RandomAccess.GetLength(handle);
        var content = new byte[length];
        var read = 0;
        while (read < length)
        {
            var n = RandomAccess.Read(handle, content.AsSpan(read), read);
            if (n == 0) break;
            read += n;
        }
        return read == length ? content : content[..read];
    }
}

internal abstract record ClaimOutcome
{
    /// <summary>The entry is ours; <paramref name="Handle"/> keeps its primary open (and its inode number reserved) until it is deleted.</summary>
    public sealed record Claimed(byte[] Content, SafeFileHandle Handle, IReadOnlyList<CompanionFile> Companions) : ClaimOutcome;
    public sealed record Gone(string Why) : ClaimOutcome;
    public sealed record Unreadable(string Why) : ClaimOutcome;
}
