using System.Diagnostics;
using System.Globalization;

namespace MailScanner.Actors.CrashHarness;

/// <summary>
/// Issue 4's crash test: the real <c>mailscanner-actors run</c> process on a queue that a concurrent producer
/// keeps filling, killed with SIGKILL at random moments and restarted each time, then given one final life to
/// finish; afterwards every produced message must be in the outgoing queue (or the quarantine) exactly once,
/// and incoming, work and bad must be empty.
/// </summary>
public static class CrashRunner
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan DeliveryPollInterval = TimeSpan.FromMilliseconds(2);

    /// <param name="progress">Receives a line now and then (every tenth life, the drain, the stop).</param>
    public static async Task<CrashReport> RunAsync(CrashHarnessOptions options, Action<string> progress, CancellationToken cancel = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(options.Kills);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxUptime, options.MinUptime);
        var gateway = GatewayLocation.Find(options.Gateway);
        var area = HarnessArea.Create(options.Parent, options.Seed, options.Format);
        try
        {
            var report = await RunAsync(options, gateway, area, progress, cancel);
            return options.Keep ? report with { KeptArea = area.Root } : report;
        }
        finally
        {
            if (!options.Keep) area.Dispose();
        }
    }

    private static async Task<CrashReport> RunAsync(
        CrashHarnessOptions options, GatewayLocation gateway, HarnessArea area, Action<string> progress, CancellationToken cancel)
    {
        var random = new Random(options.Seed);
        var problems = new List<string>();
        var total = Stopwatch.StartNew();
        using var log = new GatewayLog(area.LogFile);
        progress($"crash harness: {options.Format} queue, {options.Kills} kills, seed {options.Seed}, {options.MessagesPerSecond} msg/s, gateway {gateway.Dll}, area {area.Root}");

        var producer = new Producer(area.Queue, options.MessagesPerSecond, options.InfectedEvery);
        producer.Start(cancel);
        int kills = 0, aimedKills = 0, deliveringKills = 0, killsWhileDelivering = 0, produced;
        try
        {
            for (var life = 1; life <= options.Kills; life++)
            {
                // Both waits are drawn every life, so a seed always gives the same waits.
                var whileDelivering = options.DeliveringKillEvery > 0 && life % options.DeliveringKillEvery == 0;
                var uptime = options.MinUptime + (options.MaxUptime - options.MinUptime) * random.NextDouble();
                var afterDelivery = options.DeliveringKillSpread * random.NextDouble();

                var outgoingBefore = Census.CountEntries(area.Outgoing);
                var outgoingChangedAt = Directory.GetLastWriteTimeUtc(area.Outgoing);
                var clock = Stopwatch.StartNew();
                using var gatewayLife = GatewayLife.Start(gateway, area, log, life);
                if (whileDelivering)
                {
                    aimedKills++;
                    if (await AwaitOutgoingChangeAsync(area.Outgoing, outgoingChangedAt, gatewayLife, options.DeliveryStartTimeout, cancel))
                        deliveringKills++;
                    await Task.Delay(afterDelivery, cancel); // the random moment of the kill: the point of the harness
                }
                else
                {
                    await Task.Delay(uptime, cancel);
                }
                var killedAt = clock.ElapsedMilliseconds;
                if (await gatewayLife.KillAsync()) kills++;
                else problems.Add($"life {life}: the gateway exited by itself with code {gatewayLife.ExitCode} within {clock.ElapsedMilliseconds} ms:{Environment.NewLine}{log.Tail()}");
                var planned = whileDelivering
                    ? string.Create(CultureInfo.InvariantCulture, $"{afterDelivery.TotalMilliseconds:F0} ms after the first delivery")
                    : string.Create(CultureInfo.InvariantCulture, $"planned {uptime.TotalMilliseconds:F0} ms");
                log.Write(life, $"--- harness: killed {killedAt} ms after the start ({planned}), gone after {clock.ElapsedMilliseconds} ms");
                if (Census.CountEntries(area.Outgoing) > outgoingBefore) killsWhileDelivering++;
                if (life % 10 == 0 || life == options.Kills)
                    progress($"  {life} lives, {kills} kills ({deliveringKills} of {aimedKills} aimed at deliveries after one began), {producer.Produced} produced, {Census.CountEntries(area.Outgoing)} in outgoing, {total.Elapsed.TotalSeconds:F1} s");
            }
        }
        finally
        {
            produced = await producer.StopAsync(cancel.IsCancellationRequested ? 0 : options.MinimumMessages);
        }
        var killPhase = total.Elapsed;

        progress($"  producer stopped at {produced} messages; final life to drain the queue");
        var drainClock = Stopwatch.StartNew();
        using (var finalLife = GatewayLife.Start(gateway, area, log, options.Kills + 1))
        {
            if (await AwaitDrainAsync(area, produced, () => finalLife.HasExited ? $"the final gateway exited by itself with code {finalLife.ExitCode} while draining" : null,
                    options, cancel) is { } drainProblem)
                problems.Add($"{drainProblem}:{Environment.NewLine}{log.Tail()}");
            if (await finalLife.StopAsync(options.StopGrace) is { } stopProblem)
                problems.Add($"{stopProblem}:{Environment.NewLine}{log.Tail()}");
        }
        var drain = drainClock.Elapsed;

        // Counted only after the last life has ended: nothing moves any more.
        var census = Census.Take(area, produced);
        return CrashReport.Of(census, options.Seed, kills, produced, problems, killPhase, drain, total.Elapsed) with
        {
            KillsAimedAtDeliveries = aimedKills,
            KillsAfterDeliveryBegan = deliveringKills,
            KillsWhileDelivering = killsWhileDelivering,
        };
    }

    /// <summary>
    /// Polls the outgoing directory's modification time (one stat, however many files it holds) until this life
    /// has written to it. False when it did not within the timeout, or exited.
    /// </summary>
    private static async Task<bool> AwaitOutgoingChangeAsync(
        string outgoing, DateTime before, GatewayLife life, TimeSpan timeout, CancellationToken cancel)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < timeout && !life.HasExited)
        {
            if (Directory.GetLastWriteTimeUtc(outgoing) != before) return true;
            await Task.Delay(DeliveryPollInterval, cancel);
        }
        return false;
    }

    /// <summary>
    /// Polls until incoming and work are empty and every message has a copy in outgoing or quarantine. When the
    /// queues are empty but messages are missing, they are given <see cref="CrashHarnessOptions.QuietPeriod"/> of no
    /// change before the run goes on to report them lost. Returns null, or why it gave up.
    /// </summary>
    /// <param name="exited">Why the drain cannot go on (a gateway exited by itself), or null while it can.</param>
    internal static async Task<string?> AwaitDrainAsync(
        HarnessArea area, int produced, Func<string?> exited, CrashHarnessOptions options, CancellationToken cancel)
    {
        var deadline = Stopwatch.StartNew();
        var lastAccountedFor = -1;
        var unchangedSince = TimeSpan.Zero;
        var timeout = options.DrainTimeoutFor(produced);
        while (deadline.Elapsed < timeout)
        {
            if (exited() is { } gone) return gone;
            if (Census.IsEmpty(area.Incoming) && Census.IsEmpty(area.Work))
            {
                var accountedFor = Census.Take(area, produced).AccountedFor;
                if (accountedFor == produced && Census.IsEmpty(area.Incoming) && Census.IsEmpty(area.Work)) return null;
                if (accountedFor != lastAccountedFor)
                {
                    lastAccountedFor = accountedFor;
                    unchangedSince = deadline.Elapsed;
                }
                else if (deadline.Elapsed - unchangedSince >= options.QuietPeriod)
                {
                    return null; // nothing queued, nothing changing: the census will name what is missing
                }
            }
            await Task.Delay(PollInterval, cancel);
        }
        return $"incoming and work were not empty {timeout.TotalSeconds:F0} s after the final start " +
               $"({Census.CountEntries(area.Incoming)} in incoming, {Census.CountEntries(area.Work)} in work)";
    }
}
