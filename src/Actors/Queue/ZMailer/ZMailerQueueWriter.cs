using System.Globalization;
using MailScanner.Actors.Identity;

namespace MailScanner.Actors.Queue.ZMailer;

/// <summary>
/// Writes one queue file the way ZMailer (and MailScanner's outgoing side) does: temp file, write, fsync,
/// rename to the file's own inode number, fsync the directory. One fsync pair per file: for tests, benchmarks
/// and the simulated MTA, not for the gateway's batched delivery path.
/// </summary>
public static class ZMailerQueueWriter
{
    private static long tempCounter;

    /// <summary>Writes <paramref name="fileContent"/> durably into <paramref name="directory"/>; returns the final path and identity.</summary>
    /// <exception cref="IOException">The inode-named target already exists (a foreign file), or a system call failed.</exception>
    public static (string Path, FileIdentity Identity) WriteDurably(string directory, ReadOnlySpan<byte> fileContent)
    {
        // Not all digits, so a queue watcher never mistakes a half-written file for a message.
        var tempPath = Path.Combine(directory, $"tf-{Environment.ProcessId}-{Interlocked.Increment(ref tempCounter)}");
        string finalPath;
        FileIdentity identity;
        var handle = NativeFile.CreateExclusive(tempPath); // outside the try: a temp we did not create is not ours to delete
        try
        {
            using (handle)
            {
                RandomAccess.Write(handle, fileContent, fileOffset: 0);
                NativeFile.Sync(handle);
                identity = NativeFile.GetIdentity(handle);
            }

            finalPath = Path.Combine(directory, identity.Inode.ToString(CultureInfo.InvariantCulture));
            switch (NativeFile.TryRenameNoReplace(tempPath, finalPath))
            {
                case RenameOutcome.Renamed:
                    break;
                case RenameOutcome.TargetExists:
                    // Our inode is ours alone, so whatever holds this name is not a queue file we wrote.
                    throw new IOException($"cannot name queue file {finalPath}: a foreign file already has that name");
                default:
                    throw new IOException($"temp file {tempPath} vanished before it could be renamed to {finalPath}");
            }
        }
        catch
        {
            File.Delete(tempPath);
            throw;
        }

        NativeFile.SyncDirectory(directory); // makes the rename itself durable
        return (finalPath, identity);
    }
}
