using MailScanner.Actors.Identity;
using MailScanner.Actors.Queue.Exim;
using MailScanner.Actors.Queue.Postfix;
using Microsoft.Win32.SafeHandles;

namespace MailScanner.Actors.Queue.Sendmail;

/// <summary>
/// Sendmail, as MailScanner documents it: a receiving sendmail that only queues (<c>DeliveryMode=q</c>) whose
/// QueueDirectory the gateway reads, and a delivering sendmail whose QueueDirectory it writes. A message is a pair,
/// <c>qf&lt;id&gt;</c> and <c>df&lt;id&gt;</c>; sendmail writes <c>df</c> first and the <c>qf</c> last (a new message's
/// <c>qf</c> created under its name and locked at once, a rewritten one as <c>tf&lt;id&gt;</c>, renamed), holding its
/// lock on it while it works on the message, so the <c>qf</c> is the primary file, claimed only once it has content
/// and no sendmail holds its lock, and <c>df</c> its companion. Sendmail's queue runs look only at <c>qf</c> names, so the
/// writer's staged <c>tf-&lt;key&gt;</c> files are never read. The delivering sendmail is then told to run the message
/// (<c>-qI&lt;id&gt;</c>).
/// </summary>
public sealed class SendmailFormat : IQueueFormat, IOutgoingQueueRules
{
    public const string FormatName = "sendmail";

    private readonly (uint Uid, uint Gid)? _owner;
    private readonly EximDeliveryTrigger? _trigger;
    private readonly TimeProvider _clock;
    private int _sequence;

    /// <exception cref="IOException">Running as root and sendmail's user is not a user here.</exception>
    public SendmailFormat(SendmailQueueOptions options, TimeProvider? clock = null)
    {
        _clock = clock ?? TimeProvider.System;
        // Only root can give a file away; a gateway running as sendmail's user creates its files as that user anyway.
        if (Environment.IsPrivilegedProcess)
            _owner = PostfixLibc.LookUpUser(options.User)
                     ?? throw new IOException($"sendmail's user '{options.User}' (mailscanner.queue.sendmail.user) is not a user on this system");
        _trigger = options.DeliverCommand.Count > 0
            ? new EximDeliveryTrigger(options.DeliverCommand, idOfPath: IdOf, argumentsFor: ids => ids.Select(id => "-qI" + id), option: "-qI")
            : null;
    }

    public string Name => FormatName;

    public bool IsQueueFileName(string name) => name.Length > 2 && name.StartsWith("qf", StringComparison.Ordinal) && !name.AsSpan(2).ContainsAnyExcept(IdCharacters);

    private static readonly System.Buffers.SearchValues<char> IdCharacters =
        System.Buffers.SearchValues.Create("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");

    /// <summary>Sendmail's ids carry the time and a process id, not the inode: any valid name may be any file.</summary>
    public bool NameMatches(string name, FileIdentity identity) => IsQueueFileName(name);

    /// <summary>
    /// A new message's qf is created empty (<c>O_CREAT|O_EXCL</c>) and only then locked (queue.c, <c>queueup</c>): a
    /// claim that took its lock in between would make sendmail refuse the message (SYSERR "queueup: cannot create queue
    /// file ...: Resource temporarily unavailable", seen under load). Sendmail writes only once it holds the lock, so a
    /// qf with content is one sendmail has locked, and the claim's own lock tells whether it still does.
    /// </summary>
    public bool IsComplete(FileStatus status) => status.Size > 0;

    public IReadOnlyList<string> CompanionPathsOf(string primaryPath) => [DataFileOf(primaryPath)];

    /// <summary>The qf is locked by the sendmail process receiving or delivering the message; the df is not.</summary>
    public bool TryLockForClaim(SafeFileHandle handle, string path) =>
        !Path.GetFileName(path).StartsWith("qf", StringComparison.Ordinal) || SendmailQueueFileLock.TryLock(handle);

    public QueueFileParse Parse(ReadOnlyMemory<byte> content) => new QueueFileParse.Malformed("a sendmail message is read from its qf and df files together");

