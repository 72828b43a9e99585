namespace MailScanner.Actors.Metrics;

/// <summary>
/// Samples the queue for <c>mailscanner_queue_depth</c> and <c>mailscanner_queue_oldest_age_seconds</c>: the files waiting
/// in the incoming queue plus those claimed into the work area, and the oldest modification time among them. It reads the
/// directories itself (the watcher's status has no ages) on a timer of its own, never at scrape time, so a client
/// scraping as fast as it can costs the gateway nothing more; a sample still running when the next is due is skipped.
/// </summary>
public sealed class QueueSampler : IDisposable
{
    /// <summary>
    /// A listing stats every file: about 30 ms for a 20,000-message backlog, so every few seconds, not every second.
    /// </summary>
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(3);

    private readonly string[] _directories;
    private readonly PipelineCounters _counters;
    private readonly Timer _timer;
    private int _sampling;

    public QueueSampler(PipelineCounters counters, TimeSpan interval, params string[] directories)
    {
        _counters = counters;
        _directories = directories;
        _timer = new Timer(_ => Sample(), null, TimeSpan.Zero, interval);
    }

    /// <summary>Takes one sample now (the timer does this on its own; specs call it to avoid waiting).</summary>
    public void Sample()
    {
        if (Interlocked.Exchange(ref _sampling, 1) == 1) return;
        try
        {
            var depth = 0;
            var oldest = DateTime.MaxValue;
            foreach (var directory in _directories)
            {
                try
                {
                    foreach (var file in new DirectoryInfo(directory).EnumerateFiles())
                    {
                        depth++;
                        var written = file.LastWriteTimeUtc;
                        if (written < oldest) oldest = written;
                    }
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    // A directory that cannot be listed now is reported by /health/ready; the sample counts what it could read.
                }
            }
            var age = depth == 0 ? TimeSpan.Zero : DateTime.UtcNow - oldest;
            _counters.QueueSampled(depth, age < TimeSpan.Zero ? TimeSpan.Zero : age);
        }
        finally
        {
            Volatile.Write(ref _sampling, 0);
        }
    }

    public void Dispose() => _timer.Dispose();
}
