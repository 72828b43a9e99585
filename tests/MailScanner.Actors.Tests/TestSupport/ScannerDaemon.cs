using System.Diagnostics;
using System.Text;

namespace MailScanner.Actors.Tests.TestSupport;

/// <summary>
/// A real scanner daemon (clamd, spamd) run privately for the tests: its own files in a temp directory, started in
/// the foreground, ready when it answers PING (polled, with a deadline), killed with everything it forked at
/// dispose. Its output is kept (the last lines) to explain a failed start.
/// </summary>
/// <remarks>
/// The bench starts its daemons with these same classes (bench/MailScanner.Actors.Bench links this file, ClamdDaemon.cs,
/// SpamdDaemon.cs and TempDirectory.cs), so nothing here may use xunit: what xunit needs is in ScannerDaemon.Xunit.cs.
/// </remarks>
public abstract partial class ScannerDaemon : IDisposable
{
    private static readonly TimeSpan ReadyDeadline = TimeSpan.FromSeconds(90);
    private readonly Queue<string> _output = new();
    private Process? _process;

    protected ScannerDaemon(string name)
    {
        Name = name;
        // On tmpfs, with the daemon's own temporary files: the queue specs count on ext4 handing a freed inode
        // number straight back, and a daemon creating files on the same ext4 beside them would take those numbers first.
        Directory = Path.Combine(TempDirectory.On(TempDirectory.Tmpfs), $"msa-{name}-{Guid.NewGuid():N}"[..24]);
        System.IO.Directory.CreateDirectory(Directory);
    }

    public string Name { get; }
    public string Directory { get; }

    /// <summary>How long the last start took until the daemon answered PING.</summary>
    public TimeSpan StartupTime { get; private set; }

    public bool IsRunning => _process is { HasExited: false };

    protected abstract ProcessStartInfo StartInfo();
    protected abstract Task PingAsync(CancellationToken cancellationToken);

    public async Task StartAsync()
    {
        if (IsRunning) throw new InvalidOperationException($"{Name} is already running");
        BeforeStart();
        var info = StartInfo();
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        info.UseShellExecute = false;
        info.Environment["TMPDIR"] = Directory;
        var started = Stopwatch.StartNew();
        var process = Process.Start(info) ?? throw new InvalidOperationException($"cannot start {info.FileName}");
        process.OutputDataReceived += (_, e) => Keep(e.Data);
        process.ErrorDataReceived += (_, e) => Keep(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;

        Exception? last = null;
        while (started.Elapsed < ReadyDeadline)
        {
            if (process.HasExited)
                throw new InvalidOperationException($"{Name} exited with {process.ExitCode} while starting:\n{Output()}");
            using var attempt = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            try
            {
                await PingAsync(attempt.Token);
                StartupTime = started.Elapsed;
                return;
            }
            catch (Exception e)
            {
                last = e;
            }
            await Task.Delay(20); // poll interval between PING attempts, not a wait for readiness
        }
        Kill();
        throw new TimeoutException($"{Name} did not answer PING within {ReadyDeadline} ({last?.Message}):\n{Output()}");
    }

    protected virtual void BeforeStart() { }

    /// <summary>SIGKILL, the daemon and every process it forked: a crash, not a shutdown.</summary>
    public void Kill()
    {
        if (_process is null) return;
        try
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }
        catch (InvalidOperationException) { } // already gone
        _process.Dispose();
        _process = null;
    }

    public string Output()
    {
        lock (_output) return string.Join('\n', _output);
    }

    private void Keep(string? line)
    {
        if (line is null) return;
        lock (_output)
        {
            _output.Enqueue(line);
            while (_output.Count > 200) _output.Dequeue();
        }
    }

    public void Dispose()
    {
        Kill();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        GC.SuppressFinalize(this);
    }

    protected static bool IsRoot => Environment.UserName == "root";

    protected static string WriteFile(string path, string text)
    {
        File.WriteAllText(path, text, new UTF8Encoding(false));
        return path;
    }
}