    /// <summary><see cref="QueueFileParse.Parsed.Original"/> is the qf file followed by the df file, as they were.</summary>
    public QueueFileParse ParseEntry(QueueEntryContent entry)
    {
        if (entry.Companions.Count != 1) return new QueueFileParse.Malformed("a sendmail message needs its df file");
        var data = entry.Companions[0];
        return SendmailQueueFile.Read(entry.Primary.Span, data.Span) switch
        {
            SendmailQueueFile.Result.Read read => new QueueFileParse.Parsed(
                new QueueEnvelope(read.Message.Sender, read.Message.Recipients), Concatenate(entry.Primary, data), read.Message.Message)
            {
                Details = (read.Message, Id: SendmailQueueFile.IdFor(entry.Primary.Span)),
                OriginalPartLengths = [entry.Primary.Length, data.Length],
            },
            SendmailQueueFile.Result.Malformed malformed => new QueueFileParse.Malformed(malformed.Reason),
            var other => new QueueFileParse.Malformed($"unrecognised read result {other}"),
        };
    }

    /// <summary>Named by an id derived from the claimed qf, so that composing it again names the same files.</summary>
    public OutgoingEntry ComposeOutgoing(QueueFileParse.Parsed claimed, ReadOnlySpan<byte> message)
    {
        if (claimed.Details is not (SendmailQueuedMessage queued, string id)) throw new ArgumentException("not a parsed sendmail message", nameof(claimed));
        var (qf, df) = SendmailQueueFile.Write(queued, message);
        return new OutgoingEntry(qf, [df], "qf" + id);
    }

    /// <summary>A new id of this process's (the id is only in the files' names).</summary>
    public QueueFileParse.Parsed WithNewQueueId(QueueFileParse.Parsed claimed)
    {
        if (claimed.Details is not (SendmailQueuedMessage queued, string _)) throw new ArgumentException("not a parsed sendmail message", nameof(claimed));
        return claimed with { Details = (queued, NextId(_clock.GetUtcNow())) };
    }

    public IOutgoingQueueRules Outgoing => this;

    private string NextId(DateTimeOffset now) => SendmailQueueFile.IdOf(now, Interlocked.Increment(ref _sequence) % 3600, Environment.ProcessId % 1_000_000);

    /// <summary>Sendmail reads a qf only when its own user owns it and no group or other may write it: its user's, 0600.</summary>
    public void PrepareStaged(SafeFileHandle handle, string path)
    {
        if (OperatingSystem.IsWindows()) throw new PlatformNotSupportedException("a sendmail queue lives on a Unix file system");
        if (_owner is { } owner) PostfixLibc.ChangeOwner(handle, owner.Uid, owner.Gid, path);
        File.SetUnixFileMode(handle, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }

    public string FinalNameFor(FileIdentity staged) =>
        throw new InvalidOperationException("a sendmail message is named by its id when it is composed");

    public IReadOnlyList<string> CompanionNamesOf(string finalName) => [DataFileOf(finalName)];

    public Task<string?> AnnounceAsync(string publishedPath) => Task.FromResult(_trigger?.Deliver(publishedPath));

    public Task<string?> AnnounceNowAsync(string publishedPath) => _trigger?.DeliverNowAsync(publishedPath) ?? Task.FromResult<string?>(null);

    /// <summary>As sendmail queues: df, then the qf written as tf and renamed, each made durable before the next step.</summary>
    public string WriteIncomingEntry(string incomingDirectory, QueueEnvelope envelope, ReadOnlySpan<byte> message)
    {
        var now = _clock.GetUtcNow();
        var id = NextId(now);
        var (qf, df) = SendmailQueueFile.WriteNew(id, envelope, now, message);
        var dataPath = Path.Combine(incomingDirectory, "df" + id);
        var queuePath = Path.Combine(incomingDirectory, "qf" + id);
        if (File.Exists(queuePath) || File.Exists(dataPath)) throw new IOException($"sendmail queue id {id} is taken in {incomingDirectory}");
        WriteDurably(dataPath, df);
        var temp = Path.Combine(incomingDirectory, "tf" + id);
        WriteDurably(temp, qf);
        File.Move(temp, queuePath);
        NativeFile.SyncDirectory(incomingDirectory);
        return id;
    }

    private void WriteDurably(string path, byte[] content)
    {
        using var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write);
        PrepareStaged(stream.SafeFileHandle, path);
        stream.Write(content);
        stream.Flush(flushToDisk: true);
    }

    private static string IdOf(string qfPath) => Path.GetFileName(qfPath)[2..];

    private static string DataFileOf(string queueFilePath)
    {
        var name = Path.GetFileName(queueFilePath);
        return Path.Combine(Path.GetDirectoryName(queueFilePath) ?? "", "d" + name[1..]);
    }

    private static byte[] Concatenate(ReadOnlyMemory<byte> first, ReadOnlyMemory<byte> second)
    {
        var both = new byte[first.Length + second.Length];
        first.Span.CopyTo(both);
        second.Span.CopyTo(both.AsSpan(first.Length));
        return both;
    }
}
