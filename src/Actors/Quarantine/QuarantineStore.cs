using System.Text.Json;
using MailScanner.Actors.Delivery;
using MailScanner.Actors.Identity;
using MailScanner.Actors.Journal;
using MailScanner.Actors.Queue;
using MailScanner.Actors.Scanning;
using Microsoft.Win32.SafeHandles;

namespace MailScanner.Actors.Quarantine;

/// <summary>
/// The quarantine on disk: <c>&lt;directory&gt;/&lt;yyyyMMdd&gt;/&lt;id&gt;/</c> holding <c>queue-file</c> (the original
/// queue entry, byte for byte: for Exim its <c>-H</c> then its <c>-D</c>, for Sendmail its <c>qf</c> then its <c>df</c>,
/// whose lengths <c>metadata.json</c> records) and <c>metadata.json</c>. Directories are 0700 and files 0600: quarantined mail
/// is the most sensitive mail there is.
/// </summary>
/// <remarks>
/// An entry is built under a temp name (<c>.tmp-&lt;name&gt;</c>) in the quarantine directory, made durable, and renamed
/// into its day directory without replacing anything; so a reader sees a complete entry or none, also after a crash.
/// Ids are generated here (<see cref="QuarantineId"/>) and every id given to us is checked before a path is
/// built from it. Release and delete hold an flock on the entry directory, so two operators cannot release
/// the same message at once. Releasing, the one multi-step protocol here, is in <c>QuarantineStore.Release.cs</c>.
/// </remarks>
public sealed partial class QuarantineStore
{
    public const string QueueFileName = "queue-file";
    public const string MetadataFileName = "metadata.json";
    internal const string ReleaseIntentFileName = "release-intent.json";

    /// <summary>An entry being stored; never listed.</summary>
    internal const string StoringPrefix = ".tmp-";

    /// <summary>An entry being deleted; never listed.</summary>
    private const string DeletingPrefix = ".deleting-";

    /// <summary>Temp name of a release in the outgoing queue: not all digits, so the MTA ignores it until it is renamed.</summary>
    internal const string OutgoingTempPrefix = "tf-quarantine-";

    private const string ReplacementSuffix = ".new";
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    private readonly DurabilityBarrier? _barrier;

