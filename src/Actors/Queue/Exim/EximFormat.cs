using MailScanner.Actors.Identity;
using MailScanner.Actors.Queue.Postfix;
using Microsoft.Win32.SafeHandles;

namespace MailScanner.Actors.Queue.Exim;

/// <summary>
/// Exim, as MailScanner documents it: a receiving Exim with <c>queue_only</c> whose <c>input/</c> the gateway reads, and
/// a delivering Exim whose <c>input/</c> it writes. A message is a pair, <c>&lt;id&gt;-H</c> and <c>&lt;id&gt;-D</c>;
/// Exim writes <c>-D</c> first, under its lock, and the <c>-H</c> last (temp name, rename), so the <c>-H</c> is the
/// primary file and <c>-D</c> its companion, claimed only when no Exim holds its lock. The delivering Exim gets the
/// same id (two spools, no clash), <c>-D</c> first, and is then told to deliver it (<c>-Mc</c>).
/// </summary>
public sealed class EximFormat : IQueueFormat, IOutgoingQueueRules
{
    public const string FormatName = "exim";

    private readonly EximQueueOptions _options;
    private readonly (uint Uid, uint Gid)? _owner;
    private readonly EximDeliveryTrigger? _trigger;

    /// <exception cref="IOException">Running as root and Exim's user is not a user here.</exception>
    public EximFormat(EximQueueOptions options)
    {
        _options = options;
        // Only root can give a file away; a gateway running as Exim's user creates its files as that user anyway.
        if (Environment.IsPrivilegedProcess)
            _owner = PostfixLibc.LookUpUser(options.User)
                     ?? throw new IOException($"Exim's user '{options.User}' (mailscanner.queue.exim.user) is not a user on this system");
        _trigger = options.DeliverCommand.Count > 0 ? new EximDeliveryTrigger(options.DeliverCommand) : null;
    }

    public string Name => FormatName;

    /// <summary>input/, and with split_spool_directory its one-character subdirectories too (Exim reads both).</summary>
    public IEnumerable<string> CandidateEntries(string incomingDirectory) =>
        _options.SplitSpoolDirectory
            ? Directory.EnumerateFileSystemEntries(incomingDirectory).Concat(Directory.EnumerateDirectories(incomingDirectory)
                .Where(sub => Path.GetFileName(sub).Length == 1).SelectMany(Directory.EnumerateFileSystemEntries))
            : Directory.EnumerateFileSystemEntries(incomingDirectory);

    public bool IsQueueFileName(string name) => EximMessageId.TryFromFileName(name, 'H', out _);

    /// <summary>Exim's ids carry the time and a process id, not the inode: any valid name may be any file.</summary>
    public bool NameMatches(string name, FileIdentity identity) => IsQueueFileName(name);

    public string IncomingPathFor(string incomingDirectory, string queueId) =>
        _options.SplitSpoolDirectory && EximMessageId.TryFromFileName(queueId, 'H', out var id)
            ? Path.Combine(incomingDirectory, EximMessageId.SplitDirectory(id).ToString(), queueId)
            : Path.Combine(incomingDirectory, queueId);

    public IReadOnlyList<string> CompanionPathsOf(string primaryPath) => [DataFileOf(primaryPath)];

    /// <summary>The -D file is locked by any Exim process working on the message; the -H is not locked.</summary>
    public bool TryLockForClaim(SafeFileHandle handle, string path) => !path.EndsWith("-D", StringComparison.Ordinal) || EximDataFileLock.TryLock(handle);

    public QueueFileParse Parse(ReadOnlyMemory<byte> content) => new QueueFileParse.Malformed("an Exim message is read from its -H and -D files together");

