namespace MailScanner.Actors.Bench;

/// <summary>One of the two gateways compared: its build, the HOCON lines it adds and the environment it runs in.</summary>
internal sealed record GatewaySide(string Name, string Dll, string? Hocon, IReadOnlyDictionary<string, string> Environment)
{
    public string Describe() =>
        $"{Name}: {Dll}" + (Hocon is { Length: > 0 } h ? $", HOCON [{h.ReplaceLineEndings("; ")}]" : "") +
        (Environment.Count > 0 ? $", environment {string.Join(" ", Environment.Select(e => $"{e.Key}={e.Value}"))}" : "");
}

/// <summary>One backlog drained by one side: its rate and the gateway's CPU a message.</summary>
internal sealed record SideDrain(double PerSecond, double CpuMillisecondsPerMessage);

internal sealed record AlternatingResult(IReadOnlyList<(SideDrain A, SideDrain B)> Pairs, DeliveryCheck CheckA, DeliveryCheck CheckB);

/// <summary>
/// (x) The A/B test for a runtime or configuration change: two gateways run at once, each on its own queue, and are fed
/// the same backlog in turn (A B, then B A, ...), each idle while the other drains. On this shared 2-core machine one
/// run's rate swings by 20 % or more from one minute to the next, so a change worth 5–20 % cannot be seen by running A,
/// then B; here a slow minute falls on both sides of a pair. Both are warmed first with unmeasured pairs (the runtime's
/// recompilation of what is hot, the journal's first rounds), and each drain waits until both have settled. Every
/// sequence number must come out of each side exactly once, as in every other measurement.
/// </summary>
internal sealed class AlternatingGatewaysMeasurement(
    BenchWorkspace workspace, Func<int, QueueMessage> messageFor, int count, int warmUpPairs, int pairs, GatewaySide a, GatewaySide b, BenchOptions options)
{
    private sealed class Running(GatewaySide side, GatewayDirectories directories, string staging, GatewayProcess process)
    {
        public GatewaySide Side { get; } = side;
        public GatewayDirectories Directories { get; } = directories;
        public string Staging { get; } = staging;
        public GatewayProcess Process { get; } = process;
        public int Queued { get; set; }
    }

    public async Task<AlternatingResult> RunAsync(CancellationToken cancel)
    {
        var areas = new List<string>();
        var running = new List<Running>();
        try
        {
            foreach (var side in new[] { a, b })
            {
                var area = workspace.NewArea($"alternate-{side.Name}");
                areas.Add(area);
                var directories = GatewayDirectories.CreateUnder(area);
                var staging = Directory.CreateDirectory(Path.Combine(area, "staging")).FullName;
                running.Add(new Running(side, directories, staging,
                    GatewayProcess.Start(side.Dll, directories, options.Coordinators, area, side.Hocon, side.Environment)));
            }
            var processes = running.Select(r => r.Process).ToList();
            await ClusterThroughputMeasurement.WaitUntilUpAsync(processes, clustered: false, cancel);

            var measured = new List<(SideDrain A, SideDrain B)>();
            for (var round = 0; round < warmUpPairs + pairs; round++)
            {
                var isMeasured = round >= warmUpPairs;
                var order = round % 2 == 0 ? running : [running[1], running[0]];
                foreach (var side in order)
                {
                    Backlog.Write(side.Staging, count, messageFor, cancel, first: side.Queued);
                    side.Queued += count;
                }
                var drains = new Dictionary<string, SideDrain>();
                foreach (var side in order)
                {
                    await WarmUp.WaitUntilSettledAsync(processes, cancel);
                    var drained = await WarmUp.TimedDrainAsync([side.Process], side.Directories, side.Staging, side.Queued, options.StallTimeout, cancel);
                    var drain = new SideDrain(count / drained.Elapsed.TotalSeconds, drained.Cpu.TotalMilliseconds / count);
                    drains[side.Side.Name] = drain;
                    Console.WriteLine($"  {(isMeasured ? $"pair {round - warmUpPairs + 1}" : $"warm-up {round + 1}")}, {side.Side.Name}: " +
                                      $"{drain.PerSecond,7:F0} messages/s, {drain.CpuMillisecondsPerMessage:F3} ms of CPU a message");
                }
                if (isMeasured) measured.Add((drains[a.Name], drains[b.Name]));
            }

            foreach (var side in running) Console.WriteLine($"  {side.Side.Name}: {await side.Process.StopAsync()}");
            var checks = running.Select(r => DeliveryCheck.Run(r.Queued, r.Directories.Outgoing, r.Directories.Elsewhere, r.Directories.Quarantine)).ToList();
            return new AlternatingResult(measured, checks[0], checks[1]);
        }
        finally
        {
            foreach (var side in running) await side.Process.DisposeAsync();
            foreach (var area in areas) workspace.Release(area);
        }
    }
}
