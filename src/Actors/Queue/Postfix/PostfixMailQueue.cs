using MailScanner.Actors.Identity;
using Microsoft.Win32.SafeHandles;

namespace MailScanner.Actors.Queue.Postfix;

/// <summary>A queue file written into a Postfix queue: its queue id, where it is, and the identity of the file.</summary>
public sealed record PostfixEnteredFile(string QueueId, string Path, FileIdentity Identity);

/// <summary>
/// Puts a finished queue file into a Postfix queue directory the way Postfix would accept it (mail_queue.c
/// mail_queue_enter(), mail_stream.c): a temp name Postfix ignores, written, owned by the mail_owner, fchmod 0700
/// (qmgr takes only files whose owner bits are rwx: mail_open_ok.c), fsync, then renamed without replacing to a
/// queue id made from the time and the file's inode, in its hashed subdirectory, and the directory fsynced. Unlike
/// Postfix, which names the file at once and marks it complete by the mode alone, the name appears only when the
/// file is complete.
/// </summary>
public sealed class PostfixMailQueue
{
    private const int MaxRenameAttempts = 1000; // mail_queue_enter() gives up after as many

    private static long tempCounter;

    private readonly PostfixQueueLayout layout;
    private readonly TimeProvider clock;
    private readonly (uint Uid, uint Gid)? owner;

    /// <param name="clock">The time ids are made from; the system clock unless a spec says otherwise.</param>
    /// <exception cref="IOException">Running as root and the mail_owner is not a user here: files would stop qmgr.</exception>
    public PostfixMailQueue(PostfixQueueLayout layout, TimeProvider? clock = null)
    {
        this.layout = layout;
        this.clock = clock ?? TimeProvider.System;
        // Only root can give a file away; a gateway running as the mail_owner itself creates its files as that owner.
        if (Environment.IsPrivilegedProcess)
            owner = PostfixLibc.LookUpUser(layout.MailOwner)
                    ?? throw new IOException($"mail_owner '{layout.MailOwner}' is not a user on this system; set it to the owner of {layout.QueueDirectory}/incoming");
    }

    /// <summary>Writes <paramref name="queueFile"/> (a formatted queue file) into <paramref name="queueName"/>, durably.</summary>
    /// <exception cref="IOException">A system call failed. Before the rename the temp file is removed; a failed directory
    /// fsync after it leaves the file in place under its id (Postfix may already be delivering it).</exception>
    public PostfixEnteredFile Enter(ReadOnlySpan<byte> queueFile, string queueName = PostfixQueueLayout.Incoming)
    {
        if (OperatingSystem.IsWindows()) throw new PlatformNotSupportedException("a Postfix queue lives on a Unix file system");
        var queueDirectory = Path.Combine(layout.QueueDirectory, queueName);
        // '.' and '-' make it a name that is not a queue id, so no Postfix daemon opens it while it is written.
        var tempPath = Path.Combine(queueDirectory, $"{Environment.ProcessId}.{Interlocked.Increment(ref tempCounter)}-mailscanner");
        FileIdentity identity;
        var handle = NativeFile.CreateExclusive(tempPath, mode: 0b110_000_000); // outside the try: a temp we did not create is not ours to delete
        try
        {
            using (handle)
            {
                RandomAccess.Write(handle, queueFile, fileOffset: 0);
                GiveToMailOwner(handle, tempPath);
                File.SetUnixFileMode(handle, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
                RandomAccess.FlushToDisk(handle);
                identity = NativeFile.GetIdentity(handle);
            }

            for (var attempt = 0; attempt < MaxRenameAttempts; attempt++)
            {
                var queueId = PostfixQueueId.For(PostfixArrivalTime.From(clock.GetUtcNow()), identity.Inode, layout.LongQueueIds);
                var directory = layout.DirectoryOf(queueName, queueId);
                if (directory != queueDirectory) EnsureHashedDirectories(queueDirectory, directory);
                var path = Path.Combine(directory, queueId);
                switch (NativeFile.TryRenameNoReplace(tempPath, path))
                {
                    case RenameOutcome.Renamed:
                        NativeFile.SyncDirectory(directory);
                        if (directory != queueDirectory) NativeFile.SyncDirectory(queueDirectory); // the temp name's removal
                        return new PostfixEnteredFile(queueId, path, identity);
                    case RenameOutcome.TargetExists:
                        continue; // the same id from another file in the same microsecond: take a new time, as Postfix does
                    default:
                        throw new IOException($"temp file {tempPath} vanished before it could be renamed to {path}");
                }
            }
            throw new IOException($"could not name {tempPath}: {MaxRenameAttempts} queue ids in {queueDirectory} were taken");
        }
        catch
        {
            File.Delete(tempPath);
            throw;
        }
    }

    /// <summary>
    /// Creates the missing levels of a hashed directory already owned by the mail_owner: each level is made under a
    /// temp name (qmgr descends only into one-character names: mail_scan_dir.c), given away, then renamed into
    /// place, so Postfix's own cleanup never finds a root-owned directory it cannot rename into.
    /// </summary>
    internal void EnsureHashedDirectories(string queueDirectory, string directory)
    {
        var current = queueDirectory;
        foreach (var level in Path.GetRelativePath(queueDirectory, directory).Split('/'))
        {
            var target = Path.Combine(current, level);
            if (!Directory.Exists(target))
            {
                var temp = Path.Combine(current, $"{level}.{Environment.ProcessId}.{Interlocked.Increment(ref tempCounter)}-mailscanner");
                NativeFile.TryCreateDirectoryExclusive(temp, mode: 0b111_000_000);
                using (var handle = NativeFile.OpenDirectory(temp)) GiveToMailOwner(handle, temp);
                if (NativeFile.TryRenameNoReplace(temp, target) != RenameOutcome.Renamed) Directory.Delete(temp); // made meanwhile by Postfix or a sibling
                NativeFile.SyncDirectory(current);
            }
            current = target;
        }
    }

    internal void GiveToMailOwner(SafeFileHandle handle, string what)
    {
        if (owner is { } mailOwner) PostfixLibc.ChangeOwner(handle, mailOwner.Uid, mailOwner.Gid, what);
    }
}
