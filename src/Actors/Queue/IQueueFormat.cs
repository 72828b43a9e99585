using MailScanner.Actors.Identity;
using Microsoft.Win32.SafeHandles;

namespace MailScanner.Actors.Queue;

/// <summary>
/// Everything the pipeline knows about one MTA's queues, and nothing else does: which entries of the incoming queue
/// are complete messages, how a claimed file reads, how a delivered message is written so that the MTA accepts it,
/// and how the MTA is told. Claiming, deleting and the exactly-once protocol are format-blind; adding an MTA means
/// a new implementation of this and an entry in <see cref="QueueFormats"/>, no actor change.
/// </summary>
/// <remarks>
/// An entry may be more than one file (Exim's <c>-H</c> and <c>-D</c>, Sendmail's <c>qf</c> and <c>df</c>): its
/// <em>primary</em> file is the one whose appearance makes the entry complete (the MTA writes it last), and the entry's
/// identity is that file's; the others are its <em>companions</em> (<see cref="CompanionPathsOf"/>). The primary is
/// claimed first and handed back last, so the incoming queue never shows a complete entry that lacks a companion, and a
/// crash between the moves is repaired when the claim is taken up again (see <c>MessageClaim</c>).
/// </remarks>
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

    /// <summary>
    /// The companion files of the entry whose primary file is at <paramref name="primaryPath"/> (Exim: <c>X-D</c> beside
    /// <c>X-H</c>), in the order <see cref="ParseEntry"/> gets their content. None for one-file formats.
    /// </summary>
    IReadOnlyList<string> CompanionPathsOf(string primaryPath) => [];

    /// <summary>
    /// Takes the MTA's own lock on a file of an entry about to be claimed (the primary and each companion, opened read-only),
    /// held until the handle is closed, which is after the entry has left the incoming queue. False when the MTA holds it:
    /// the MTA is working on the entry (Exim: its <c>fcntl</c> lock on <c>-D</c>), which is then left alone and looked at
    /// again later. Formats without a lock take none.
    /// </summary>
    bool TryLockForClaim(SafeFileHandle handle, string path) => true;

    /// <summary>Reads a claimed queue file; never throws for bad input (Malformed says why).</summary>
    QueueFileParse Parse(ReadOnlyMemory<byte> content);

    /// <summary>
    /// Reads a claimed entry from all its files: what <see cref="Parse"/> does for one-file formats. A format with
    /// companions reads them here; <see cref="QueueFileParse.Parsed.Original"/> is then the whole entry as it keeps it
    /// (what the quarantine stores). Never throws for bad input.
    /// </summary>
    QueueFileParse ParseEntry(QueueEntryContent entry) => Parse(entry.Primary);

    /// <summary>
    /// The queue entry that delivers <paramref name="message"/> (the claimed message, cleaned and tagged) to the same
    /// recipients: the claimed file's envelope around the new message, written as the MTA itself would write it.
    /// </summary>
    OutgoingEntry ComposeOutgoing(QueueFileParse.Parsed claimed, ReadOnlySpan<byte> message);

    /// <summary>
    /// The claimed entry under a queue id of its own, for writing it once more beside the copy already delivered under
    /// the claimed id (a quarantine release: the cleaned copy may still be queued, and the MTA's log should tell the two
    /// apart). Formats whose names carry the written file's inode (ZMailer, Postfix) get a new name anyway.
    /// </summary>
    QueueFileParse.Parsed WithNewQueueId(QueueFileParse.Parsed claimed) => claimed;

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

    /// <summary>
    /// The name the staged file is published under, relative to the outgoing directory (it may name a subdirectory),
    /// unless the entry fixed its name when it was composed (<see cref="OutgoingEntry.FinalName"/>).
    /// </summary>
    string FinalNameFor(FileIdentity staged);

    /// <summary>
    /// The companion files published with the primary file <paramref name="finalName"/>, relative to the outgoing
    /// directory, in the order of <see cref="OutgoingEntry.Companions"/>. They are renamed into place before the primary
    /// (and made durable first), so the MTA never sees the primary without them.
    /// </summary>
    IReadOnlyList<string> CompanionNamesOf(string finalName) => [];

    /// <summary>Before the rename: whatever must exist for <paramref name="finalName"/> (a hashed subdirectory owned by the MTA).</summary>
    void PrepareToPublish(string outgoingDirectory, string finalName) { }

    /// <summary>
    /// After an entry was published (<paramref name="publishedPath"/>: its primary file): tell the MTA, if it needs
    /// telling. Never throws; a failure is for the log.
    /// </summary>
    Task<string?> AnnounceAsync(string publishedPath) => Task.FromResult<string?>(null);

    /// <summary>
    /// As <see cref="AnnounceAsync"/>, but the MTA has been told when the task completes (Exim, Sendmail: their delivery
    /// run has exited), not merely asked in the background: for a writer that exits right after, such as a release.
    /// </summary>
    Task<string?> AnnounceNowAsync(string publishedPath) => AnnounceAsync(publishedPath);
}

/// <summary>A claimed entry's content: the primary file's and each companion's, in <see cref="IQueueFormat.CompanionPathsOf"/> order.</summary>
public sealed record QueueEntryContent(ReadOnlyMemory<byte> Primary, IReadOnlyList<ReadOnlyMemory<byte>> Companions)
{
    public static QueueEntryContent OneFile(ReadOnlyMemory<byte> content) => new(content, []);
}

/// <summary>
/// What is written into the outgoing queue for one message: the primary file and its companions (in
/// <see cref="IOutgoingQueueRules.CompanionNamesOf"/> order), written companions first.
/// </summary>
/// <param name="FinalName">
/// The primary's name in the outgoing queue (relative, it may name a subdirectory) when the format fixes it as it composes
/// the files (Exim, Sendmail: the id is written inside them); null when <see cref="IOutgoingQueueRules.FinalNameFor"/>
/// derives it from the staged file (ZMailer, Postfix: the name carries the inode number).
/// </param>
public sealed record OutgoingEntry(ReadOnlyMemory<byte> Primary, IReadOnlyList<ReadOnlyMemory<byte>> Companions, string? FinalName = null)
{
    public static OutgoingEntry OneFile(ReadOnlyMemory<byte> content) => new(content, []);

    public long Length => Primary.Length + Companions.Sum(c => (long)c.Length);
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

        /// <summary>
        /// Where <see cref="Original"/> holds several files (Exim's <c>-H</c> then <c>-D</c>, Sendmail's <c>qf</c> then
        /// <c>df</c>): each one's length, primary first; null for one file. The quarantine keeps them, so that a release
        /// can read the entry back into its files.
        /// </summary>
        public IReadOnlyList<int>? OriginalPartLengths { get; init; }
    }

    public sealed record Malformed(string Reason) : QueueFileParse;
}
