using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using MailScanner.Actors.Queue.ZMailer;
using MailScanner.Actors.Tests.TestSupport;
using Xunit;

namespace MailScanner.Actors.Tests.Host;

/// <summary>
/// Stopping the real process: SIGTERM lets the messages in flight finish or hands them back untouched within
/// <c>mailscanner.shutdown.grace-period</c>; a second signal stops at once, and the next start finishes the job.
/// Either way every message ends up exactly once: delivered, or in the incoming queue.
/// </summary>
public sealed partial class CommandLineSpecs
{
    private string Spool(string name) => Path.Combine(_dir.FullName, "spool", name);

    [Fact]
    public async Task Should_finish_the_messages_in_flight_on_SIGTERM_and_exit_0_with_each_message_exactly_once()
    {
        const int messageCount = 400;
        await WriteGatewayConfig("gateway.conf", gracePeriod: "20s");
        var originals = EnqueueMessages(messageCount);
        var (process, stdout, stderr) = Start("run", "--config", "gateway.conf");
        await AwaitReady(process, stdout, stderr);
        await Until(() => Directory.EnumerateFiles(Spool("outgoing")).Any(), process, stdout, stderr);

        var stopped = Stopwatch.StartNew();
        Assert.Equal(0, SendSignal(process.Id, SigTerm));
        using (var grace = new CancellationTokenSource(TimeSpan.FromSeconds(20)))
            await process.WaitForExitAsync(grace.Token);

        Assert.True(process.ExitCode == 0, $"exit {process.ExitCode} after {stopped.Elapsed}; stdout: {Read(stdout)}; stderr: {Read(stderr)}");
        AssertEachMessageExactlyOnce(originals);
        Assert.Empty(Directory.EnumerateFileSystemEntries(Spool("work")));
        Assert.Contains("Stopping: no more messages are admitted", Read(stdout));
        Assert.Matches(@"Stopped: \d+ message\(s\) finished, 0 handed back", Read(stdout));
    }

    [Fact]
    public async Task Should_hand_back_messages_whose_scan_outlasts_the_grace_period_untouched_and_exit_0()
    {
        using var silentSpamd = new SilentDaemon();
        await WriteGatewayConfig("gateway.conf", gracePeriod: "2s", spamdPort: silentSpamd.Port);
        var originals = EnqueueMessages(10);
        var (process, stdout, stderr) = Start("run", "--config", "gateway.conf");
        await AwaitReady(process, stdout, stderr);
        await Until(() => Directory.EnumerateFiles(Spool("work")).Count() == 10, process, stdout, stderr);

        var stopped = Stopwatch.StartNew();
        Assert.Equal(0, SendSignal(process.Id, SigTerm));
        using (var patience = new CancellationTokenSource(Patience))
            await process.WaitForExitAsync(patience.Token);

        Assert.True(process.ExitCode == 0, $"exit {process.ExitCode}; stdout: {Read(stdout)}; stderr: {Read(stderr)}");
        Assert.True(stopped.Elapsed < TimeSpan.FromSeconds(2 + 10), $"took {stopped.Elapsed} with a grace period of 2s");
        Assert.Empty(Directory.EnumerateFileSystemEntries(Spool("work")));
        Assert.Empty(Directory.EnumerateFileSystemEntries(Spool("outgoing")));
        AssertEachMessageExactlyOnce(originals);
        Assert.Contains("Stopped: 0 message(s) finished, 10 handed back to the incoming queue untouched", Read(stdout));
    }

