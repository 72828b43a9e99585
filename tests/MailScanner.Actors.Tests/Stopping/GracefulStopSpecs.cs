using System.Text.RegularExpressions;
using Akka.Actor;
using Akka.Event;
using Akka.TestKit.Xunit2;
using MailScanner.Actors.Configuration;
using MailScanner.Actors.Hosting;
using MailScanner.Actors.Metrics;
using MailScanner.Actors.Queue;
using MailScanner.Actors.Tests.Pipeline;
using MailScanner.Actors.Tests.TestSupport;
using Xunit;

namespace MailScanner.Actors.Tests.Stopping;

/// <summary>
/// A gateway whose actor system stops (CoordinatedShutdown, as on SIGTERM) while messages are in flight: each one is
/// either finished (delivered exactly once) or back in the incoming queue untouched, and the work area is empty.
/// </summary>
public sealed partial class GracefulStopSpecs : TestKit
{
    private static readonly ShutdownSettings Grace = new(TimeSpan.FromSeconds(1));

    public GracefulStopSpecs() : base($"akka.loglevel = INFO\n{GatewayShutdown.PhaseTimeoutHocon(Grace)}", output: null)
    {
    }

    [Fact]
    public async Task Should_let_messages_in_flight_finish_within_the_grace_period_and_hand_back_the_rest_untouched()
    {
        const int messageCount = 60;
        using var bed = new GatewayTestbed();
        var originals = new Dictionary<int, byte[]>();
        for (var seq = 0; seq < messageCount; seq++)
        {
            var (path, _) = bed.Enqueue($"X-Seq: {seq}");
            originals[seq] = await File.ReadAllBytesAsync(path);
        }
        var counters = new PipelineCounters();
        // Scans take up to 2.5 s against a grace period of 1 s: some messages finish during the stop, some cannot.
        await using var gateway = await HostedGateway.StartAsync(bed.Settings(maxInFlight: 20, maxMessages: 5) with { Shutdown = Grace }, counters,
            hocon: "akka.loglevel = INFO", adjustWorkspace: (system, workspace) => workspace with
            {
                ScannerEngines = [system.ActorOf(SlowScannerEngine.PropsFor(TimeSpan.FromMilliseconds(2500)), "slow-engine")],
            });
        var log = gateway.Log;

        // The first 20 (max-in-flight) all deleted and 10 more admitted after them: those scans began at most a moment
        // ago and cannot end within the grace period. ("3 deleted and 10 in flight" also held while the first 20 were
        // between their deletion and their batch's end, and then every message in flight finished during the stop.)
        await Eventually.Holds(async () => counters.Deleted >= 20 && counters.Admitted >= 30 &&
            (await gateway.QueueWatcher.Ask<QueueWatcherProtocol.Status>(QueueWatcherProtocol.GetStatus.Instance)).InFlight >= 10,
            TimeSpan.FromSeconds(30), () => $"the first 20 messages finished and 10 more in flight ({counters})");
        await gateway.StopAsync();

        var delivered = DeliveredSeqs(bed);
        var stillQueued = new Dictionary<int, int>();
        foreach (var path in GatewayTestbed.QueueFiles(bed.Incoming))
        {
            var content = await File.ReadAllBytesAsync(path);
            var seq = SeqHeader.Of(content);
            Assert.Equal(originals[seq], content); // untouched
            stillQueued[seq] = stillQueued.GetValueOrDefault(seq) + 1;
        }
        Assert.Empty(GatewayTestbed.AllEntries(bed.Work));
        Assert.DoesNotContain(GatewayTestbed.AllEntries(bed.Outgoing), path => Path.GetFileName(path).StartsWith("tf-", StringComparison.Ordinal));
        for (var seq = 0; seq < messageCount; seq++)
        {
            var copies = delivered.GetValueOrDefault(seq) + stillQueued.GetValueOrDefault(seq);
            Assert.True(copies == 1, $"message {seq}: {delivered.GetValueOrDefault(seq)} delivered, {stillQueued.GetValueOrDefault(seq)} queued");
        }

        var stopping = Assert.Single(log.Lines(LogLevel.InfoLevel), line => line.StartsWith("Stopping: no more messages", StringComparison.Ordinal));
        Assert.Contains("up to 00:00:01", stopping);
        var inFlightAtStop = int.Parse(InFlightCount().Match(stopping).Groups[1].Value);
        var stopped = Assert.Single(log.Lines(LogLevel.InfoLevel), line => line.StartsWith("Stopped:", StringComparison.Ordinal));
        var (finished, handedBack) = StoppedCounts(stopped);
        Assert.True(handedBack > 0, $"the grace period should have cut some scans short: {stopped}");
        // Every message in flight when the stop began is accounted for, and nothing was admitted after it.
        Assert.Equal(inFlightAtStop, finished + handedBack);
    }

    [Fact]
    public async Task Should_admit_nothing_once_stopping_and_hand_back_every_message_whose_scan_never_ends()
    {
        using var bed = new GatewayTestbed();
        for (var seq = 0; seq < 8; seq++) bed.Enqueue($"X-Seq: {seq}");
        var counters = new PipelineCounters();
        await using var gateway = await HostedGateway.StartAsync(bed.Settings() with { Shutdown = Grace }, counters,
            hocon: "akka.loglevel = INFO", adjustWorkspace: (system, workspace) => workspace with { ScannerEngines = [system.ActorOf(SlowScannerEngine.PropsFor(maxDelay: null), "silent-engine")] });
        var log = gateway.Log;
        await Eventually.Holds(() => counters.Admitted == 8, TimeSpan.FromSeconds(20), () => $"8 admissions ({counters})");

        var stop = gateway.StopAsync();
        await Eventually.Holds(() => log.Lines(LogLevel.InfoLevel).Any(l => l.StartsWith("Stopping:", StringComparison.Ordinal)),
            TimeSpan.FromSeconds(10), "the watcher to log that it is stopping");
        var (late, _) = bed.Enqueue("X-Seq: 8");
        await stop;

        Assert.Empty(GatewayTestbed.AllEntries(bed.Work));
        Assert.Empty(GatewayTestbed.AllEntries(bed.Outgoing));
        Assert.Equal(9, GatewayTestbed.QueueFiles(bed.Incoming).Count());
        Assert.True(File.Exists(late));
        Assert.Equal(8, counters.Admitted);
        var stopped = Assert.Single(log.Lines(LogLevel.InfoLevel), line => line.StartsWith("Stopped:", StringComparison.Ordinal));
        Assert.Equal((0, 8), StoppedCounts(stopped));
    }

    private static Dictionary<int, int> DeliveredSeqs(GatewayTestbed bed)
    {
        var delivered = new Dictionary<int, int>();
        foreach (var path in GatewayTestbed.QueueFiles(bed.Outgoing))
        {
            var seq = SeqHeader.OfFile(path);
            delivered[seq] = delivered.GetValueOrDefault(seq) + 1;
        }
        return delivered;
    }


    private static (int Finished, int HandedBack) StoppedCounts(string line)
    {
        var match = StoppedLine().Match(line);
        Assert.True(match.Success, line);
        return (int.Parse(match.Groups[1].Value), int.Parse(match.Groups[2].Value));
    }

    [GeneratedRegex(@"Stopped: (\d+) message\(s\) finished, (\d+) handed back")]
    private static partial Regex StoppedLine();

    [GeneratedRegex(@"the (\d+) message\(s\) in flight")]
    private static partial Regex InFlightCount();
}
