using MailScanner.Actors.Identity;

namespace MailScanner.Actors.Delivery;

/// <summary>
/// Writes a file into a queue directory the way MTAs do: a temp name the queue ignores, content made
/// durable, then an atomic rename (never replacing anything) to the final name, made durable too.
/// A reader of the directory therefore sees either nothing or the complete file.
/// </summary>
public sealed class QueueDirectoryWriter
{
    private readonly string _directory;
    private readonly DurabilityBarrier _barrier;
    private readonly Func<FileIdentity, string> _finalName;

    public QueueDirectoryWriter(string directory, DurabilityBarrier barrier, Func<FileIdentity, string> finalName)
    {
        _directory = directory;
        _barrier = barrier;
        _finalName = finalName;
    }

    public string Directory => _directory;

    /// <param name="tempName">A name that is unique to this message (derived from its identity), never all digits.</param>
    public async Task<WrittenFile> WriteAsync(ReadOnlyMemory<byte> content, string tempName)
    {
        var directory = _directory;
        var tempPath = Path.Combine(directory, tempName);
        FileIdentity written;
        // A temp of this name can only be left over from an earlier, interrupted attempt for the same message.
        if (NativeFile.TryLStat(tempPath) is not null) File.Delete(tempPath);
        using (var handle = NativeFile.CreateExclusive(tempPath))
        {
            RandomAccess.Write(handle, content.Span, 0);
            written = NativeFile.GetIdentity(handle);
        }
        try
        {
            await _barrier.WhenDurableAsync().ConfigureAwait(false);
            var finalPath = Path.Combine(directory, _finalName(written));
            if (NativeFile.TryRenameNoReplace(tempPath, finalPath) != RenameOutcome.Renamed)
                throw new IOException($"cannot publish {tempPath}: {finalPath} already exists or the temp vanished");
            await _barrier.WhenDurableAsync().ConfigureAwait(false);
            return new WrittenFile(finalPath, written);
        }
        catch
        {
            if (NativeFile.TryLStat(tempPath) is not null) File.Delete(tempPath);
            throw;
        }
    }
}

public sealed record WrittenFile(string Path, FileIdentity Identity);
