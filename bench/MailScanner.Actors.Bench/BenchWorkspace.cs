using System.Globalization;

namespace MailScanner.Actors.Bench;

/// <summary>
/// A fresh scratch directory per run, one sub-area per measurement, all on one file system (the gateway's
/// work and bad directories must share the incoming one). Deleted at the end unless --keep.
/// </summary>
internal sealed class BenchWorkspace : IDisposable
{
    private readonly bool _keep;

    public BenchWorkspace(string tempRoot, bool keep)
    {
        _keep = keep;
        Root = Path.Combine(tempRoot, string.Create(CultureInfo.InvariantCulture,
            $"mailscanner-bench-{Environment.ProcessId}-{Random.Shared.Next():x8}"));
        Directory.CreateDirectory(Root);
    }

    public string Root { get; }

    public string NewArea(string name)
    {
        // With --keep an earlier measurement's area is still there: a second one of the same name gets its own, or it
        // would count the first one's outgoing files as duplicates.
        var path = Path.Combine(Root, name);
        for (var n = 2; Directory.Exists(path); n++) path = Path.Combine(Root, $"{name}-{n}");
        Directory.CreateDirectory(path);
        return path;
    }

    private readonly List<string> _released = new();

    /// <summary>
    /// A finished measurement's files, removed only when the bench ends. Removed at once, they weighed on the next
    /// measurement: on ext4 without a journal (this kind of machine) an inode freed in the last 60 seconds is not
    /// given out again, and creating a file scanned past every one of them (perf: 12 % of the CPU in
    /// <c>recently_deleted</c>, 15 % in <c>find_get_block_common</c>; the gateway's rate halved in such runs); and the
    /// deletion's dirty metadata was written by the next gateway's first syncfs rounds.
    /// </summary>
    public void Release(string area)
    {
        if (!_keep) _released.Add(area);
    }

    public void Dispose()
    {
        if (_keep)
        {
            Console.WriteLine($"kept scratch directory {Root}");
            return;
        }
        try
        {
            foreach (var area in _released.Where(Directory.Exists)) Directory.Delete(area, recursive: true);
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException e)
        {
            Console.Error.WriteLine($"could not remove scratch directory {Root}: {e.Message}");
        }
    }
}

/// <summary>The directories one gateway run is configured with, created empty under one area.</summary>
internal sealed record GatewayDirectories(string Incoming, string Outgoing, string Work, string Bad, string Quarantine, string State)
{
    public static GatewayDirectories CreateUnder(string area)
    {
        var directories = new GatewayDirectories(
            Path.Combine(area, "incoming"),
            Path.Combine(area, "outgoing"),
            Path.Combine(area, "work"),
            Path.Combine(area, "bad"),
            Path.Combine(area, "quarantine"),
            Path.Combine(area, "state"));
        foreach (var directory in new[] { directories.Incoming, directories.Outgoing, directories.Work, directories.Bad, directories.Quarantine, directories.State })
            Directory.CreateDirectory(directory);
        return directories;
    }

    /// <summary>Where a message may legitimately be when it did not reach the outgoing queue.</summary>
    public IReadOnlyList<string> Elsewhere => [Incoming, Work, Bad, Quarantine];

    public string Describe() =>
        $"{QueueDirectory.CountQueueFiles(Incoming)} queued in incoming, {QueueDirectory.AllFiles(Work).Count()} in work, " +
        $"{QueueDirectory.CountQueueFiles(Outgoing)} in outgoing, {QueueDirectory.AllFiles(Bad).Count()} in bad, " +
        $"{QueueDirectory.AllFiles(Quarantine).Count()} in quarantine";
}
