using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using Xunit;

namespace MailScanner.Actors.Tests.Host;

/// <summary>Runs the real <c>mailscanner-actors</c> executable, the way an operator does.</summary>
public sealed partial class CommandLineSpecs : IDisposable
{
    private const int SigInt = 2, SigTerm = 15;
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan StopPatience = TimeSpan.FromSeconds(90);

    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("mailscanner-cli-");
    private readonly List<Process> _started = [];

    public void Dispose()
    {
        foreach (var process in _started)
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            process.Dispose();
        }
        _dir.Delete(recursive: true);
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int SendSignal(int pid, int signal);

    [Fact]
    public async Task Should_print_the_effective_configuration_and_exit_0_on_check_config()
    {
        var (exitCode, stdout, stderr) = await RunToEnd("check-config");

        Assert.True(exitCode == 0, $"exit {exitCode}; stderr: {stderr}");
        Assert.Contains($"incoming = \"{Path.Combine(_dir.FullName, "var/spool/router")}\"", stdout);
        Assert.Contains("coordinators = 5", stdout);
        Assert.False(Directory.Exists(Path.Combine(_dir.FullName, "var")), "check-config must not create anything");
    }

    [Fact]
    public async Task Should_exit_2_naming_the_key_when_the_config_is_bad()
    {
        await File.WriteAllTextAsync(Path.Combine(_dir.FullName, "bad.conf"), "mailscanner.batch.coordinators = 0\n");

        var (exitCode, stdout, stderr) = await RunToEnd("check-config", "--config", "bad.conf");

        Assert.True(exitCode == 2, $"exit {exitCode}; stdout: {stdout}; stderr: {stderr}");
        Assert.Equal(
            "mailscanner-actors: configuration error: mailscanner.batch.coordinators: must be at least 1 (got 0)",
            stderr.Trim());
    }

    [Fact]
    public async Task Should_exit_2_naming_the_file_when_the_config_file_is_missing()
    {
        var (exitCode, _, stderr) = await RunToEnd("run", "--config", "missing.conf");

        Assert.Equal(2, exitCode);
        Assert.Contains($"configuration error: {Path.Combine(_dir.FullName, "missing.conf")}: configuration file not found", stderr);
    }

    [Theory]
    [InlineData(SigTerm)]
    [InlineData(SigInt)]
    public async Task Should_run_until_signalled_and_then_stop_cleanly(int signal)
    {
        await File.WriteAllTextAsync(Path.Combine(_dir.FullName, "gateway.conf"), """
            mailscanner.queue { incoming = "spool/router", outgoing = "spool/outgoing", work = "spool/work", bad = "spool/bad" }
            """);
        var incoming = Path.Combine(_dir.FullName, "spool/router");
        var (process, stdout, stderr) = Start("run", "--config", "gateway.conf");

        // Ready = the directories were prepared and the host has its signal handlers (the "started" line).
        await Until(() => Directory.Exists(incoming) && Read(stdout).Contains("mailscanner-actors started"), process, stdout, stderr);

        Assert.Equal(0, SendSignal(process.Id, signal));

        // The stop waits for Akka's coordinated shutdown, whose phases have their own timeouts: patience beyond them.
        using var stopping = new CancellationTokenSource(StopPatience);
        try
        {
            await process.WaitForExitAsync(stopping.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"still running {StopPatience.TotalSeconds} s after signal {signal}; stdout: {Read(stdout)}; stderr: {Read(stderr)}");
        }
        Assert.True(process.ExitCode == 0, $"exit {process.ExitCode}; stdout: {Read(stdout)}; stderr: {Read(stderr)}");
        Assert.Contains("mailscanner-actors stopped", Read(stdout));
        Assert.Contains(incoming, Read(stdout)); // the startup line names the effective directories
    }

    private Task<(int ExitCode, string Stdout, string Stderr)> RunToEnd(params string[] args) => RunWithInput(null, args);

    /// <param name="input">Written to the command's standard input, which is then closed; null: none.</param>
    private async Task<(int ExitCode, string Stdout, string Stderr)> RunWithInput(string? input, params string[] args)
    {
        var (process, stdout, stderr) = Start(input is not null, args);
        if (input is not null)
        {
            await process.StandardInput.WriteAsync(input);
            process.StandardInput.Close();
        }
        using var timeout = new CancellationTokenSource(Patience);
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, Read(stdout), Read(stderr));
    }

    private (Process Process, StringBuilder Stdout, StringBuilder Stderr) Start(params string[] args) => Start(false, args);

    private (Process Process, StringBuilder Stdout, StringBuilder Stderr) Start(bool withInput, params string[] args)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "mailscanner-actors.dll");
        Assert.True(File.Exists(dll), $"{dll} is missing: the test project must reference the Host project");

        // The test host itself runs under the dotnet muxer; use that one rather than whatever PATH finds.
        var muxer = Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet" ? Environment.ProcessPath! : "dotnet";
        var info = new ProcessStartInfo(muxer)
        {
            WorkingDirectory = _dir.FullName,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = withInput,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(dll);
        foreach (var arg in args) info.ArgumentList.Add(arg);

        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        var process = new Process { StartInfo = info };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (stdout) stdout.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) stderr.AppendLine(e.Data); };
        Assert.True(process.Start());
        _started.Add(process);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return (process, stdout, stderr);
    }

    private static string Read(StringBuilder output)
    {
        lock (output) return output.ToString();
    }
}
