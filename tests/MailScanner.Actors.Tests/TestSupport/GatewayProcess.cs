using System.Diagnostics;
using System.Text;
using Xunit;

namespace MailScanner.Actors.Tests.TestSupport;

/// <summary>
/// One real <c>mailscanner-actors</c> process (the executable the test project references), its output captured.
/// Disposing kills it if it still runs.
/// </summary>
public sealed partial class GatewayProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();

    private GatewayProcess(Process process) => _process = process;

    public static GatewayProcess Start(string workingDirectory, params string[] args)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "mailscanner-actors.dll");
        Assert.True(File.Exists(dll), $"{dll} is missing: the test project must reference the Host project");
        // The test host itself runs under the dotnet muxer; use that one rather than whatever PATH finds.
        var muxer = Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet" ? Environment.ProcessPath! : "dotnet";
        var info = new ProcessStartInfo(muxer)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(dll);
        foreach (var arg in args) info.ArgumentList.Add(arg);
        var started = new GatewayProcess(new Process { StartInfo = info });
        started._process.OutputDataReceived += (_, e) => Append(started._stdout, e.Data);
        started._process.ErrorDataReceived += (_, e) => Append(started._stderr, e.Data);
        Assert.True(started._process.Start());
        started._process.BeginOutputReadLine();
        started._process.BeginErrorReadLine();
        return started;
    }

    public int Id => _process.Id;
    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.ExitCode;
    public string Stdout => Read(_stdout);
    public string Stderr => Read(_stderr);

    /// <summary>SIGTERM: the gateway's graceful stop.</summary>
    public void Terminate() => Assert.Equal(0, SendSignal(_process.Id, 15));

    /// <summary>SIGSTOP: the process stops running without knowing it, as in a long pause of its virtual machine.</summary>
    public void Freeze() => Assert.Equal(0, SendSignal(_process.Id, 19));

    /// <summary>SIGCONT: a frozen process runs on from where it stood.</summary>
    public void Thaw() => Assert.Equal(0, SendSignal(_process.Id, 18));

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int SendSignal(int pid, int signal);

    /// <summary>SIGKILL: no stop of any kind runs, as when a machine loses power.</summary>
    public void KillHard()
    {
        _process.Kill();
        _process.WaitForExit();
    }

    public Task WaitForExitAsync(CancellationToken cancel) => _process.WaitForExitAsync(cancel);

    public void Dispose()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        _process.Dispose();
    }

    public override string ToString() =>
        $"pid {_process.Id}{(_process.HasExited ? $", exited {_process.ExitCode}" : "")}\n--- stdout:\n{Stdout}\n--- stderr:\n{Stderr}";

    private static void Append(StringBuilder output, string? line)
    {
        if (line is null) return;
        lock (output) output.AppendLine(line);
    }

    private static string Read(StringBuilder output)
    {
        lock (output) return output.ToString();
    }
}