    /// <summary><see cref="QueueFileParse.Parsed.Original"/> is the -H file followed by the -D file, as they were.</summary>
    public QueueFileParse ParseEntry(QueueEntryContent entry)
    {
        if (entry.Companions.Count != 1) return new QueueFileParse.Malformed("an Exim message needs its -D file");
        var data = entry.Companions[0];
        return EximSpoolReader.Read(entry.Primary.Span, data.Span) switch
        {
            EximSpoolReader.Result.Read read => new QueueFileParse.Parsed(
                new QueueEnvelope(read.Message.Sender, read.Message.Recipients), Concatenate(entry.Primary, data), read.Message.Message)
            {
                Details = read.Message,
                OriginalPartLengths = [entry.Primary.Length, data.Length],
            },
            EximSpoolReader.Result.Malformed malformed => new QueueFileParse.Malformed(malformed.Reason),
            var other => new QueueFileParse.Malformed($"unrecognised read result {other}"),
        };
    }

    /// <summary>Named by the claimed message's own id: the delivering Exim's spool is another, so it is free there.</summary>
    public OutgoingEntry ComposeOutgoing(QueueFileParse.Parsed claimed, ReadOnlySpan<byte> message)
    {
        var spooled = claimed.Details as EximSpoolMessage ?? throw new ArgumentException("not a parsed Exim message", nameof(claimed));
        var (header, data) = EximSpoolWriter.Write(spooled, message);
        var name = spooled.Id + "-H";
        return new OutgoingEntry(header, [data], _options.SplitSpoolDirectory ? Path.Combine(EximMessageId.SplitDirectory(spooled.Id).ToString(), name) : name);
    }

    /// <summary>A new id of this process's, in the <c>-H</c>'s first line (its own name) and so in both files' names.</summary>
    public QueueFileParse.Parsed WithNewQueueId(QueueFileParse.Parsed claimed)
    {
        var spooled = claimed.Details as EximSpoolMessage ?? throw new ArgumentException("not a parsed Exim message", nameof(claimed));
        var (id, _) = NextId();
        var envelope = spooled.EnvelopePart.Span;
        var rest = envelope[(envelope.IndexOf((byte)'\n') + 1)..];
        var renamed = new byte[id.Length + 3 + rest.Length];
        System.Text.Encoding.ASCII.GetBytes(id + "-H\n").CopyTo(renamed, 0);
        rest.CopyTo(renamed.AsSpan(id.Length + 3));
        return claimed with { Details = spooled with { Id = id, EnvelopePart = renamed } };
    }

    public IOutgoingQueueRules Outgoing => this;

    private readonly object _idClock = new();
    private DateTimeOffset _lastEnqueuedAt;

    /// <summary>Exim waits for the next tick of its id clock before it makes another id; so does this, by moving on one tick.</summary>
    private (string Id, DateTimeOffset Time) NextId()
    {
        var now = DateTimeOffset.UtcNow;
        lock (_idClock)
        {
            if (now <= _lastEnqueuedAt.AddTicks(EximMessageId.TickLength.Ticks)) now = _lastEnqueuedAt.AddTicks(EximMessageId.TickLength.Ticks);
            _lastEnqueuedAt = now;
        }
        return (EximMessageId.New(now, Environment.ProcessId), now);
    }

    /// <summary>
    /// As the receiving Exim spools a message it accepted: <c>-D</c> first, then <c>-H</c> (each under a temp name Exim
    /// ignores, fsynced, Exim's user's, renamed), so the pair is complete when the <c>-H</c> appears.
    /// </summary>
    public string WriteIncomingEntry(string incomingDirectory, QueueEnvelope envelope, ReadOnlySpan<byte> message)
    {
        var (id, now) = NextId();
        var (uid, gid) = _owner ?? (0, 0);
        var envelopePart = string.Join('\n',
        [
            $"{id}-H",
            $"{_options.User} {uid} {gid}",
            $"<{envelope.Sender}>",
            $"{now.ToUnixTimeSeconds()} 0",
            "-ident mailscanner-actors",
            "-received_protocol local",
            "-body_linecount 0",
            "XX",
            envelope.Recipients.Count.ToString(System.Globalization.CultureInfo.InvariantCulture),
            .. envelope.Recipients,
            "",
            "",
        ]);
        var spooled = new EximSpoolMessage(id, System.Text.Encoding.UTF8.GetBytes(envelopePart), envelope.Sender, envelope.Recipients, []);
        var entry = ComposeOutgoing(new QueueFileParse.Parsed(envelope, Array.Empty<byte>(), message.ToArray()) { Details = spooled }, message);
        var headerPath = Path.Combine(incomingDirectory, entry.FinalName!);
        PrepareToPublish(incomingDirectory, entry.FinalName!);
        WriteDurably(DataFileOf(headerPath), entry.Companions[0]);
        WriteDurably(headerPath, entry.Primary);
        return id;
    }

