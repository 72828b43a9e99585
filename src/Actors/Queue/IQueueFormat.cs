using MailScanner.Actors.Identity;

namespace MailScanner.Actors.Queue;

/// <summary>
/// What the pipeline needs to know about one MTA's queue files: which names are messages, how to read the
/// envelope, and what a delivered file is called. Everything else (claiming, deleting) is format-blind.
/// </summary>
public interface IQueueFormat
{
    string Name { get; }

    /// <summary>True for names that are complete queue files; anything else is the MTA's business.</summary>
    bool IsQueueFileName(string name);

    /// <summary>Whether a file under this name may be this identity (ZMailer: the name is the inode number).</summary>
    bool NameMatches(string name, FileIdentity identity);

    QueueFileParse Parse(ReadOnlySpan<byte> content);

    /// <summary>
    /// The queue file that delivers <paramref name="message"/> (the claimed message, cleaned and tagged) to the same
    /// recipients: the claimed file's envelope around the new message, written as the MTA itself would write it.
    /// </summary>
    /// <param name="claimedFile">The claimed queue file, whose message starts at <paramref name="messageOffset"/>.</param>
    byte[] ComposeOutgoing(ReadOnlySpan<byte> claimedFile, int messageOffset, QueueEnvelope envelope, ReadOnlySpan<byte> message);

    /// <summary>The final name of a file written into a queue directory of this format.</summary>
    string FileNameFor(FileIdentity writtenFile);
}

/// <summary>The envelope the pipeline works with, whatever the MTA.</summary>
public sealed record QueueEnvelope(string Sender, IReadOnlyList<string> Recipients);

public abstract record QueueFileParse
{
    public sealed record Parsed(QueueEnvelope Envelope, int MessageOffset) : QueueFileParse;
    public sealed record Malformed(string Reason) : QueueFileParse;
}
