using System.Diagnostics;

namespace MailScanner.Actors.Tests.TestSupport;

/// <summary>The daemons a private MTA instance runs (the MTA's listener, smtp-sink): started with their output drained, stopped whole.</summary>
internal static class DaemonProcess
{
    /// <summary>Started in the background; its output is read and dropped, so a chatty daemon never blocks on a full pipe.</summary>
    public static Process Start(string command, params string[] arguments)
    {
        var info = new ProcessStartInfo(command, arguments) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        var process = Process.Start(info) ?? throw new InvalidOperationException($"cannot start {command}");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    /// <summary>
    /// Postfix's smtp-sink on loopback, the destination of every private MTA: <c>-u</c> drops to the mail_owner, <c>-d
    /// DIR/m.</c> keeps one file per message (named m.&lt;time-ish suffix&gt;) with its envelope.
    /// </summary>
    public static Process StartSmtpSink(string directory, int port) =>
        Start("smtp-sink", "-u", PostfixInstance.MailOwner, "-d", Path.Combine(directory, "m."), $"127.0.0.1:{port.ToString(System.Globalization.CultureInfo.InvariantCulture)}", "256");

    /// <summary>Kills each that still runs (with its children) and waits for it; null entries were never started.</summary>
    public static async Task StopAsync(params Process?[] processes)
    {
        foreach (var process in processes)
        {
            if (process is null) continue;
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            process.Dispose();
        }
    }
}
