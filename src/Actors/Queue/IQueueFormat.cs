using MailScanner.Actors.Identity;
using Microsoft.Win32.SafeHandles;

namespace MailScanner.Actors.Queue;

/// <summary>
/// Everything the pipeline knows about one MTA's queues, and nothing else does: which entries of the incoming queue
/// are complete messages, how a claimed file reads, how a delivered message is written so that the MTA accepts it,
/// and how the MTA is told. Claiming, deleting and the exactly-once protocol are format-blind; adding an MTA means
/// a new implementation of this and an entry in <see cref="QueueFormats"/>, no actor change.
/// </summary>
public interface IQueueFormat
{
    string Name { get; }

    /// <summary>
    /// The entries of the incoming queue that may be messages: the directory's entries, or, where the MTA hashes its
    /// queue into subdirectories, the entries of those.
    /// </summary>
    IEnumerable<string> CandidateEntries(string incomingDirectory) => Directory.EnumerateFileSystemEntries(incomingDirectory);

    /// <summary>True for names that are queue files; anything else is the MTA's business.</summary>
    bool IsQueueFileName(string name);

    /// <summary>
    /// A regular file under a queue file name is a complete message, by what lstat says (Postfix: its owner bits are
    /// rwx). One that is not is left to the MTA and looked at again later.
    /// </summary>
    bool IsComplete(FileStatus status) => true;

    /// <summary>Whether a file under this name may be this identity (ZMailer and Postfix: the name carries the inode number).</summary>
    bool NameMatches(string name, FileIdentity identity);

    /// <summary>Where a file of this queue id lives in the incoming queue: where a claimed file is handed back to.</summary>
    string IncomingPathFor(string incomingDirectory, string queueId) => Path.Combine(incomingDirectory, queueId);

    /// <summary>Reads a claimed queue file; never throws for bad input (Malformed says why).</summary>
    QueueFileParse Parse(ReadOnlyMemory<byte> content);

    /// <summary>
    /// The queue file that delivers <paramref name="message"/> (the claimed message, cleaned and tagged) to the same
    /// recipients: the claimed file's envelope around the new message, written as the MTA itself would write it.
    /// </summary>
    byte[] ComposeOutgoing(QueueFileParse.Parsed claimed, ReadOnlySpan<byte> message);

    /// <summary>How files are put into the outgoing queue and the MTA told about them.</summary>
    IOutgoingQueueRules Outgoing { get; }

    /// <summary>
    /// Puts a message into the incoming queue exactly as the MTA itself queues one (durably, visible under its queue
    /// name only once complete), and returns its queue id: <c>mailscanner-actors enqueue</c>, for trying the gateway,
    /// demos and tests without an MTA. Never used by the pipeline.
    /// </summary>
    /// <exception cref="NotSupportedException">The format cannot write its incoming queue.</exception>
    string WriteIncomingEntry(string incomingDirectory, QueueEnvelope envelope, ReadOnlySpan<byte> message) =>
        throw new NotSupportedException($"the {Name} queue format cannot put a message into its incoming queue");
}

/// <summary>
/// The MTA's part in writing a file into its queue. The writer stages the file under a temp name the MTA ignores,
/// records it, and renames it into place (see <c>QueueDirectoryWriter</c>); these say what the MTA needs around that.
/// </summary>
public interface IOutgoingQueueRules
{
    /// <summary>Before the staged file is made durable: ownership and mode as the MTA requires them.</summary>
    void PrepareStaged(SafeFileHandle handle, string path) { }

    /// <summary>The name the staged file is published under, relative to the outgoing directory (it may name a subdirectory).</summary>
    string FinalNameFor(FileIdentity staged);

    /// <summary>Before the rename: whatever must exist for <paramref name="finalName"/> (a hashed subdirectory owned by the MTA).</summary>
    void PrepareToPublish(string outgoingDirectory, string finalName) { }

    /// <summary>After a file was published: tell the MTA, if it needs telling. Never throws; a failure is for the log.</summary>
    Task<string?> AnnounceAsync() => Task.FromResult<string?>(null);
}

/// <summary>The envelope the pipeline works with, whatever the MTA.</summary>
public sealed record QueueEnvelope(string Sender, IReadOnlyList<string> Recipients);

public abstract record QueueFileParse
{
    /// <param name="Original">The claimed file as it was read.</param>
    /// <param name="Message">The RFC 5322 message, without the MTA's envelope.</param>
    public sealed record Parsed(QueueEnvelope Envelope, ReadOnlyMemory<byte> Original, ReadOnlyMemory<byte> Message) : QueueFileParse
    {
        /// <summary>What the format needs again to write the outgoing file (Postfix: the envelope records as read).</summary>
        public object? Details { get; init; }
    }

    public sealed record Malformed(string Reason) : QueueFileParse;
}
