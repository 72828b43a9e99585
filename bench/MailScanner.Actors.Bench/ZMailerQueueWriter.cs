using System.Globalization;
using MailScanner.Actors.Identity;

namespace MailScanner.Actors.Bench;

/// <summary>
/// Queues messages the way ZMailer's router queue is written: a temp file <c>tf-&lt;pid&gt;-&lt;n&gt;</c> in the
/// queue directory itself, write, (fsync,) rename to the file's own inode number. The file becomes visible under
/// a queue name only when it is complete.
/// </summary>
/// <param name="durable">
/// fsync each file before the rename, as an MTA must. A backlog written before the gateway starts may skip it
/// and call <see cref="SyncFileSystem"/> once at the end: same files on disk, minutes less waiting.
/// </param>
internal sealed class ZMailerQueueWriter(string directory, bool durable)
{
    private static readonly int Pid = Environment.ProcessId;
    private long _counter;

    public string Directory => directory;

    /// <summary>Writes one queue file and returns its final path.</summary>
    public string Write(QueueMessage message)
    {
        var temp = Path.Combine(directory, string.Create(CultureInfo.InvariantCulture, $"tf-{Pid}-{++_counter}"));
        ulong inode;
        using (var handle = NativeFile.CreateExclusive(temp))
        {
            RandomAccess.Write(handle, [message.EnvelopeAndSeqHeader(), message.Content], 0);
            if (durable) NativeFile.Sync(handle);
            inode = NativeFile.Stat(handle).Inode;
        }

        var final = Path.Combine(directory, inode.ToString(CultureInfo.InvariantCulture));
        var outcome = NativeFile.TryRenameNoReplace(temp, final);
        if (outcome != RenameOutcome.Renamed)
            throw new BenchFailure($"could not rename {temp} to {final}: {outcome}");
        return final;
    }

    /// <summary>One durability barrier for everything written so far (syncfs on the queue's file system).</summary>
    public void SyncFileSystem()
    {
        using var handle = NativeFile.OpenDirectory(directory);
        NativeFile.SyncFileSystem(handle);
    }
}
