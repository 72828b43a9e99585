using System.Globalization;

namespace MailScanner.Actors.Bench;

/// <summary>
/// Holds processes to a share of the machine's CPUs with a cgroup (v1, the <c>cpu</c> controller at
/// /sys/fs/cgroup/cpu, as on this machine; needs root): <c>cpu.cfs_quota_us</c> = cores × period, so a process given
/// 0.67 cores may run 67 ms of every 100 ms, whichever cores it runs on. The cgroup is removed when disposed (once
/// its processes have exited).
/// </summary>
internal sealed class CpuQuota : IDisposable
{
    private const string Controller = "/sys/fs/cgroup/cpu";
    private const int PeriodMicroseconds = 100_000;
    private readonly string _path;

    private CpuQuota(string path, double cores)
    {
        _path = path;
        Cores = cores;
    }

    public double Cores { get; }

    public static CpuQuota Create(string name, double cores)
    {
        if (!File.Exists(Path.Combine(Controller, "cpu.cfs_quota_us")))
            throw new BenchFailure($"no cgroup v1 cpu controller at {Controller}: the cluster run cannot hold a node to its share of the CPUs");
        var path = Path.Combine(Controller, $"mailscanner-bench-{name}-{Environment.ProcessId}");
        Directory.CreateDirectory(path);
        File.WriteAllText(Path.Combine(path, "cpu.cfs_period_us"), PeriodMicroseconds.ToString(CultureInfo.InvariantCulture));
        File.WriteAllText(Path.Combine(path, "cpu.cfs_quota_us"), ((long)(cores * PeriodMicroseconds)).ToString(CultureInfo.InvariantCulture));
        return new CpuQuota(path, cores);
    }

    /// <summary>Moves the process (all its threads) into the cgroup.</summary>
    public void Hold(int pid) => File.WriteAllText(Path.Combine(_path, "cgroup.procs"), pid.ToString(CultureInfo.InvariantCulture));

    /// <summary>How often the kernel held the cgroup back, and for how long in all (cpu.stat): whether the quota bit.</summary>
    public string Throttling()
    {
        var stat = File.ReadAllLines(Path.Combine(_path, "cpu.stat")).Select(l => l.Split(' ')).ToDictionary(p => p[0], p => long.Parse(p[1], CultureInfo.InvariantCulture));
        return $"throttled in {stat.GetValueOrDefault("nr_throttled")} of {stat.GetValueOrDefault("nr_periods")} periods, {stat.GetValueOrDefault("throttled_time") / 1e9:F1} s in all";
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_path); // rmdir: the cgroup's files are not real files
        }
        catch (IOException e)
        {
            Console.WriteLine($"  note: cgroup {_path} not removed: {e.Message}");
        }
    }
}
