using System.Diagnostics;

namespace MailScanner.Actors.Bench;

/// <summary>
/// What the warm measurements share: a backlog staged beside the queue and renamed in at once, and the wait for a
/// gateway to finish the runtime's background recompilation of what it just made hot.
/// </summary>
internal static class WarmUp
{
    private static readonly TimeSpan SettlePatience = TimeSpan.FromSeconds(15);

    /// <summary>Moves every staged file into the queue: on the same file system a rename, the inode (and so the name) kept.</summary>
    public static void MoveInto(string incoming, string staging)
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
    public static TimeSpan MachineBusy()
    {
        var fields = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1)
            .Select(field => long.Parse(field, System.Globalization.CultureInfo.InvariantCulture)).ToList();
        // USER_HZ is 100 on Linux for every architecture .NET runs on.
        return TimeSpan.FromSeconds((fields.Sum() - fields[3] - fields[4]) / 100.0);
    }

    public static TimeSpan CpuOf(IEnumerable<GatewayProcess> gateways) => gateways.Aggregate(TimeSpan.Zero, (sum, g) => sum + g.CpuTime());
}
