using MailScanner.Actors.Identity;

namespace MailScanner.Actors.Queue;

/// <summary>
/// What the <see cref="QueueWatcher"/> sees of the incoming queue directory: the complete queue files, oldest first.
/// An entry under a queue file's name that is not a regular file is never opened or followed: a symlink, FIFO, socket
/// or device is renamed (the entry itself, not what it points to) into the bad directory; a directory, or an entry
/// that cannot be moved, is left where it is. An entry left in place is reported once and never listed again.
/// </summary>
/// <remarks>
/// Everything the watcher knows about how an MTA lays out its queue directory is here and in <see cref="IQueueFormat"/>;
/// the watcher itself only admits what <see cref="List"/> returns.
/// </remarks>
internal sealed class IncomingQueueListing(string incoming, string bad, IQueueFormat format)
{
    /// <summary>
    /// Entries we could not open or move, known only by lstat: reported once, then left alone. Never by inode alone:
    /// once the operator removes such an entry its inode number goes to the next new file, which is a new message (the
    /// seed report's hazard), so the modification time is part of the key.
    /// </summary>
    private readonly HashSet<(ulong Device, ulong Inode, DateTime Modified)> _leftInPlace = new();

    /// <summary>Queue files refused by their MessageActor (unreadable), known by their whole identity: left alone, and only they.</summary>
    private readonly HashSet<FileIdentity> _refused = new();

    /// <summary>
    /// Lists the directory once: the paths of the <paramref name="atMost"/> oldest complete queue files, oldest first by
    /// modification time, except those named in <paramref name="beingAdmitted"/> and those left in place; and each entry
    /// set aside by this listing. Names that are not queue file names are the MTA's business and not looked at.
    /// </summary>
    /// <remarks>
    /// A backlog of a million files must not become a million paths in memory: only the oldest <paramref name="atMost"/>
    /// are kept while the directory is read (a heap whose top is the youngest kept), and <see cref="ListedQueue.More"/>
    /// says that the directory held more, to be listed once these are admitted.
    /// </remarks>
    public ListedQueue List(IReadOnlySet<string> beingAdmitted, int atMost = int.MaxValue)
    {
        // Ties in age keep the directory's order, as a stable sort would.
        atMost = Math.Max(1, atMost);
        var oldest = new PriorityQueue<string, (DateTime Modified, long Seen)>(YoungestFirst);
        long seen = 0;
        var more = false;
        var setAside = new List<SetAsideEntry>();
        var incomplete = 0;
        foreach (var path in format.CandidateEntries(incoming))
        {
            var name = Path.GetFileName(path);
            if (!format.IsQueueFileName(name) || beingAdmitted.Contains(name)) continue;
            var status = NativeFile.TryLStat(path);
            if (status is null || _leftInPlace.Contains(KeyOf(status))) continue;
            if (status.Kind == FileKind.Regular)
            {
                // Not complete yet (Postfix: still being written, not yet at mode 0700): the MTA's, for now.
                if (!format.IsComplete(status))
                {
                    incomplete++;
                    continue;
                }
                var age = (status.ModifiedUtc, seen++);
                if (oldest.Count < atMost) oldest.Enqueue(path, age);
                else
                {
                    more = true;
                    if (oldest.TryPeek(out _, out var youngestKept) && age.CompareTo(youngestKept) < 0) oldest.EnqueueDequeue(path, age);
                }
            }
            else if (MoveAsideOrLeave(path, status) is { } entry) setAside.Add(entry);
        }
        var listed = new List<string>(oldest.Count);
        while (oldest.TryDequeue(out var path, out _)) listed.Add(path);
        listed.Reverse();
        return new ListedQueue(listed, setAside) { More = more, Incomplete = incomplete };
    }

    private static readonly Comparer<(DateTime Modified, long Seen)> YoungestFirst = Comparer<(DateTime Modified, long Seen)>.Create((a, b) => b.CompareTo(a));

    /// <summary>Never lists the entry at <paramref name="path"/> again; true the first time (report it then), false when it is gone.</summary>
    public bool LeaveInPlace(string path) => NativeFile.TryLStat(path) is { } status && _leftInPlace.Add(KeyOf(status));

    /// <summary>Never admits the file of <paramref name="identity"/> again; a new file given its inode number is not it.</summary>
    public void LeaveInPlace(FileIdentity identity) => _refused.Add(identity);

    /// <summary>The file was refused (checked once it is open and its whole identity is known).</summary>
    public bool WasRefused(FileIdentity identity) => _refused.Contains(identity);

    private static (ulong, ulong, DateTime) KeyOf(FileStatus status) => (status.Device, status.Inode, status.ModifiedUtc);

    private SetAsideEntry? MoveAsideOrLeave(string path, FileStatus status)
    {
        var kind = status.Kind.ToString().ToLowerInvariant();
        var why = $"it is a {kind}, not a regular file";
        if (status.Kind != FileKind.Directory)
        {
            var target = Path.Combine(bad, $"{Path.GetFileName(path)}.{status.Device:x}-{status.Inode}.{kind}");
            if (NativeFile.TryRenameNoReplace(path, target) == RenameOutcome.Renamed) return new SetAsideEntry(path, target, why);
        }
        return _leftInPlace.Add(KeyOf(status)) ? new SetAsideEntry(path, MovedTo: null, why) : null;
    }
}

/// <summary>One listing of the incoming queue.</summary>
/// <param name="OldestFirst">The complete queue files to admit, oldest first.</param>
/// <param name="SetAside">Entries this listing moved into the bad directory or, newly, left in place.</param>
internal sealed record ListedQueue(IReadOnlyList<string> OldestFirst, IReadOnlyList<SetAsideEntry> SetAside)
{
    /// <summary>The directory held more complete queue files than were listed (all younger than those listed).</summary>
    public bool More { get; init; }

    /// <summary>Entries under queue file names that the MTA had not finished yet (not listed): worth another look soon.</summary>
    public int Incomplete { get; init; }
}

/// <summary>An entry under a queue file's name that is not a queue file: moved to <paramref name="MovedTo"/>, or left in place when null.</summary>
internal sealed record SetAsideEntry(string Path, string? MovedTo, string Reason);
