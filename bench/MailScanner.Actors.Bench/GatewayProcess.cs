using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace MailScanner.Actors.Bench;

/// <summary>
/// The gateway as an operator runs it: <c>dotnet mailscanner-actors.dll run --config FILE</c>, stopped with
/// SIGTERM. The bench knows nothing of its insides; it sees only the HOCON keys and the queue directories.
/// Output goes to <c>gateway.log</c> beside the config; its tail is quoted when the gateway fails.
/// </summary>
internal sealed partial class GatewayProcess : IAsyncDisposable
{
    private const int SigTerm = 15;
    private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(30);

    private readonly Process _process;
    private readonly StreamWriter _log;
    private readonly Queue<string> _tail = new();
    private readonly Lock _tailLock = new();
    private bool _logClosed;

    private GatewayProcess(Process process, StreamWriter log, string logPath)
    {
        _process = process;
        _log = log;
        LogPath = logPath;
    }

    public int Pid => _process.Id;
    public string LogPath { get; }
    /// <summary>Stopwatch timestamp taken just before the process was started.</summary>
    public long StartedAt { get; private init; }

    /// <param name="environment">Variables set for the gateway on top of the bench's own (a runtime setting under test).</param>
    public static GatewayProcess Start(string dll, GatewayDirectories directories, int? coordinators, string area, string? extraHocon = null,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        if (!File.Exists(dll)) throw new BenchFailure($"gateway not found at {dll} (build src/Host, or pass --gateway)");

        var config = Path.Combine(area, "gateway.conf");
        File.WriteAllText(config, Hocon(directories, coordinators) + (extraHocon ?? "") + Environment.NewLine);
        var logPath = Path.Combine(area, "gateway.log");
        var log = new StreamWriter(logPath, append: false, Encoding.UTF8) { AutoFlush = false };

        var start = new ProcessStartInfo("dotnet")
        {
            ArgumentList = { dll, "run", "--config", config },
            WorkingDirectory = area,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) start.Environment[name] = value;
        var startedAt = Stopwatch.GetTimestamp();
        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        var gateway = new GatewayProcess(process, log, logPath) { StartedAt = startedAt };
        process.OutputDataReceived += (_, e) => gateway.Record(e.Data);
        process.ErrorDataReceived += (_, e) => gateway.Record(e.Data);
        if (!process.Start()) throw new BenchFailure("could not start the gateway process");
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return gateway;
    }

    /// <summary>Only the keys this run changes; everything else falls back to the gateway's defaults.</summary>
    private static string Hocon(GatewayDirectories d, int? coordinators)
    {
        static string Quote(string path) => JsonSerializer.Serialize(path);
        var text = new StringBuilder();
        text.AppendLine("mailscanner.queue.format = zmailer");
        text.AppendLine($"mailscanner.queue.incoming = {Quote(d.Incoming)}");
        text.AppendLine($"mailscanner.queue.outgoing = {Quote(d.Outgoing)}");
        text.AppendLine($"mailscanner.queue.work = {Quote(d.Work)}");
        text.AppendLine($"mailscanner.queue.bad = {Quote(d.Bad)}");
        text.AppendLine($"mailscanner.quarantine.directory = {Quote(d.Quarantine)}");
        text.AppendLine($"mailscanner.state-directory = {Quote(d.State)}");
        if (coordinators is { } n) text.AppendLine(CultureInfo.InvariantCulture, $"mailscanner.batch.coordinators = {n}");
        // No endpoint unless a measurement asks for one ((g) does): port 9464 may be taken by another gateway on the machine.
        text.AppendLine("mailscanner.metrics.enabled = no");
        // For tuning experiments: extra HOCON lines appended as they are.
        if (Environment.GetEnvironmentVariable("MAILSCANNER_BENCH_EXTRA_HOCON") is { Length: > 0 } extra) text.AppendLine(extra);
        return text.ToString();
    }

