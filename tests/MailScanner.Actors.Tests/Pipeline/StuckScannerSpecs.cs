using Akka.Actor;
using MailScanner.Actors.Journal;
using MailScanner.Actors.Quarantine;
using MailScanner.Actors.Scanning;
using MailScanner.Actors.Scanning.Engines;
using MailScanner.Actors.Tests.TestSupport;
using Xunit;

namespace MailScanner.Actors.Tests.Pipeline;

/// <summary>
/// A message a scanner daemon never gets through (it times out on it while answering PING and every other message):
/// it costs only its own attempts and ends with the verdict unscannable, in the quarantine by the default policy; it is
/// not retried forever, and the engine stays healthy for everyone else's mail.
/// </summary>
public sealed class StuckScannerSpecs : IDisposable
{
    private readonly GatewayTestbed _bed = new();

    public void Dispose() => _bed.Dispose();

    [Fact]
    public async Task Should_quarantine_a_message_the_scanner_times_out_on_after_its_attempts_and_deliver_the_rest()
    {
        var defaults = _bed.Settings();
        var settings = defaults with
        {
            Queue = defaults.Queue with { RetryBackoffMin = TimeSpan.FromMilliseconds(50), RetryBackoffMax = TimeSpan.FromMilliseconds(200) },
            Journal = JournalSettings.For(_bed.State, maxProcessingAttempts: 3),
        };
        var engineSettings = new ScannerEngineSettings(TimeSpan.FromMilliseconds(300), 4, 1, TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(400));
        IActorRef? engine = null;
        _bed.Enqueue("STUCK: the scanner never gets through this one");
        for (var seq = 0; seq < 20; seq++) _bed.Enqueue($"X-Seq: {seq}");

        await using var gateway = await HostedGateway.StartAsync(settings, hocon: "akka.loglevel = ERROR",
            adjustWorkspace: (system, workspace) => workspace with
            {
                ScannerEngines = [engine = system.ActorOf(ScannerEngine.PropsFor(new StuckOnOneMessageBackend(), engineSettings), "stuck-engine")],
            });

        await Eventually.Holds(() => gateway.Counters.Deleted == 21, TimeSpan.FromSeconds(60), () => $"every message to be finished ({gateway.Counters})");
        var entry = Assert.Single(new QuarantineStore(_bed.Quarantine).List());
        Assert.Equal(VerdictKind.Unscannable, entry.Metadata.Verdict);
        Assert.Equal(1, gateway.Counters.VerdictCount(VerdictKind.Unscannable));
        Assert.Contains("STUCK", File.ReadAllText(entry.QueueFilePath), StringComparison.Ordinal);
        Assert.Equal(3, gateway.Counters.Failed); // one hand-back per attempt, then quarantined
        Assert.Equal(20, GatewayTestbed.AllEntries(_bed.Outgoing).Count());
        var health = await engine!.Ask<ScannerEngine.HealthStatus>(ScannerEngine.GetHealth.Instance, TimeSpan.FromSeconds(5));
        Assert.True(health.IsHealthy, $"the engine should have stayed healthy: {health.Health}");
    }
}