    /// <param name="directory">The quarantine directory (<c>mailscanner.quarantine.directory</c>); created 0700 on first store.</param>
    /// <param name="barrier">
    /// Optional group commit on the quarantine's file system: stores then share syncfs rounds with other writers
    /// instead of paying an fsync per file. Without it every file and directory is fsynced on its own.
    /// </param>
    public QuarantineStore(string directory, DurabilityBarrier? barrier = null)
    {
        Directory = Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory));
        _barrier = barrier;
    }

    public string Directory { get; }

    /// <summary>Stores a message durably under a new id and returns its entry.</summary>
    public Task<QuarantineEntry> StoreAsync(ReadOnlyMemory<byte> queueFile, QuarantineMetadata metadata)
    {
        // Without a barrier the fsyncs block: keep them off the caller's (an actor's) thread.
        return _barrier is null ? Task.Run(StoreCoreAsync) : StoreCoreAsync();

        async Task<QuarantineEntry> StoreCoreAsync()
        {
            var id = QuarantineId.New(UtcOf(metadata.TimeUtc));
            var staged = await StageCoreAsync(queueFile, metadata, id, id).ConfigureAwait(false);
            var path = await PublishAsync(staged).ConfigureAwait(false);
            return new QuarantineEntry(id, path, metadata with { TimeUtc = UtcOf(metadata.TimeUtc) }, Release: null);
        }
    }

    /// <summary>
    /// Builds an entry durably under <c>.tmp-&lt;stagingName&gt;</c> in the quarantine directory, not yet listed. The
    /// staging name belongs to one message (the gateway uses its identity), so a leftover of that name is an
    /// earlier attempt's that no journal entry names, and is replaced.
    /// </summary>
    public Task<StagedName> StageAsync(ReadOnlyMemory<byte> queueFile, QuarantineMetadata metadata, string stagingName)
    {
        var id = QuarantineId.New(UtcOf(metadata.TimeUtc));
        return _barrier is null
            ? Task.Run(() => StageCoreAsync(queueFile, metadata, id, stagingName))
            : StageCoreAsync(queueFile, metadata, id, stagingName);
    }

    /// <summary>
    /// Moves a staged entry into its day directory under its id, unless an earlier attempt already did, and makes
    /// that durable; returns the entry's directory. Like a queue delivery, exactly once: once recorded, a staging
    /// directory is removed only by this rename, so one that is gone was published.
    /// </summary>
    public async Task<string> PublishAsync(StagedName staged)
    {
        var id = staged.FinalName;
        if (!QuarantineId.IsValid(id)) throw new ArgumentException($"'{id}' is not a quarantine id", nameof(staged));
        var day = Path.Combine(Directory, QuarantineId.DayOf(id));
        var final = Path.Combine(day, id);
        if (System.IO.Directory.Exists(staged.Path))
        {
            EnsureOwnerOnlyDirectory(day);
            // The id was minted for this message when it was staged and recorded with it: an entry already under it is
            // this message's, published by an earlier attempt whose staging directory came back (a restored or
            // inconsistent copy of the directory). Handing the message back would meet it again forever.
            if (NativeFile.TryRenameNoReplace(staged.Path, final) == RenameOutcome.TargetExists)
                System.IO.Directory.Delete(staged.Path, recursive: true);
        }
        // Also when the rename was an earlier attempt's: it may not have reached the disk before that attempt died.
        if (_barrier is null) await Task.Run(() => NativeFile.SyncDirectory(day)).ConfigureAwait(false);
        else await _barrier.WhenDurableAsync().ConfigureAwait(false);
        return final;
    }

    /// <summary>Removes a staging directory that no journal entry names (it can never have been published).</summary>
    public void DiscardUnrecorded(string stagingName)
    {
        var storing = Path.Combine(Directory, StoringPrefix + stagingName);
        if (System.IO.Directory.Exists(storing)) System.IO.Directory.Delete(storing, recursive: true);
    }

    private async Task<StagedName> StageCoreAsync(ReadOnlyMemory<byte> queueFile, QuarantineMetadata metadata, string id, string stagingName)
    {
        metadata = metadata with { TimeUtc = UtcOf(metadata.TimeUtc) };
        EnsureOwnerOnlyDirectory(Directory);
        DiscardUnrecorded(stagingName);
        var storing = Path.Combine(Directory, StoringPrefix + stagingName);
        if (!NativeFile.TryCreateDirectoryExclusive(storing)) throw new IOException($"cannot create {storing}: the name is taken");
        try
        {
            var syncEach = _barrier is null;
            WriteNewFile(Path.Combine(storing, QueueFileName), queueFile.Span, syncEach);
            WriteNewFile(Path.Combine(storing, MetadataFileName), Serialize(QuarantineDocument.Of(id, metadata)), syncEach);
            if (_barrier is null)
            {
                NativeFile.SyncDirectory(storing);
                NativeFile.SyncDirectory(Directory);
            }
            else await _barrier.WhenDurableAsync().ConfigureAwait(false);
        }
        catch
        {
            if (System.IO.Directory.Exists(storing)) System.IO.Directory.Delete(storing, recursive: true);
            throw;
        }
        return new StagedName(storing, id, IdentityKey: null);
    }

    private static DateTime UtcOf(DateTime time) => time.Kind switch
    {
        DateTimeKind.Local => time.ToUniversalTime(),
        DateTimeKind.Unspecified => DateTime.SpecifyKind(time, DateTimeKind.Utc),
        _ => time,
    };

    /// <summary>
    /// The complete entries, oldest first, quarantined at or after <paramref name="sinceUtc"/> (if given) with
    /// verdict <paramref name="verdict"/> (if given). Entries still being stored or deleted are not listed.
    /// </summary>
    public IReadOnlyList<QuarantineEntry> List(DateTime? sinceUtc = null, VerdictKind? verdict = null)
    {
        if (!System.IO.Directory.Exists(Directory)) return [];
        var since = sinceUtc is { } s ? (s.Kind == DateTimeKind.Local ? s.ToUniversalTime() : DateTime.SpecifyKind(s, DateTimeKind.Utc)) : (DateTime?)null;
        var firstDay = since is { } f ? QuarantineId.DayOf(f) : null;

        var entries = new List<QuarantineEntry>();
        foreach (var dayPath in System.IO.Directory.EnumerateDirectories(Directory))
        {
            var day = Path.GetFileName(dayPath);
            if (!QuarantineId.IsDayName(day) || (firstDay is not null && string.CompareOrdinal(day, firstDay) < 0)) continue;
            foreach (var entryPath in System.IO.Directory.EnumerateDirectories(dayPath))
            {
                var id = Path.GetFileName(entryPath);
                if (!QuarantineId.IsValid(id) || QuarantineId.DayOf(id) != day) continue;
                var entry = TryRead(id, entryPath);
                if (entry is null) continue; // deleted while we looked
                if (since is not null && entry.Metadata.TimeUtc < since) continue;
                if (verdict is not null && entry.Metadata.Verdict != verdict) continue;
                entries.Add(entry);
            }
        }
        entries.Sort((a, b) =>
        {
            var byTime = a.Metadata.TimeUtc.CompareTo(b.Metadata.TimeUtc);
            return byTime != 0 ? byTime : string.CompareOrdinal(a.Id, b.Id);
        });
        return entries;
    }

    /// <summary>The entry with this id, or null when the id is malformed or unknown.</summary>
    public QuarantineEntry? TryGet(string id) => QuarantineId.IsValid(id) ? TryRead(id, EntryPath(id)) : null;

    /// <summary>Releases into a ZMailer outgoing queue: <see cref="ReleaseAsync(string, string, IQueueFormat)"/> with ZMailer's format.</summary>
    public Task<ReleaseOutcome> ReleaseAsync(string id, string outgoingDirectory) => ReleaseAsync(id, outgoingDirectory, ZMailerFormat.Instance);

    /// <summary>
    /// Hands the original back to the MTA through <paramref name="outgoingDirectory"/> as <paramref name="format"/>
    /// writes a delivered message (ZMailer: one file named by its inode; Postfix: a queue file in incoming/ named by a
    /// queue id of its inode; Exim: <c>-D</c> then <c>-H</c> under the message's id; Sendmail: <c>df</c> then
    /// <c>qf</c>), once: a second release is refused, and a release interrupted by a crash is completed (not repeated)
    /// by the next attempt.
    /// </summary>
    public Task<ReleaseOutcome> ReleaseAsync(string id, string outgoingDirectory, IQueueFormat format) =>
        Task.Run(() => ReleaseCoreAsync(id, Path.GetFullPath(outgoingDirectory), format));

    /// <summary>Removes an entry. False when the id is malformed or unknown.</summary>
    /// <exception cref="IOException">A release or delete of the same entry is running right now.</exception>
    public Task<bool> DeleteAsync(string id) => Task.Run(() => Delete(id));

    private bool Delete(string id)
    {
        if (!QuarantineId.IsValid(id)) return false;
        var entryPath = EntryPath(id);
        using var entryLock = TryLockEntry(entryPath, out var busy);
        if (busy) throw new IOException($"quarantine entry {id} is busy: a release or delete of it is running");
        if (entryLock is null || !File.Exists(Path.Combine(entryPath, MetadataFileName))) return false;

        // An interrupted release may have left its temp in the outgoing queue: unpublished, and ours by name and identity.
        var intentPath = Path.Combine(entryPath, ReleaseIntentFileName);
        if (File.Exists(intentPath))
        {
            var intent = Deserialize(intentPath, QuarantineJson.Default.ReleaseIntent);
            var tempPath = Path.Combine(intent.OutgoingDirectory, intent.TempName);
            if (NativeFile.TryGetIdentity(tempPath)?.Key == intent.OutgoingIdentity)
            {
                File.Delete(tempPath);
                // Its companions' temps (<temp>+1, ...) too: still staged, since the primary was to be published last.
                for (var i = 1; NativeFile.TryLStat($"{tempPath}+{i}") is not null; i++) File.Delete($"{tempPath}+{i}");
            }
        }

        // Renamed aside first, so that the entry disappears from listings at once and a crash leaves no half entry.
        var day = Path.GetDirectoryName(entryPath)!;
        var doomed = Path.Combine(day, DeletingPrefix + id);
        if (NativeFile.TryRenameNoReplace(entryPath, doomed) != RenameOutcome.Renamed) return false;
        NativeFile.SyncDirectory(day);
        System.IO.Directory.Delete(doomed, recursive: true);
        return true;
    }

    private string EntryPath(string validId) => Path.Combine(Directory, QuarantineId.DayOf(validId), validId);

    private static QuarantineEntry? TryRead(string id, string entryPath) =>
        TryReadDocument(id, entryPath) is { } document
            ? new QuarantineEntry(id, entryPath, document.Metadata, document.Release)
            : null;

    private static QuarantineDocument? TryReadDocument(string id, string entryPath)
    {
        QuarantineDocument document;
        try
        {
            document = Deserialize(Path.Combine(entryPath, MetadataFileName), QuarantineJson.Default.QuarantineDocument);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
        if (document.Id != id) throw new InvalidDataException($"{entryPath}/{MetadataFileName} names id {document.Id}, not {id}");
        return document;
    }

    /// <summary>The entry directory, opened and flocked; null (and not busy) when there is no such entry.</summary>
    private static SafeFileHandle? TryLockEntry(string entryPath, out bool busy)
    {
        busy = false;
        if (!System.IO.Directory.Exists(entryPath)) return null;
        SafeFileHandle handle;
        try
        {
            handle = NativeFile.OpenDirectory(entryPath);
        }
        catch (IOException) when (!System.IO.Directory.Exists(entryPath))
        {
            return null; // deleted between the look and the open
        }
        if (NativeFile.TryLockExclusive(handle)) return handle;
        handle.Dispose();
        busy = true;
        return null;
    }

    private static ReleaseOutcome NotAnId(string id) =>
        new ReleaseOutcome.Refused($"'{id}' is not a quarantine id (expected yyyyMMdd-HHmmss- and 16 hex digits, as 'quarantine list' prints)");

    private static ReleaseOutcome Unknown(string id) => new ReleaseOutcome.Refused($"no quarantine entry {id}");

    /// <summary>Creates a missing directory owner-only and makes its name durable in the parent.</summary>
    private static void EnsureOwnerOnlyDirectory(string path)
    {
        if (System.IO.Directory.Exists(path)) return;
        if (OperatingSystem.IsWindows()) throw new PlatformNotSupportedException("the quarantine uses Linux system calls");
        System.IO.Directory.CreateDirectory(path, OwnerOnly);
        if (Path.GetDirectoryName(path) is { } parent) NativeFile.SyncDirectory(parent);
    }

    /// <summary>A new file, 0600, that must not exist yet.</summary>
    private static void WriteNewFile(string path, ReadOnlySpan<byte> content, bool sync)
    {
        using var handle = NativeFile.CreateExclusive(path);
        RandomAccess.Write(handle, content, fileOffset: 0);
        if (sync) NativeFile.Sync(handle);
    }

    /// <summary>Replaces one of our own files atomically and durably: write aside, fsync, rename over, fsync the directory.</summary>
    private static void ReplaceFile(string path, ReadOnlySpan<byte> content)
    {
        var aside = path + ReplacementSuffix;
        if (NativeFile.TryLStat(aside) is not null) File.Delete(aside); // left by an interrupted replacement
        WriteNewFile(aside, content, sync: true);
        File.Move(aside, path, overwrite: true); // rename(2): atomic, and replacing is the point here
        NativeFile.SyncDirectory(Path.GetDirectoryName(path)!);
    }

    private static byte[] Serialize(QuarantineDocument document) =>
        JsonSerializer.SerializeToUtf8Bytes(document, QuarantineJson.Default.QuarantineDocument);

    private static T Deserialize<T>(string path, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
    {
        var bytes = File.ReadAllBytes(path);
        try
        {
            return JsonSerializer.Deserialize(bytes, type) ?? throw new InvalidDataException($"{path} is empty (null)");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path} is not valid quarantine metadata: {e.Message}", e);
        }
    }
}
