namespace MailScanner.Actors.Bench;

internal sealed record PeakRssResult(int Messages, double PeakMegabytes, double HighestSampledMegabytes, double PerSecondFromFirstClaim, DeliveryCheck Check, string Stop);

/// <summary>
/// (c) Memory under a large backlog: 100,000 small queued files must not become 100,000 of anything in memory.
/// VmHWM (the kernel's own high-water mark of resident memory) is read from /proc just before the gateway is
/// stopped; VmRSS is also sampled on every poll as a cross-check.
/// </summary>
internal sealed class PeakRssMeasurement(BenchWorkspace workspace, int count, string gatewayDll, BenchOptions options)
{
    public async Task<PeakRssResult> RunAsync(CancellationToken cancel)
    {
        var area = workspace.NewArea("rss");
        try
        {
            var directories = GatewayDirectories.CreateUnder(area);
            var backlog = Backlog.Write(directories.Incoming, count, QueueMessage.Small, cancel);
            Console.WriteLine($"  backlog: {backlog.Describe()}");

            using var firstClaim = new FirstClaimDetector(directories.Incoming, backlog.OldestFile);
            await using var gateway = GatewayProcess.Start(gatewayDll, directories, options.Coordinators, area);
            long highestSampledKb = 0;
            var drained = await QueueProgress.WaitUntilDrainedAsync(
                gateway, directories, count, options.StallTimeout,
                () =>
                {
                    firstClaim.Poll();
                    highestSampledKb = Math.Max(highestSampledKb, gateway.CurrentRssKb() ?? 0);
                },
                cancel);

            var peakKb = gateway.PeakRssKb() ?? throw new BenchFailure("could not read VmHWM from /proc: the gateway is gone");
            var stop = await gateway.StopAsync();

            var claimedAt = firstClaim.ClaimedAt == 0 ? drained.CompletedAt : firstClaim.ClaimedAt;
            var seconds = (drained.CompletedAt - claimedAt) / (double)System.Diagnostics.Stopwatch.Frequency;
            var check = DeliveryCheck.Run(count, directories.Outgoing, directories.Elsewhere, directories.Quarantine);
            return new PeakRssResult(count, peakKb / 1024.0, highestSampledKb / 1024.0, count / seconds, check, stop);
        }
        finally
        {
            workspace.Release(area);
        }
    }
}
