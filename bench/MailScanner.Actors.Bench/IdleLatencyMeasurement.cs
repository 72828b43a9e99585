using System.Diagnostics;
using System.Threading.Channels;

namespace MailScanner.Actors.Bench;

internal sealed record IdleLatencyResult(IReadOnlyList<double> SamplesMs, int WatcherMisses, string Stop)
{
    public double Percentile(double q)
    {
        var sorted = SamplesMs.Order().ToArray();
        var rank = (int)Math.Ceiling(q * sorted.Length) - 1; // nearest-rank
        return sorted[Math.Clamp(rank, 0, sorted.Length - 1)];
    }

    public double Max => SamplesMs.Max();
}

/// <summary>
/// (d) Latency on a quiet queue: one message at a time is queued the way an MTA does (temp, fsync, rename), and
/// the clock runs from the rename until its file appears in outgoing. An inotify watcher on outgoing sees the
/// new queue name within about a millisecond; a slow poll catches anything the watcher missed (counted, and
/// timed at the poll, so a miss can only make the figure worse). Between samples the incoming queue must be
/// empty again and the bench pauses a random few milliseconds so samples do not lock step with a scan timer.
/// </summary>
internal sealed class IdleLatencyMeasurement(
    BenchWorkspace workspace, Func<int, QueueMessage> messageFor, int samples, string gatewayDll, BenchOptions options)
{
    private const int WarmUpMessages = 5;
    private static readonly TimeSpan FallbackPoll = TimeSpan.FromMilliseconds(50);

    public async Task<IdleLatencyResult> RunAsync(CancellationToken cancel)
    {
        var area = workspace.NewArea("latency");
        try
        {
            var directories = GatewayDirectories.CreateUnder(area);
            var writer = new ZMailerQueueWriter(directories.Incoming, durable: true);
            var arrivals = Channel.CreateUnbounded<Arrival>();
            using var watcher = new FileSystemWatcher(directories.Outgoing) { NotifyFilter = NotifyFilters.FileName };
            watcher.Created += (_, e) => OnNewName(e.Name, e.FullPath);
            watcher.Renamed += (_, e) => OnNewName(e.Name, e.FullPath);
            watcher.EnableRaisingEvents = true;

            void OnNewName(string? name, string path)
            {
                if (name is not null && QueueDirectory.IsQueueName(name))
                    arrivals.Writer.TryWrite(new Arrival(path, Stopwatch.GetTimestamp(), FromWatcher: true));
            }

            await using var gateway = GatewayProcess.Start(gatewayDll, directories, options.Coordinators, area);
            var seen = new HashSet<string>();
            var round = new Round(writer, arrivals, directories, gateway, seen, options.StallTimeout);

            // Start-up (runtime, actor system, first scan) is not idle latency: the first messages just prove readiness.
            for (var i = 0; i < WarmUpMessages; i++) await round.MeasureAsync(messageFor(samples + i), cancel);

            var results = new List<double>(samples);
            var misses = 0;
            for (var seq = 0; seq < samples; seq++)
            {
                var (latency, fromWatcher) = await round.MeasureAsync(messageFor(seq), cancel);
                results.Add(latency.TotalMilliseconds);
                if (!fromWatcher) misses++;
                await Task.Delay(Random.Shared.Next(5, 30), cancel);
            }

            var stop = await gateway.StopAsync();
            return new IdleLatencyResult(results, misses, stop);
        }
        finally
        {
            workspace.Release(area);
        }
    }

    private sealed record Arrival(string Path, long At, bool FromWatcher);

    /// <summary>One message through a quiet gateway, timed.</summary>
    private sealed class Round(
        ZMailerQueueWriter writer, Channel<Arrival> arrivals, GatewayDirectories directories,
        GatewayProcess gateway, HashSet<string> seen, TimeSpan timeout)
    {
        public async Task<(TimeSpan Latency, bool FromWatcher)> MeasureAsync(QueueMessage message, CancellationToken cancel)
        {
            writer.Write(message);
            var queuedAt = Stopwatch.GetTimestamp();

            var arrival = await WaitForDeliveryAsync(message.Seq, queuedAt, cancel);
            await WaitForEmptyIncomingAsync(queuedAt, cancel);
            return (Stopwatch.GetElapsedTime(queuedAt, arrival.At), arrival.FromWatcher);
        }

        private async Task<Arrival> WaitForDeliveryAsync(int seq, long queuedAt, CancellationToken cancel)
        {
            while (true)
            {
                gateway.EnsureRunning();
                if (Stopwatch.GetElapsedTime(queuedAt) > timeout)
                    throw new BenchFailure($"message {seq} (sequence number) not delivered within {timeout.TotalSeconds:F0} s: {directories.Describe()}; the gateway's last output:{Environment.NewLine}{gateway.Tail()}");

                using var poll = CancellationTokenSource.CreateLinkedTokenSource(cancel);
                poll.CancelAfter(FallbackPoll);
                Arrival? arrival;
                try
                {
                    arrival = await arrivals.Reader.ReadAsync(poll.Token);
                }
                catch (OperationCanceledException) when (!cancel.IsCancellationRequested)
                {
                    arrival = PollOutgoing();
                }

                if (arrival is null || !seen.Add(arrival.Path)) continue;
                var found = DeliveryCheck.ReadSeq(arrival.Path);
                if (found == seq) return arrival;
                throw new BenchFailure($"waiting for message {seq}, but {arrival.Path} holds {(found is { } f ? $"message {f}" : "no bench sequence number")}");
            }
        }

        /// <summary>The watcher's safety net: any outgoing queue file not seen before, timed now.</summary>
        private Arrival? PollOutgoing()
        {
            var path = QueueDirectory.QueueFiles(directories.Outgoing).FirstOrDefault(p => !seen.Contains(p));
            return path is null ? null : new Arrival(path, Stopwatch.GetTimestamp(), FromWatcher: false);
        }

        private async Task WaitForEmptyIncomingAsync(long queuedAt, CancellationToken cancel)
        {
            while (QueueDirectory.CountQueueFiles(directories.Incoming) > 0)
            {
                gateway.EnsureRunning();
                if (Stopwatch.GetElapsedTime(queuedAt) > timeout)
                    throw new BenchFailure($"incoming queue not empty {timeout.TotalSeconds:F0} s after a delivery: {directories.Describe()}");
                await Task.Delay(1, cancel);
            }
        }
    }
}
