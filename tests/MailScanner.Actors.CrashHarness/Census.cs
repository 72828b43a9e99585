namespace MailScanner.Actors.CrashHarness;

/// <summary>
/// What the gateway's directories hold for the sequence numbers 0..produced-1: the copies in the outgoing queue
/// and in the quarantine (<c>&lt;day&gt;/&lt;id&gt;/queue-file</c>), and everything that should not be there any more
/// (incoming, work and bad entries, temp files in outgoing, half-built quarantine entries).
/// </summary>
internal sealed class Census
{
    private readonly List<string>[] _outgoing;
    private readonly List<string>[] _quarantine;

    private readonly HarnessQueue _queue;

    private Census(int produced, HarnessQueue queue)
    {
        _queue = queue;
        _outgoing = NewLists(produced);
        _quarantine = NewLists(produced);
    }

    public int Produced => _outgoing.Length;
    public int OutgoingFiles { get; private set; }
    public int QuarantinedFiles { get; private set; }
    public List<string> Leftovers { get; } = [];
    public List<string> Problems { get; } = [];
    /// <summary>Where a sequence number was seen outside outgoing and quarantine (for explaining a loss).</summary>
    public Dictionary<int, string> SeenElsewhere { get; } = [];

    /// <summary>Messages with at least one copy in outgoing or quarantine.</summary>
    public int AccountedFor => Enumerable.Range(0, Produced).Count(s => _outgoing[s].Count + _quarantine[s].Count > 0);

    public static Census Take(HarnessArea area, int produced)
    {
        var census = new Census(produced, area.Queue);
        census.CountCopies(area.Outgoing, "outgoing", census._outgoing);
        census.CountQuarantine(area.Quarantine);
        census.CountLeftovers(area.Incoming, "incoming");
        census.CountLeftovers(area.Work, "work");
        census.CountLeftovers(area.Bad, "bad");
        return census;
    }

    /// <summary>Seqs that have no copy in outgoing nor in quarantine.</summary>
    public IReadOnlyList<int> Lost() => Enumerable.Range(0, Produced).Where(s => _outgoing[s].Count + _quarantine[s].Count == 0).ToList();

    /// <summary>Seqs kept in the quarantine and not delivered at all (an infected message is delivered cleaned as well).</summary>
    public IReadOnlyList<int> QuarantinedOnly() => Enumerable.Range(0, Produced).Where(s => _outgoing[s].Count == 0 && _quarantine[s].Count > 0).ToList();

    /// <summary>
    /// Seqs with more than one copy in the same place. An infected message is delivered cleaned and its original
    /// kept in the quarantine: one copy in each is the policy, not a duplicate.
    /// </summary>
    public IReadOnlyList<Duplicate> Duplicates() =>
        Enumerable.Range(0, Produced)
            .SelectMany(s => new[] { new Duplicate(s, "outgoing", _outgoing[s]), new Duplicate(s, "quarantine", _quarantine[s]) })
            .Where(d => d.Files.Count > 1)
            .ToList();

    private void CountCopies(string directory, string label, List<string>[] copies)
    {
        if (!Directory.Exists(directory)) return;
        foreach (var entry in Directory.EnumerateFileSystemEntries(directory))
        {
            var name = Path.GetFileName(entry);
            if (!_queue.IsQueueName(name))
            {
                Leftovers.Add($"{label}/{name}"); // a temp file (tf-*) nobody will ever finish or remove
                continue;
            }
            OutgoingFiles++;
            Record(entry, $"{label}/{name}", copies);
        }
    }

    private void CountQuarantine(string quarantine)
    {
        if (!Directory.Exists(quarantine)) return;
        foreach (var entry in Directory.EnumerateFileSystemEntries(quarantine, "*", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(quarantine, entry);
            if (Path.GetFileName(entry).StartsWith('.'))
            {
                Leftovers.Add($"quarantine/{relative}"); // an entry still being built or deleted
                continue;
            }
            if (relative.Split('/').Any(part => part.StartsWith('.'))) continue; // inside one already reported
            if (Path.GetFileName(entry) != "queue-file") continue; // metadata.json and the day/id directories
            QuarantinedFiles++;
            Record(entry, $"quarantine/{relative}", _quarantine);
        }
    }

    private void Record(string path, string label, List<string>[] copies)
    {
        var (seq, intact) = HarnessMessage.Inspect(path, _queue.MessageOf);
        if (seq is not { } s || s < 0 || s >= Produced)
        {
            Problems.Add($"{label} is not one of the harness's messages (seq {seq?.ToString() ?? "missing"})");
            return;
        }
        if (!intact) Problems.Add($"{label} (seq {s}) is damaged: the message's own text is missing");
        copies[s].Add(label);
    }

    private void CountLeftovers(string directory, string label)
    {
        if (!Directory.Exists(directory)) return;
        foreach (var entry in Directory.EnumerateFileSystemEntries(directory, "*", SearchOption.AllDirectories).Where(IsQueueEntry))
        {
            var where = $"{label}/{Path.GetRelativePath(directory, entry)}";
            if (File.Exists(entry) && HarnessMessage.Inspect(entry, _queue.MessageOf).Seq is { } seq)
            {
                SeenElsewhere.TryAdd(seq, where);
                where += $" (seq {seq})";
            }
            Leftovers.Add(where);
        }
    }

    public static bool IsEmpty(string directory) => !Directory.Exists(directory) || !Directory.EnumerateFileSystemEntries(directory).Any(IsQueueEntry);

    public static int CountEntries(string directory) => Directory.Exists(directory) ? Directory.EnumerateFileSystemEntries(directory).Count(IsQueueEntry) : 0;

    /// <summary>
    /// The clustered gateway keeps the shared queue's id in the work area (<c>.mailscanner-queue-id</c>, written under
    /// that name plus a suffix, then renamed): it belongs there for good and is no message.
    /// </summary>
    private static bool IsQueueEntry(string path) => !Path.GetFileName(path).StartsWith(SharedQueueIdFile, StringComparison.Ordinal);

    private const string SharedQueueIdFile = ".mailscanner-queue-id";

    private static List<string>[] NewLists(int count)
    {
        var lists = new List<string>[count];
        for (var i = 0; i < count; i++) lists[i] = [];
        return lists;
    }
}

/// <summary>More than one copy of one message in one place.</summary>
public sealed record Duplicate(int Seq, string Place, IReadOnlyList<string> Files)
{
    public int Extra => Files.Count - 1;
}