    [Fact]
    public async Task Should_stop_at_once_on_a_second_signal_and_finish_every_message_exactly_once_at_the_next_start()
    {
        using var silentSpamd = new SilentDaemon();
        await WriteGatewayConfig("stuck.conf", gracePeriod: "60s", spamdPort: silentSpamd.Port);
        var originals = EnqueueMessages(10);
        var (process, stdout, stderr) = Start("run", "--config", "stuck.conf");
        await AwaitReady(process, stdout, stderr);
        await Until(() => Directory.EnumerateFiles(Spool("work")).Count() == 10, process, stdout, stderr);

        Assert.Equal(0, SendSignal(process.Id, SigTerm));
        await Until(() => Read(stdout).Contains("Stopping: no more messages"), process, stdout, stderr);
        var stopped = Stopwatch.StartNew();
        Assert.Equal(0, SendSignal(process.Id, SigTerm));
        using (var patience = new CancellationTokenSource(TimeSpan.FromSeconds(10)))
            await process.WaitForExitAsync(patience.Token);
        Assert.True(process.ExitCode == 128 + SigTerm, $"exit {process.ExitCode}; stdout: {Read(stdout)}; stderr: {Read(stderr)}");
        Assert.True(stopped.Elapsed < TimeSpan.FromSeconds(10), $"took {stopped.Elapsed}");
        Assert.Contains("Second SIGTERM: stopping at once", Read(stdout));
        Assert.Equal(10, Directory.EnumerateFiles(Spool("work")).Count()); // claimed, for the next start to resume

        await WriteGatewayConfig("gateway.conf", gracePeriod: "20s");
        var (next, nextStdout, nextStderr) = Start("run", "--config", "gateway.conf");
        await AwaitReady(next, nextStdout, nextStderr);
        await Until(() => Directory.EnumerateFiles(Spool("outgoing")).Count() == 10 && !Directory.EnumerateFileSystemEntries(Spool("work")).Any(),
            next, nextStdout, nextStderr);
        Assert.Equal(0, SendSignal(next.Id, SigTerm));
        using (var patience = new CancellationTokenSource(Patience))
            await next.WaitForExitAsync(patience.Token);

        Assert.True(next.ExitCode == 0, $"exit {next.ExitCode}; stdout: {Read(nextStdout)}; stderr: {Read(nextStderr)}");
        Assert.Empty(Directory.EnumerateFileSystemEntries(Spool("router")));
        AssertEachMessageExactlyOnce(originals);
    }

    private async Task WriteGatewayConfig(string name, string gracePeriod, int? spamdPort = null)
    {
        var spamd = spamdPort is { } port ? $"mailscanner.scanners.spamd {{ enabled = yes, address = \"127.0.0.1:{port}\" }}\n" : "";
        await File.WriteAllTextAsync(Path.Combine(_dir.FullName, name), $"""
            mailscanner.queue {"{"} incoming = "spool/router", outgoing = "spool/outgoing", work = "spool/work", bad = "spool/bad" {"}"}
            mailscanner.quarantine.directory = "spool/quarantine"
            mailscanner.state-directory = "state"
            mailscanner.shutdown.grace-period = {gracePeriod}

            """ + spamd);
    }

    /// <summary>Queues messages as ZMailer does; returns each one's bytes by its sequence number.</summary>
    private Dictionary<int, byte[]> EnqueueMessages(int count)
    {
        Directory.CreateDirectory(Spool("router"));
        var originals = new Dictionary<int, byte[]>();
        for (var seq = 0; seq < count; seq++)
        {
            var envelope = new Envelope("alice@example.org", ["bob@example.com"], "mx.example.org [192.0.2.1]", []);
            var content = ZMailerQueueFile.Format(envelope, Encoding.UTF8.GetBytes($"From: alice@example.org\r\nSubject: stop\r\n\r\nX-Seq: {seq}\r\n"));
            ZMailerQueueWriter.WriteDurably(Spool("router"), content);
            originals[seq] = content;
        }
        return originals;
    }

    /// <summary>Every message exactly once: delivered to outgoing, or in the incoming queue byte for byte as it was queued.</summary>
    private void AssertEachMessageExactlyOnce(Dictionary<int, byte[]> originals)
    {
        var seen = new Dictionary<int, int>();
        foreach (var path in Directory.EnumerateFiles(Spool("outgoing")).Concat(Directory.EnumerateFiles(Spool("router"))))
        {
            var content = File.ReadAllBytes(path);
            var seq = SeqHeader.Of(content);
            if (Path.GetDirectoryName(path) == Spool("router")) Assert.Equal(originals[seq], content);
            seen[seq] = seen.GetValueOrDefault(seq) + 1;
        }
        foreach (var seq in originals.Keys)
            Assert.True(seen.GetValueOrDefault(seq) == 1, $"message {seq} is there {seen.GetValueOrDefault(seq)} times");
    }

    private async Task AwaitReady(Process process, StringBuilder stdout, StringBuilder stderr) =>
        await Until(() => Read(stdout).Contains("mailscanner-actors started"), process, stdout, stderr);

    /// <summary>Waits for <paramref name="condition"/>; fails at once, with its output, when the gateway exits first.</summary>
    private static Task Until(Func<bool> condition, Process process, StringBuilder stdout, StringBuilder stderr) =>
        Eventually.Holds(() =>
        {
            if (condition()) return true;
            Assert.False(process.HasExited, $"exited early with {(process.HasExited ? process.ExitCode : 0)}: {Read(stdout)} {Read(stderr)}");
            return false;
        }, Patience, () => $"the gateway to get there: {Read(stdout)} {Read(stderr)}", TimeSpan.FromMilliseconds(50));
}
