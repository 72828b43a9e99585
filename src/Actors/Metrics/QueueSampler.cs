using MailScanner.Actors.Queue;

namespace MailScanner.Actors.Metrics;

/// <summary>
/// Samples the queue for <c>mailscanner_queue_depth</c> and <c>mailscanner_queue_oldest_age_seconds</c>: the queue files
/// waiting in the incoming queue (as the queue format lists them, hashed subdirectories included) plus those claimed into
/// the work area, and the oldest modification time among them. It reads the directories itself, because the watcher's
/// status (<c>QueueWatcherProtocol.Status</c>) has counts but no ages, on a timer of its own and never at scrape time:
/// a client scraping as fast as it can costs the gateway nothing more, and a sample still running when the next is due
/// is skipped.
/// </summary>
public sealed class QueueSampler : IDisposable
{
    /// <summary>A listing stats every file: about 30 ms for a 20,000-message backlog, so every few seconds, not every second.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(3);

    private readonly PipelineCounters _counters;
    private readonly string _incoming;
    private readonly IQueueFormat _format;
    private readonly string _work;
    private readonly Timer _timer;
    private int _sampling;

    public QueueSampler(PipelineCounters counters, TimeSpan interval, string incoming, IQueueFormat format, string work)
    {
        _counters = counters;
        _incoming = incoming;
        _format = format;
        _work = work;
        _timer = new Timer(_ => Sample(), null, TimeSpan.Zero, interval);
    }

    /// <summary>Takes one sample now (the timer does this on its own).</summary>
    public void Sample()
    {
        if (Interlocked.Exchange(ref _sampling, 1) == 1) return;
        try
        {
            var depth = 0;
            var oldest = DateTime.MaxValue;
            foreach (var path in Listed())
            {
                var written = File.GetLastWriteTimeUtc(path);
                // A file gone between the listing and the stat reads as 1601: it is not waiting any more.
                if (written.Year < 1970) continue;
                depth++;
                if (written < oldest) oldest = written;
            }
            var age = depth == 0 ? TimeSpan.Zero : DateTime.UtcNow - oldest;
            _counters.QueueSampled(depth, age < TimeSpan.Zero ? TimeSpan.Zero : age);
        }
        finally
        {
            Volatile.Write(ref _sampling, 0);
        }
    }

    private IEnumerable<string> Listed() =>
        Readable(() => _format.CandidateEntries(_incoming).Where(path => _format.IsQueueFileName(Path.GetFileName(path))))
            .Concat(Readable(() => Directory.EnumerateFiles(_work)));

    /// <summary>A directory that cannot be listed now counts as empty here; /health/ready is what reports it.</summary>
    private static List<string> Readable(Func<IEnumerable<string>> list)
    {
        try
        {
            return list().ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }

    public void Dispose() => _timer.Dispose();
}