    private void WriteDurably(string path, ReadOnlyMemory<byte> content)
    {
        var temp = $"{Path.GetDirectoryName(path)}/hdr.{Environment.ProcessId}.{Guid.NewGuid():N}";
        using (var handle = NativeFile.CreateExclusive(temp))
        {
            RandomAccess.Write(handle, content.Span, 0);
            PrepareStaged(handle, temp);
            RandomAccess.FlushToDisk(handle);
        }
        if (NativeFile.TryRenameNoReplace(temp, path) != RenameOutcome.Renamed)
        {
            File.Delete(temp);
            throw new IOException($"{path} already exists");
        }
        NativeFile.SyncDirectory(Path.GetDirectoryName(path)!);
    }

    /// <summary>Exim's own files are 0640 and its user's: it opens -D for writing to lock it.</summary>
    public void PrepareStaged(SafeFileHandle handle, string path)
    {
        if (OperatingSystem.IsWindows()) throw new PlatformNotSupportedException("an Exim spool lives on a Unix file system");
        if (_owner is { } owner) PostfixLibc.ChangeOwner(handle, owner.Uid, owner.Gid, path);
        File.SetUnixFileMode(handle, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);
    }

    public string FinalNameFor(FileIdentity staged) =>
        throw new InvalidOperationException("an Exim message is named by its id when it is composed");

    public IReadOnlyList<string> CompanionNamesOf(string finalName) => [DataFileOf(finalName)];

    /// <summary>With split_spool_directory, the subdirectory is made as Exim would (its user's, 0750) if it is not there yet.</summary>
    public void PrepareToPublish(string outgoingDirectory, string finalName)
    {
        var directory = Path.GetDirectoryName(Path.Combine(outgoingDirectory, finalName))!;
        if (directory == Path.TrimEndingDirectorySeparator(outgoingDirectory) || Directory.Exists(directory)) return;
        if (OperatingSystem.IsWindows()) throw new PlatformNotSupportedException("an Exim spool lives on a Unix file system");
        var temp = $"{directory}.{Environment.ProcessId}.{Guid.NewGuid():N}";
        Directory.CreateDirectory(temp);
        File.SetUnixFileMode(temp, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute);
        if (_owner is { } owner)
            using (var handle = NativeFile.OpenDirectory(temp)) PostfixLibc.ChangeOwner(handle, owner.Uid, owner.Gid, temp);
        if (NativeFile.TryRenameNoReplace(temp, directory) != RenameOutcome.Renamed) Directory.Delete(temp); // made meanwhile
        NativeFile.SyncDirectory(outgoingDirectory);
    }

    public Task<string?> AnnounceAsync(string publishedPath) => Task.FromResult(_trigger?.Deliver(publishedPath));

    public Task<string?> AnnounceNowAsync(string publishedPath) => _trigger?.DeliverNowAsync(publishedPath) ?? Task.FromResult<string?>(null);

    private static string DataFileOf(string headerPath) => string.Concat(headerPath.AsSpan(0, headerPath.Length - 1), "D");

    private static byte[] Concatenate(ReadOnlyMemory<byte> first, ReadOnlyMemory<byte> second)
    {
        var both = new byte[first.Length + second.Length];
        first.Span.CopyTo(both);
        second.Span.CopyTo(both.AsSpan(first.Length));
        return both;
    }
}
