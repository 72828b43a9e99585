using MailScanner.Actors.Identity;
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
    /// Moves the file that carries <paramref name="expected"/> from the queue into our private work area.
    /// rename(2) is the atomic step: of all workers, processes and nodes, exactly one succeeds.
    /// </summary>
    public static ClaimOutcome Claim(FileIdentity expected, string incomingPath, string workPath)
    {
        var opened = NativeFile.TryOpenRegularForReading(incomingPath, out var handle);
        if (opened == OpenOutcome.Missing) return new ClaimOutcome.Gone("file already gone from the queue");
        if (opened == OpenOutcome.NotRegular) return new ClaimOutcome.Gone("name no longer holds a regular file");
        if (opened != OpenOutcome.Opened) return new ClaimOutcome.Unreadable(opened.Reason);

        var keepOpen = false;
        try
        {
            if (NativeFile.GetIdentity(handle!) != expected)
                return new ClaimOutcome.Gone("name now belongs to a newer file");

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

            keepOpen = true;
            return new ClaimOutcome.Claimed(ReadAll(handle!), handle!);
        }
        finally
        {
            if (!keepOpen) handle!.Dispose();
        }
    }

    /// <summary>Unlinks <paramref name="path"/> only if it still is the file we hold open.</summary>
    public static bool DeleteIfStill(FileIdentity expected, string path)
    {
        if (!IsStill(expected, path)) return false;
        File.Delete(path);
        return true;
    }

    /// <summary>Puts a claimed file back into the queue under its own name, to be picked up again later.</summary>
    public static bool Release(string workPath, string incomingPath) =>
        NativeFile.TryRenameNoReplace(workPath, incomingPath) == RenameOutcome.Renamed;

    /// <summary>Moves a claimed file into the bad directory without replacing anything there.</summary>
    public static string? MoveAside(string workPath, string badDirectory, string name)
    {
        var target = Path.Combine(badDirectory, name);
        return NativeFile.TryRenameNoReplace(workPath, target) == RenameOutcome.Renamed ? target : null;
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
    /// <summary>The file is ours; <paramref name="Handle"/> keeps it open (and its inode number reserved) until it is deleted.</summary>
    public sealed record Claimed(byte[] Content, SafeFileHandle Handle) : ClaimOutcome;
    public sealed record Gone(string Why) : ClaimOutcome;
    public sealed record Unreadable(string Why) : ClaimOutcome;
}
