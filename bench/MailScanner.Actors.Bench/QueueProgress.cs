using System.Diagnostics;

namespace MailScanner.Actors.Bench;

/// <summary>
/// Notices the gateway's first claim: the oldest queued file leaving the incoming directory. An inotify watcher
/// (FileSystemWatcher) gives the moment to within a millisecond; polling the oldest file is the fallback, in
/// case the gateway's first claim is not the oldest file or an event is missed.
/// </summary>
internal sealed class FirstClaimDetector : IDisposable
{
    private readonly string _oldestFile;
    private readonly FileSystemWatcher _watcher;
    private long _claimedAt;

    public FirstClaimDetector(string incoming, string oldestFile)
    {
        _oldestFile = oldestFile;
        _watcher = new FileSystemWatcher(incoming) { NotifyFilter = NotifyFilters.FileName, IncludeSubdirectories = false };
        _watcher.Deleted += (_, e) => OnGone(e.Name);
        _watcher.Renamed += (_, e) => OnGone(e.OldName);
        _watcher.EnableRaisingEvents = true;
    }

    /// <summary>Stopwatch timestamp of the first claim, or 0 while none was seen.</summary>
    public long ClaimedAt => Interlocked.Read(ref _claimedAt);

    private void OnGone(string? name)
    {
        if (name is not null && QueueDirectory.IsQueueName(name)) Record(Stopwatch.GetTimestamp());
    }

    private void Record(long timestamp)
    {
        if (Interlocked.CompareExchange(ref _claimedAt, timestamp, 0) == 0) _watcher.EnableRaisingEvents = false;
    }

    /// <summary>Called on every progress poll: the oldest file gone means a claim happened by now at the latest.</summary>
    public void Poll()
    {
        if (ClaimedAt == 0 && !File.Exists(_oldestFile)) Record(Stopwatch.GetTimestamp());
    }

    public void Dispose() => _watcher.Dispose();
}

/// <summary>How a drain ended: when the last expected file was seen in outgoing with incoming empty.</summary>
internal sealed record DrainOutcome(long CompletedAt, int Delivered);

/// <summary>
/// Waits until the gateway has emptied the incoming queue and the outgoing queue holds the expected number of
/// files. Polls by listing names only; polls often near the end so the finishing time is sharp. Any change in
/// either directory is progress; none for the stall timeout, or the gateway exiting, ends the wait with an error.
/// </summary>
internal static class QueueProgress
{
    public static Task<DrainOutcome> WaitUntilDrainedAsync(
        GatewayProcess gateway, GatewayDirectories directories, int expected, TimeSpan stallTimeout, Action? onPoll, CancellationToken cancel) =>
        WaitUntilDrainedAsync([gateway], directories, expected, stallTimeout, onPoll, cancel);

    /// <summary>Several gateways on one queue (the cluster runs): any of them exiting is a failure, the first one's tail is quoted.</summary>
    public static async Task<DrainOutcome> WaitUntilDrainedAsync(
        IReadOnlyList<GatewayProcess> gateways,
        GatewayDirectories directories,
        int expected,
        TimeSpan stallTimeout,
        Action? onPoll,
        CancellationToken cancel)
    {
        var lastProgress = Stopwatch.GetTimestamp();
        int lastDelivered = -1, lastQueued = -1;
        var lastIncomingCount = 0L;
        // Listing a directory of a million names takes a good part of a second: the polls wait at least 20 times as
        // long as their listings took, so that the bench never takes more than a twentieth of a core from the gateway.
        var listing = TimeSpan.Zero;

        while (true)
        {
            cancel.ThrowIfCancellationRequested();
            foreach (var gateway in gateways) gateway.EnsureRunning();
            onPoll?.Invoke();

            var now = Stopwatch.GetTimestamp();
            // A message is through when it was delivered or quarantined. Infected mail is both (delivered cleaned,
            // original quarantined), so the drain is judged by incoming and work being empty, and the counts only
            // show progress.
            var delivered = QueueDirectory.CountQueueFiles(directories.Outgoing) + QueueDirectory.QuarantinedFiles(directories.Quarantine).Count();
            listing = Stopwatch.GetElapsedTime(now);
            if (delivered != lastDelivered)
            {
                lastDelivered = delivered;
                lastProgress = now;
            }

            // Listing incoming competes with the gateway for the same directory: only once a second, or at the end.
            if (delivered >= expected || Stopwatch.GetElapsedTime(lastIncomingCount, now) >= TimeSpan.FromSeconds(1) + 20 * listing)
            {
                lastIncomingCount = now;
                var countingIncoming = Stopwatch.GetTimestamp();
                var queued = QueueDirectory.CountQueueFiles(directories.Incoming);
                listing += Stopwatch.GetElapsedTime(countingIncoming);
                if (queued != lastQueued)
                {
                    lastQueued = queued;
                    lastProgress = now;
                }
                if (queued == 0 && delivered >= expected && !QueueDirectory.Claims(directories.Work).Any())
                    return new DrainOutcome(now, delivered);
            }

            if (Stopwatch.GetElapsedTime(lastProgress, now) > stallTimeout)
            {
                throw new BenchFailure(
                    $"no progress for {stallTimeout.TotalSeconds:F0} s, {delivered} of {expected} delivered: {directories.Describe()}" +
                    $"; the gateway's last output:{Environment.NewLine}{gateways[0].Tail()}");
            }

            var remaining = expected - delivered;
            var pause = TimeSpan.FromMilliseconds(remaining <= Math.Max(50, expected / 50) ? 5 : 100);
            await Task.Delay(pause > 20 * listing ? pause : 20 * listing, cancel);
        }
    }
}
