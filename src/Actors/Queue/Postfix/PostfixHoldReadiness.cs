using MailScanner.Actors.Identity;
using Microsoft.Win32.SafeHandles;

namespace MailScanner.Actors.Queue.Postfix;

public abstract record PostfixReadiness
{
    public sealed record Ready(PostfixQueueFile File) : PostfixReadiness;

    /// <summary>Not (yet) a message to take, and why; the file is left to Postfix.</summary>
    public sealed record NotReady(string Reason) : PostfixReadiness;
}

/// <summary>
/// Whether a file in <c>hold/</c> is a complete message. Cleanup renames a message into hold before its final
/// flush, fchmod and fsync (cleanup_api.c), so a file there may still be growing: take it only when its owner bits
/// are rwx (MAIL_QUEUE_STAT_READY: the mode Postfix sets last, and the only bits mail_open_ok.c looks at; the group
/// bits are postsuper's unthrottle and expire flags) and its records are complete up to the E record.
/// </summary>
public static class PostfixHoldReadiness
{
    private const uint OwnerBits = 0b111_000_000;

    public static PostfixReadiness Check(string path)
    {
        var outcome = NativeFile.TryOpenRegularForReading(path, out var handle);
        if (outcome != OpenOutcome.Opened) return new PostfixReadiness.NotReady($"{path}: {outcome.Kind} {outcome.Reason}".TrimEnd());
        using (handle) return Check(handle!, path);
    }

    /// <summary>The check on a file already open (a claimed file): the mode first, then the records.</summary>
    public static PostfixReadiness Check(SafeFileHandle handle, string what)
    {
        var status = NativeFile.Stat(handle);
        if ((status.Mode & OwnerBits) != OwnerBits)
            return new PostfixReadiness.NotReady($"{what}: mode {Convert.ToString(status.Mode, 8)} is not yet 0700 (cleanup is still writing it)");
        var content = new byte[RandomAccess.GetLength(handle)];
        var read = 0;
        while (read < content.Length)
        {
            var n = RandomAccess.Read(handle, content.AsSpan(read), read);
            if (n == 0) break;
            read += n;
        }
        return PostfixQueueFileReader.Read(content.AsSpan(0, read)) switch
        {
            PostfixQueueFileRead.Complete complete => new PostfixReadiness.Ready(complete.File),
            PostfixQueueFileRead.Malformed malformed => new PostfixReadiness.NotReady($"{what}: {malformed.Reason}"),
            _ => throw new InvalidOperationException("unknown read result"),
        };
    }
}
