namespace MailScanner.Actors.Bench;

internal sealed record GatewayThroughputResult(int Messages, TimeSpan FromStart, TimeSpan FromFirstClaim, DeliveryCheck Check, string Stop)
{
    /// <summary>The gateway process's CPU time from its start until the backlog was drained (start-up included).</summary>
    public TimeSpan Cpu { get; init; }
    public double CpuMillisecondsPerMessage => Cpu.TotalMilliseconds / Messages;
    public TimeSpan Startup => FromStart - FromFirstClaim;
    public double PerSecondFromStart => Messages / FromStart.TotalSeconds;
    public double PerSecondFromFirstClaim => Messages / FromFirstClaim.TotalSeconds;
}

/// <summary>
/// (b) The gateway on a backlog of realistic mail: the whole backlog is queued before the gateway starts, then
/// timed both from process start (includes .NET and actor-system start-up) and from its first claim (the
/// figure compared with the baseline), until incoming is empty and every message is in outgoing. Afterwards
/// every sequence number must be in outgoing exactly once.
/// </summary>
internal sealed class GatewayThroughputMeasurement(
    BenchWorkspace workspace, Func<int, QueueMessage> messageFor, int count, string gatewayDll, BenchOptions options, string? extraHocon = null)
{
    public async Task<GatewayThroughputResult> RunAsync(CancellationToken cancel)
    {
        var area = workspace.NewArea("gateway");
        try
        {
            var directories = GatewayDirectories.CreateUnder(area);
            var backlog = Backlog.Write(directories.Incoming, count, messageFor, cancel);
            Console.WriteLine($"  backlog: {backlog.Describe()}");

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
                stop = await gateway.StopAsync();

                var fromStart = ElapsedBetween(gateway.StartedAt, drained.CompletedAt);
                var claimedAt = firstClaim.ClaimedAt == 0 ? drained.CompletedAt : firstClaim.ClaimedAt;
                var fromClaim = ElapsedBetween(claimedAt, drained.CompletedAt);
                var check = DeliveryCheck.Run(count, directories.Outgoing, directories.Elsewhere, directories.Quarantine);
                return new GatewayThroughputResult(count, fromStart, fromClaim, check, stop) { Cpu = cpu };
            }
        }
        finally
        {
            workspace.Release(area);
        }
    }

    private static TimeSpan ElapsedBetween(long from, long to) =>
        TimeSpan.FromSeconds((to - from) / (double)System.Diagnostics.Stopwatch.Frequency);
}