    /// <summary>Lines a run waits for (the gateway started, a node welcomed into the cluster), kept whole; the rest only in the tail.</summary>
    private static readonly string[] Milestones = ["mailscanner-actors started", "Welcome from", "Singleton manager started singleton actor [akka://mailscanner/user/queue-watcher",
        "in all)"];
    private readonly List<string> _milestones = [];

    /// <summary>Whether the gateway has logged a line containing <paramref name="text"/>, one of <see cref="Milestones"/>.</summary>
    public bool HasLogged(string text)
    {
        lock (_tailLock) return _milestones.Any(line => line.Contains(text, StringComparison.Ordinal));
    }

    private void Record(string? line)
    {
        if (line is null) return;
        lock (_tailLock)
        {
            if (_logClosed) return;
            if (Milestones.Any(m => line.Contains(m, StringComparison.Ordinal))) _milestones.Add(line);
            _log.WriteLine(line);
            _tail.Enqueue(line);
            if (_tail.Count > 30) _tail.Dequeue();
        }
    }

    /// <summary>The gateway's last output lines, indented for quoting in an error (the log itself goes with the scratch directory).</summary>
    public string Tail()
    {
        lock (_tailLock)
        {
            return _tail.Count == 0
                ? "    (the gateway wrote no output; --keep keeps its log)"
                : string.Join(Environment.NewLine, _tail.Select(l => "    | " + l));
        }
    }

    /// <summary>Throws with the gateway's last words if it has exited while we still needed it.</summary>
    public void EnsureRunning()
    {
        if (!_process.HasExited) return;
        _process.WaitForExit(); // drains the redirected output
        throw new BenchFailure($"the gateway exited early with code {_process.ExitCode}; its last output:{Environment.NewLine}{Tail()}");
    }

    /// <summary>Peak resident set size (VmHWM) in kB, read from /proc while the process is alive.</summary>
    public long? PeakRssKb() => ReadStatus("VmHWM:");

    /// <summary>User and system CPU the gateway has used so far (read while it runs): steadier than a rate on a shared machine.</summary>
    public TimeSpan CpuTime() => _process.TotalProcessorTime;

    public long? CurrentRssKb() => ReadStatus("VmRSS:");

    private long? ReadStatus(string field)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{Pid}/status"))
            {
                if (!line.StartsWith(field, StringComparison.Ordinal)) continue;
                var number = line[field.Length..].Trim().Split(' ')[0];
                return long.Parse(number, CultureInfo.InvariantCulture);
            }
        }
        catch (IOException)
        {
            // the process is gone
        }
        return null;
    }

    /// <summary>SIGTERM, then up to 30 s for a clean stop, then SIGKILL. Returns a line describing how it ended.</summary>
    public async Task<string> StopAsync()
    {
        if (_process.HasExited) return $"gateway had already exited with code {_process.ExitCode}";
        if (Kill(Pid, SigTerm) != 0 && !_process.HasExited)
            return $"SIGTERM failed (errno {Marshal.GetLastPInvokeError()})";

        using var grace = new CancellationTokenSource(StopGrace);
        try
        {
            await _process.WaitForExitAsync(grace.Token);
            return _process.ExitCode == 0
                ? "gateway stopped cleanly on SIGTERM"
                : $"gateway stopped on SIGTERM with exit code {_process.ExitCode}; its last output:{Environment.NewLine}{Tail()}";
        }
        catch (OperationCanceledException)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync(CancellationToken.None);
            return $"gateway did not stop within {StopGrace.TotalSeconds:F0} s of SIGTERM and was killed";
        }
    }

    public async ValueTask DisposeAsync()
    {
        var outcome = await StopAsync();
        if (!outcome.Contains("cleanly", StringComparison.Ordinal) && !outcome.Contains("already", StringComparison.Ordinal))
            Console.WriteLine($"  note: {outcome}");
        lock (_tailLock)
        {
            _logClosed = true;
            _log.Dispose();
        }
        _process.Dispose();
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
