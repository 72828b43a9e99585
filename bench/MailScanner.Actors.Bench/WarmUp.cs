using System.Diagnostics;

namespace MailScanner.Actors.Bench;

/// <summary>A backlog renamed into the queue at once and timed until drained: how long it took and the CPU it cost.</summary>
internal sealed record TimedDrain(TimeSpan Elapsed, IReadOnlyList<TimeSpan> CpuEach, TimeSpan MachineBusy)
{
    /// <summary>The CPU of every gateway together.</summary>
    public TimeSpan Cpu => CpuEach.Aggregate(TimeSpan.Zero, (sum, c) => sum + c);
}

/// <summary>
/// What the warm measurements share: a backlog staged beside the queue and renamed in at once, and the wait for a
/// gateway to finish the runtime's background recompilation of what it just made hot.
/// </summary>
internal static class WarmUp
{
    /// <summary>
    /// Renames the staged warm-up into the queue, waits until the queue holds <paramref name="expected"/> delivered
    /// messages in all, then until the gateways settle; returns how long they took to settle.
    /// </summary>
    public static async Task<TimeSpan> DrainUnmeasuredAsync(
        IReadOnlyList<GatewayProcess> gateways, GatewayDirectories directories, string staging, int expected, TimeSpan stallTimeout, CancellationToken cancel)
    {
        MoveInto(directories.Incoming, staging);
        await QueueProgress.WaitUntilDrainedAsync(gateways, directories, expected, stallTimeout, null, cancel);
        return await WaitUntilSettledAsync(gateways, cancel);
    }

    /// <summary>
    /// Renames the staged backlog into the queue and times it until the queue holds <paramref name="expected"/>
    /// delivered messages in all, with each gateway's CPU and the whole machine's meanwhile.
    /// </summary>
    public static async Task<TimedDrain> TimedDrainAsync(
        IReadOnlyList<GatewayProcess> gateways, GatewayDirectories directories, string staging, int expected, TimeSpan stallTimeout, CancellationToken cancel)
    {
        var cpuBefore = gateways.Select(g => g.CpuTime()).ToList();
        var machineBefore = MachineBusy();
        var startedAt = Stopwatch.GetTimestamp();
        MoveInto(directories.Incoming, staging);
        var drained = await QueueProgress.WaitUntilDrainedAsync(gateways, directories, expected, stallTimeout, null, cancel);
        return new TimedDrain(Stopwatch.GetElapsedTime(startedAt, drained.CompletedAt),
            gateways.Select((g, i) => g.CpuTime() - cpuBefore[i]).ToList(), MachineBusy() - machineBefore);
    }

    private static readonly TimeSpan SettlePatience = TimeSpan.FromSeconds(15);

    /// <summary>Moves every staged file into the queue: on the same file system a rename, the inode (and so the name) kept.</summary>
    private static void MoveInto(string incoming, string staging)
    {
        foreach (var file in Directory.EnumerateFiles(staging).ToList())
            File.Move(file, Path.Combine(incoming, Path.GetFileName(file)));
    }

    /// <summary>
    /// Until the gateways together use less than a twentieth of a core over half a second (the runtime's background
    /// recompilation of what the warm-up made hot has finished), or <see cref="SettlePatience"/> has passed.
    /// </summary>
    public static async Task<TimeSpan> WaitUntilSettledAsync(IReadOnlyList<GatewayProcess> gateways, CancellationToken cancel)
    {
        var waited = Stopwatch.StartNew();
        var window = TimeSpan.FromMilliseconds(500);
        while (waited.Elapsed < SettlePatience)
        {
            var before = CpuOf(gateways);
            await Task.Delay(window, cancel);
            if (CpuOf(gateways) - before < window / 20) break;
        }
        return waited.Elapsed;
    }

    /// <summary>
    /// CPU time the whole machine has spent busy since boot (/proc/stat: all but idle and iowait), kernel threads
    /// included: the writeback a syncfs starts runs in kworkers, outside the gateway's own CPU time.
    /// </summary>
    private static TimeSpan MachineBusy()
    {
        var fields = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1)
            .Select(field => long.Parse(field, System.Globalization.CultureInfo.InvariantCulture)).ToList();
        // USER_HZ is 100 on Linux for every architecture .NET runs on.
        return TimeSpan.FromSeconds((fields.Sum() - fields[3] - fields[4]) / 100.0);
    }

    private static TimeSpan CpuOf(IEnumerable<GatewayProcess> gateways) => gateways.Aggregate(TimeSpan.Zero, (sum, g) => sum + g.CpuTime());
}
