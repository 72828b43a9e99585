namespace MailScanner.Actors.Bench;

internal sealed record GatewayThroughputResult(int Messages, TimeSpan FromStart, TimeSpan FromFirstClaim, DeliveryCheck Check, string Stop)
{
    /// <summary>The gateway process's CPU time from its start until the backlog was drained (start-up included).</summary>
    public TimeSpan Cpu { get; init; }
    public double CpuMillisecondsPerMessage => Cpu.TotalMilliseconds / Messages;
    public TimeSpan Startup => FromStart - FromFirstClaim;
    public double PerSecondFromStart => Messages / FromStart.TotalSeconds;
    public double PerSecondFromFirstClaim => Messages / FromFirstClaim.TotalSeconds;

    /// <summary>The same number of further messages, renamed in at once after the cold backlog, the warm-up and a settled runtime; null when not asked for.</summary>
    public WarmDrain? Warm { get; init; }
}

/// <summary>A later backlog drained by the same, now warm, process: its time from the renames, and the CPU it took.</summary>
internal sealed record WarmDrain(int Messages, TimeSpan Elapsed, TimeSpan Cpu, TimeSpan MachineBusy, TimeSpan Settled)
{
    public double PerSecond => Messages / Elapsed.TotalSeconds;
    public double CpuMillisecondsPerMessage => Cpu.TotalMilliseconds / Messages;
    /// <summary>How many cores the whole machine kept busy meanwhile (the gateway, the kernel's writeback, the bench's polls).</summary>
    public double MachineCores => MachineBusy / Elapsed;
}

/// <summary>
/// (b) The gateway on a backlog of realistic mail: the whole backlog is queued before the gateway starts, then
/// timed both from process start (includes .NET and actor-system start-up) and from its first claim (the
/// figure compared with the baseline), until incoming is empty and every message is in outgoing. Afterwards
/// every sequence number must be in outgoing exactly once.
/// With <c>thenWarm</c>, the same process then drains <see cref="BenchOptions.GatewayWarmUp"/> further messages
/// unmeasured and, once its runtime has settled, as many as the cold backlog, timed: a gateway runs for weeks, and
/// the first seconds' JIT is paid once per start, not per message. The journal's path alone needed about 25,000
/// messages to reach its steady cost here (JournalMicrobench, 5,000 a round: 133, 52, 39, 31, then 19–22 µs a
/// message), hence the unmeasured ones. All are staged beside the queue before the gateway starts.
/// </summary>
internal sealed class GatewayThroughputMeasurement(
    BenchWorkspace workspace, Func<int, QueueMessage> messageFor, int count, string gatewayDll, BenchOptions options, string? extraHocon = null,
    bool thenWarm = false)
{
    public async Task<GatewayThroughputResult> RunAsync(CancellationToken cancel)
    {
        var area = workspace.NewArea("gateway");
        try
        {
            var directories = GatewayDirectories.CreateUnder(area);
            var backlog = Backlog.Write(directories.Incoming, count, messageFor, cancel);
            Console.WriteLine($"  backlog: {backlog.Describe()}");
            var warmUp = thenWarm ? options.GatewayWarmUp : 0;
            var warmUpStaging = Path.Combine(area, "staging-warm-up");
            var warmStaging = Path.Combine(area, "staging-warm");
            if (thenWarm)
            {
                Directory.CreateDirectory(warmUpStaging);
                Directory.CreateDirectory(warmStaging);
                if (warmUp > 0) Console.WriteLine($"  then {Backlog.Write(warmUpStaging, warmUp, messageFor, cancel, first: count).Describe()} to warm up, unmeasured");
                Console.WriteLine($"  then warm: {Backlog.Write(warmStaging, count, messageFor, cancel, first: count + warmUp).Describe()}, all staged beside the queue");
            }

            using var firstClaim = new FirstClaimDetector(directories.Incoming, backlog.OldestFile);
            DrainOutcome drained;
            string stop;
            await using (var gateway = GatewayProcess.Start(gatewayDll, directories, options.Coordinators, area, extraHocon))
            {
                try
                {
                    drained = await QueueProgress.WaitUntilDrainedAsync(
                        gateway, directories, count, options.StallTimeout, firstClaim.Poll, cancel);
                }
                catch (BenchFailure)
                {
                    // A stalled or crashed gateway still owes an account of what it did with the mail so far.
                    Console.WriteLine($"  delivery so far: {DeliveryCheck.Run(count, directories.Outgoing, directories.Elsewhere, directories.Quarantine).Describe()}");
                    throw;
                }
                var cpu = gateway.CpuTime();
                var warm = thenWarm ? await DrainWarmAsync(gateway, directories, warmUpStaging, warmUp, warmStaging, cancel) : null;
                stop = await gateway.StopAsync();

                var fromStart = System.Diagnostics.Stopwatch.GetElapsedTime(gateway.StartedAt, drained.CompletedAt);
                var claimedAt = firstClaim.ClaimedAt == 0 ? drained.CompletedAt : firstClaim.ClaimedAt;
                var fromClaim = System.Diagnostics.Stopwatch.GetElapsedTime(claimedAt, drained.CompletedAt);
                var check = DeliveryCheck.Run(thenWarm ? 2 * count + warmUp : count, directories.Outgoing, directories.Elsewhere, directories.Quarantine);
                return new GatewayThroughputResult(count, fromStart, fromClaim, check, stop) { Cpu = cpu, Warm = warm };
            }
        }
        finally
        {
            workspace.Release(area);
        }
    }

    private async Task<WarmDrain> DrainWarmAsync(
        GatewayProcess gateway, GatewayDirectories directories, string warmUpStaging, int warmUp, string staging, CancellationToken cancel)
    {
        var settled = await WarmUp.DrainUnmeasuredAsync([gateway], directories, warmUpStaging, count + warmUp, options.StallTimeout, cancel);
        var drained = await WarmUp.TimedDrainAsync([gateway], directories, staging, 2 * count + warmUp, options.StallTimeout, cancel);
        return new WarmDrain(count, drained.Elapsed, drained.Cpu, drained.MachineBusy, settled);
    }
}
