using MailScanner.Actors.Identity;
using Microsoft.Win32.SafeHandles;

namespace MailScanner.Actors.Queue.Postfix;

/// <summary>
/// Postfix, as MailScanner documents it: every arriving message is put on hold (<c>header_checks</c> with
/// <c>/^Received:/ HOLD</c>), the gateway reads <c>hold/</c> and writes what it delivers into <c>incoming/</c> of the
/// same queue directory, then wakes qmgr. Queue ids carry the file's inode number (short ids, and long ids too), so the
/// seed report's hazard is live here: files are claimed and deleted by identity, never by id.
/// </summary>
public sealed class PostfixFormat : IQueueFormat, IOutgoingQueueRules
{
    public const string FormatName = "postfix";

    private readonly PostfixQueueLayout _layout;
    private readonly PostfixMailQueue _mailQueue;
    private readonly TimeProvider _clock;
    private readonly object _wakeLock = new();
    private bool _waking;
    private bool _wakeAgain;
    private bool _wakeFailing;

    /// <exception cref="IOException">Running as root and the mail_owner is not a user here.</exception>
    public PostfixFormat(PostfixQueueLayout layout, TimeProvider? clock = null)
    {
        _layout = layout;
        _clock = clock ?? TimeProvider.System;
        _mailQueue = new PostfixMailQueue(layout, _clock);
    }

    public string Name => FormatName;

    public PostfixQueueLayout Layout => _layout;

    /// <summary>hold/, or its one-character hashed subdirectories (hash_queue_names, hash_queue_depth) where hold is hashed.</summary>
    public IEnumerable<string> CandidateEntries(string incomingDirectory)
    {
        if (!_layout.IsHashed(PostfixQueueLayout.Hold)) return Directory.EnumerateFileSystemEntries(incomingDirectory);
        IEnumerable<string> level = [incomingDirectory];
        for (var depth = 0; depth < _layout.HashQueueDepth; depth++)
            level = level.SelectMany(directory => Directory.EnumerateDirectories(directory).Where(sub => Path.GetFileName(sub).Length == 1));
        return level.SelectMany(Directory.EnumerateFileSystemEntries);
    }

    public bool IsQueueFileName(string name) => PostfixQueueId.IsValid(name);

    /// <summary>Postfix marks a queue file complete by its owner bits alone (mail_open_ok.c); postsuper uses group bits as flags.</summary>
    public bool IsComplete(FileStatus status) => (status.Mode & 0b111_000_000) == 0b111_000_000;

    public bool NameMatches(string name, FileIdentity identity) => PostfixQueueId.TryGetInode(name, out var inode) && inode == identity.Inode;

    public string IncomingPathFor(string incomingDirectory, string queueId) =>
        _layout.IsHashed(PostfixQueueLayout.Hold)
            ? Path.Combine(incomingDirectory, PostfixQueueId.HashDirectories(queueId, _layout.HashQueueDepth), queueId)
            : Path.Combine(incomingDirectory, queueId);

    public QueueFileParse Parse(ReadOnlyMemory<byte> content) => PostfixQueueFileReader.Read(content.Span) switch
    {
        PostfixQueueFileRead.Complete complete => new QueueFileParse.Parsed(
            new QueueEnvelope(PostfixText.Display(complete.File.Envelope.Sender), complete.File.Envelope.Recipients.Select(r => PostfixText.Display(r.Address)).ToList()),
            content, complete.File.Message) { Details = complete.File },
        PostfixQueueFileRead.Malformed malformed => new QueueFileParse.Malformed(malformed.Reason),
        var other => new QueueFileParse.Malformed($"unrecognised read result {other}"),
    };

    /// <summary>The held file's envelope records as they were (sender, recipients with their DSN data, attributes) around the new message.</summary>
    public OutgoingEntry ComposeOutgoing(QueueFileParse.Parsed claimed, ReadOnlySpan<byte> message) =>
        OutgoingEntry.OneFile(PostfixQueueFileWriter.Format((claimed.Details as PostfixQueueFile ?? throw new ArgumentException("not a parsed Postfix queue file", nameof(claimed))).Envelope, message));

    public IOutgoingQueueRules Outgoing => this;

    /// <summary>
    /// As cleanup puts a message on hold: the records of a message received now from this sender for these recipients
    /// (each also its own original recipient, as smtpd records it), entered like every file this format writes
    /// (<see cref="PostfixMailQueue"/>: mail_owner, 0700, fsync, renamed to a queue id of its inode).
    /// </summary>
    public string WriteIncomingEntry(string incomingDirectory, QueueEnvelope envelope, ReadOnlySpan<byte> message)
    {
        var held = new PostfixEnvelope(PostfixArrivalTime.From(_clock.GetUtcNow()), envelope.Sender,
            envelope.Recipients.Select(recipient => new PostfixRecipient(recipient, recipient)).ToList(), [], []);
        var queueName = Path.GetRelativePath(_layout.QueueDirectory, incomingDirectory);
        return _mailQueue.Enter(PostfixQueueFileWriter.Format(held, message), queueName).QueueId;
    }

    /// <summary>Owned by the mail_owner (a root-owned file stops qmgr with "Permission denied") and at 0700, before the fsync.</summary>
    public void PrepareStaged(SafeFileHandle handle, string path)
    {
        if (OperatingSystem.IsWindows()) throw new PlatformNotSupportedException("a Postfix queue lives on a Unix file system");
        _mailQueue.GiveToMailOwner(handle, path);
        File.SetUnixFileMode(handle, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    /// <summary>
    /// A queue id from now and the staged file's inode, in its hashed subdirectory of incoming/ if incoming is hashed.
    /// While the staged file exists no other file has its inode, so no other file can have this id.
    /// </summary>
    public string FinalNameFor(FileIdentity staged)
    {
        var id = PostfixQueueId.For(PostfixArrivalTime.From(_clock.GetUtcNow()), staged.Inode, _layout.LongQueueIds);
        return _layout.IsHashed(PostfixQueueLayout.Incoming) ? Path.Combine(PostfixQueueId.HashDirectories(id, _layout.HashQueueDepth), id) : id;
    }

    public void PrepareToPublish(string outgoingDirectory, string finalName)
    {
        var directory = Path.GetDirectoryName(Path.Combine(outgoingDirectory, finalName))!;
        if (directory != outgoingDirectory.TrimEnd('/')) _mailQueue.EnsureHashedDirectories(outgoingDirectory, directory);
    }

    /// <summary>
    /// Wakes qmgr (without it a file waits up to 300 s). Many deliveries at once make one wake-up, then one more for those
    /// published while it was on its way. A failure is reported once per episode.
    /// </summary>
    public async Task<string?> AnnounceAsync(string publishedPath)
    {
        lock (_wakeLock)
        {
            if (_waking)
            {
                _wakeAgain = true;
                return null;
            }
            _waking = true;
        }
        string? problem = null;
        while (true)
        {
            var woken = await PostfixQmgrTrigger.WakeAsync(_layout).ConfigureAwait(false);
            lock (_wakeLock)
            {
                if (woken is PostfixWakeUp.Failed failed && !_wakeFailing) problem = failed.Reason;
                _wakeFailing = woken is PostfixWakeUp.Failed;
                if (!_wakeAgain)
                {
                    _waking = false;
                    return problem;
                }
                _wakeAgain = false;
            }
        }
    }
}
