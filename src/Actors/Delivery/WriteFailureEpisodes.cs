using Akka.Event;

namespace MailScanner.Actors.Delivery;

/// <summary>The classes of write failure an operator is told about once per episode, not once per message.</summary>
public enum WriteFailureKind
{
    /// <summary>ENOSPC or EDQUOT: no space (or no quota) left on the file system of a directory we write to.</summary>
    DiskFull,

    /// <summary>EIO or EROFS: the device failed, or the kernel turned the file system read-only after errors.</summary>
    IoError,

    /// <summary>The message journal did not record what it was asked to (its database cannot be written, or it did not answer).</summary>
    JournalUnavailable,
}

/// <summary>Why one message could not be written, and where: a directory, or the journal's database.</summary>
/// <param name="Where">The directory whose file system failed, or the journal's database file.</param>
/// <param name="Detail">The error as the system reported it, for the first message's log line.</param>
public sealed record WriteFailure(WriteFailureKind Kind, string Where, string Detail)
{
    private const int EIO = 5, ENOSPC = 28, EROFS = 30, EDQUOT = 122;

    /// <summary>
    /// A failure that will clear by itself or by an operator's hand (space freed, device replaced), or null for
    /// anything else (a name taken, a bug): that is worth a line per message.
    /// </summary>
    public static WriteFailure? InDirectory(Exception e, string directory) => ErrnoOf(e) switch
    {
        ENOSPC or EDQUOT => new WriteFailure(WriteFailureKind.DiskFull, directory, e.Message),
        EIO or EROFS => new WriteFailure(WriteFailureKind.IoError, directory, e.Message),
        _ => null,
    };

    public static WriteFailure OfJournal(string database, string detail) => new(WriteFailureKind.JournalUnavailable, database, detail);

    /// <summary>The end of an episode, in the words of the log: "Disk full on /var/spool/outgoing recovered".</summary>
    public string DescribeRecovery() => Kind switch
    {
        WriteFailureKind.JournalUnavailable => $"The message journal ({Where}) is available again",
        _ => $"{char.ToUpperInvariant(Describe()[0])}{Describe()[1..]} recovered",
    };

    /// <summary>What failed, in the words of the log: "disk full on /var/spool/outgoing".</summary>
    public string Describe() => Kind switch
    {
        WriteFailureKind.DiskFull => $"disk full on {Where}",
        WriteFailureKind.IoError => $"I/O error on {Where}",
        _ => $"the message journal ({Where}) is unavailable",
    };

    /// <summary>
    /// .NET's file APIs and <see cref="Identity.NativeFile"/> both put the raw errno in an IOException's HResult
    /// on Unix; anything wrapped (an aggregate, an async continuation) is unwrapped first.
    /// </summary>
    private static int ErrnoOf(Exception e)
    {
        for (Exception? current = e; current is not null; current = current.InnerException)
        {
            if (current is AggregateException { InnerExceptions.Count: 1 } aggregate) current = aggregate.InnerExceptions[0];
            if (current is IOException io && io.GetType() == typeof(IOException)) return io.HResult;
        }
        return 0;
    }
}

/// <summary>Thrown by a write whose failure was classified; the MessageActor reports it to <see cref="WriteFailureEpisodes"/>.</summary>
public sealed class WriteFailedException(WriteFailure failure, Exception cause) : Exception($"{failure.Describe()}: {cause.Message}", cause)
{
    public WriteFailure Failure { get; } = failure;
}

/// <summary>
/// Turns a burst of identical write failures into two log lines. A full disk fails every message that reaches it,
/// over and over as each is retried; the first failure of a kind at a place opens an episode and is logged once
/// as a warning, the rest are only counted, and the first write that succeeds there again closes the episode with
/// one line saying how many messages were handed back meanwhile. Shared by all MessageActors of one gateway.
/// </summary>
/// <remarks>
/// Every message is handed back to the incoming queue untouched when its write fails, so an episode costs time,
/// never mail. Successes are reported by every message; with no episode open that is one volatile read.
/// </remarks>
public sealed class WriteFailureEpisodes
{
    private readonly ILoggingAdapter _log;
    private readonly Lock _gate = new();
    private readonly Dictionary<(WriteFailureKind Kind, string Where), Episode> _open = new();
    private volatile int _openCount;

    public WriteFailureEpisodes(ILoggingAdapter log) => _log = log;

    /// <summary>Reports nothing: for a workspace built without a gateway (specs of a single actor).</summary>
    public static WriteFailureEpisodes Silent() => new(NoLogger.Instance);

    /// <summary>How many episodes are open now (specs and metrics).</summary>
    public int OpenEpisodes => _openCount;

    /// <summary>A message was handed back because of <paramref name="failure"/>; logs only when this opens an episode.</summary>
    public void HandedBack(WriteFailure failure)
    {
        lock (_gate)
        {
            if (_open.TryGetValue((failure.Kind, failure.Where), out var episode))
            {
                episode.HandedBack++;
                return;
            }
            _open[(failure.Kind, failure.Where)] = new Episode(failure, DateTime.UtcNow) { HandedBack = 1 };
            _openCount = _open.Count;
        }
        _log.Warning(
            "{Failure}: messages cannot be written there, so each is kept in the incoming queue untouched and retried later " +
            "({Detail}); further failures like this are counted, not logged, until a write there succeeds again",
            Capitalized(failure.Describe()), failure.Detail);
    }

    /// <summary>A write to <paramref name="where"/> succeeded: every episode open there is over.</summary>
    public void Succeeded(string where)
    {
        if (_openCount == 0) return;
        List<Episode>? ended = null;
        lock (_gate)
        {
            foreach (var (key, episode) in _open)
            {
                if (key.Where != where) continue;
                (ended ??= new List<Episode>()).Add(episode);
            }
            if (ended is null) return;
            foreach (var episode in ended) _open.Remove((episode.First.Kind, episode.First.Where));
            _openCount = _open.Count;
        }
        foreach (var episode in ended)
        {
            _log.Info("{Recovery} after {Duration}; {Count} message(s) were handed back during the episode and are retried",
                episode.First.DescribeRecovery(), (DateTime.UtcNow - episode.StartedUtc).ToString(@"hh\:mm\:ss"), episode.HandedBack);
        }
    }

    private static string Capitalized(string s) => s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..];

    private sealed class Episode(WriteFailure first, DateTime startedUtc)
    {
        public WriteFailure First { get; } = first;
        public DateTime StartedUtc { get; } = startedUtc;
        public int HandedBack { get; set; }
    }
}
