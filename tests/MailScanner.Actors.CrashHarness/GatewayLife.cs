using System.Diagnostics;

namespace MailScanner.Actors.CrashHarness;

/// <summary>
/// One life of the real gateway process, <c>dotnet mailscanner-actors.dll run --config FILE</c>, ended by SIGKILL
/// (the point of the harness) or, the last one, by SIGTERM. Its output is appended to the area's log, each line
/// prefixed with the life's number; the last lines are kept for error messages.
/// </summary>
internal sealed class GatewayLife : IDisposable
{
    private readonly Process _process;
    private readonly GatewayLog _log;
    private readonly string _life;
    private readonly List<string> _lines = [];

    private GatewayLife(Process process, GatewayLog log, string life)
    {
        _process = process;
        _log = log;
        _life = life;
    }

    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.ExitCode;

    /// <summary>How many lines this life has written so far: a mark to read <see cref="LinesSince"/> from.</summary>
    public int LineCount
    {
        get { lock (_lines) return _lines.Count; }
    }

    /// <summary>This life's output from line <paramref name="mark"/> on (what it logged since a moment of the run).</summary>
    public IReadOnlyList<string> LinesSince(int mark)
    {
        lock (_lines) return _lines.Skip(mark).ToList();
    }

    public static GatewayLife Start(GatewayLocation gateway, HarnessArea area, GatewayLog log, int life) =>
        Start(gateway, area.Root, area.ConfigFile, log, life.ToString(System.Globalization.CultureInfo.InvariantCulture));

    /// <param name="life">How this life's lines are marked in the log: its number, or node and number in a cluster run.</param>
    public static GatewayLife Start(GatewayLocation gateway, string workingDirectory, string configFile, GatewayLog log, string life)
    {
        var start = new ProcessStartInfo(gateway.Muxer)
        {
            ArgumentList = { gateway.Dll, "run", "--config", configFile },
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        var process = new Process { StartInfo = start };
        var started = new GatewayLife(process, log, life);
        process.OutputDataReceived += (_, e) => started.Received(e.Data);
        process.ErrorDataReceived += (_, e) => started.Received(e.Data);
        log.Write(life, "--- harness: starting the gateway");
        if (!process.Start()) throw new InvalidOperationException($"could not start {gateway.Muxer} {gateway.Dll}");
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return started;
    }

    private void Received(string? line)
    {
        if (line is null) return;
        lock (_lines) _lines.Add(line);
        _log.Write(_life, line);
    }

    /// <summary>SIGKILL (Process.Kill), then wait until it is gone. False when it had already exited by itself.</summary>
    public async Task<bool> KillAsync()
    {
        var wasRunning = !_process.HasExited;
        if (wasRunning)
        {
            try
            {
                _process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                wasRunning = false; // exited between the check and the kill
            }
        }
        await _process.WaitForExitAsync();
        _log.Write(_life, wasRunning ? "--- harness: SIGKILL" : $"--- harness: had exited by itself with code {_process.ExitCode}");
        return wasRunning;
    }

    /// <summary>SIGTERM and the grace period for a clean stop, then SIGKILL. Returns null on a clean stop, else what happened.</summary>
    public async Task<string?> StopAsync(TimeSpan grace)
    {
        if (_process.HasExited)
        {
            await _process.WaitForExitAsync();
            return $"the gateway had exited by itself with code {_process.ExitCode} before it was stopped";
        }
        Libc.Signal(_process.Id, Libc.SigTerm);
        using var timeout = new CancellationTokenSource(grace);
        try
        {
            await _process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            await KillAsync();
            return $"the gateway did not stop within {grace.TotalSeconds:F0} s of SIGTERM and was killed";
        }
        _log.Write(_life, $"--- harness: stopped by SIGTERM, exit code {_process.ExitCode}");
        return _process.ExitCode == 0 ? null : $"the gateway stopped on SIGTERM with exit code {_process.ExitCode}";
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            try
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit();
            }
            catch (InvalidOperationException)
            {
                // already gone
            }
        }
        _process.Dispose();
    }
}

/// <summary>Every life's output in one file, and the last lines in memory for error messages.</summary>
internal sealed class GatewayLog(string path) : IDisposable
{
    private const int TailLines = 40;
    private readonly StreamWriter _file = new(path, append: true);
    private readonly Queue<string> _tail = new();
    private readonly Lock _lock = new();
    private bool _closed;

    public void Write(int life, string? line) => Write(life.ToString(System.Globalization.CultureInfo.InvariantCulture), line);

    public void Write(string life, string? line)
    {
        if (line is null) return;
        var entry = line.StartsWith("--- harness", StringComparison.Ordinal)
            ? $"[{life}] {DateTime.UtcNow:yyyy-MM-dd HH:mm:ss.fff} {line}"
            : $"[{life}] {line}";
        lock (_lock)
        {
            if (_closed) return;
            _file.WriteLine(entry);
            _tail.Enqueue(entry);
            if (_tail.Count > TailLines) _tail.Dequeue();
        }
    }

    public string Tail()
    {
        lock (_lock) return string.Join(Environment.NewLine, _tail.Select(l => "    | " + l));
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _closed = true;
            _file.Dispose();
        }
    }
}
