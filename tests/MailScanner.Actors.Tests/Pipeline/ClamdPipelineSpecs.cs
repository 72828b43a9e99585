using System.Text;
using Akka.TestKit.Xunit2;
using MailScanner.Actors.Hosting;
using MailScanner.Actors.Metrics;
using MailScanner.Actors.Quarantine;
using MailScanner.Actors.Scanning;
using MailScanner.Actors.Scanning.Engines;
using MailScanner.Actors.Tests.TestSupport;
using Xunit;
using Xunit.Abstractions;

namespace MailScanner.Actors.Tests.Pipeline;

/// <summary>The whole pipeline with a real clamd as one of its scanners, including clamd dying mid-run.</summary>
[Collection(ScannerDaemonCollection.Name)]
public sealed class ClamdPipelineSpecs : TestKit
{
    private readonly ITestOutputHelper _output;

    public ClamdPipelineSpecs(ITestOutputHelper output) : base("akka.loglevel = ERROR") => _output = output;

    [Fact]
    public async Task Should_lose_nothing_and_deliver_nothing_unscanned_when_clamd_dies_and_comes_back()
    {
        using var clamd = new ClamdDaemon();
        await clamd.StartAsync();
        using var bed = new GatewayTestbed();
        var counters = new PipelineCounters();
        var engine = new ScannerEngineSettings(Timeout: TimeSpan.FromSeconds(10), MaxConcurrent: 4, UnhealthyAfterFailures: 2,
            ProbeMinBackoff: TimeSpan.FromMilliseconds(100), ProbeMaxBackoff: TimeSpan.FromSeconds(1));
        var defaults = bed.Settings();
        var settings = defaults with
        {
            Scanners = defaults.Scanners with { Clamd = new ClamdScannerSettings(true, clamd.Address, engine) },
        };
        Gateway.Start(Sys, settings, counters);

        // While clamd is up: infected mail goes to quarantine (clamd names no part that cleaning could replace),
        // the rest is delivered with the verdict header.
        for (var i = 0; i < 40; i++) bed.Enqueue(i % 4 == 0 ? $"infected {i}\r\n{ClamdDaemon.Eicar}" : $"clean {i}");
        await AwaitConditionAsync(() => Task.FromResult(counters.Deleted == 40), TimeSpan.FromMinutes(1));
        var outgoing = GatewayTestbed.AllEntries(bed.Outgoing).Select(File.ReadAllText).ToList();
        Assert.Equal(30, outgoing.Count);
        Assert.All(outgoing, text => Assert.Contains("X-MailScanner-Actors: clean", text));
        var quarantined = new QuarantineStore(bed.Quarantine).List();
        Assert.Equal(10, quarantined.Count);
        Assert.All(quarantined, entry => Assert.Equal(VerdictKind.Infected, entry.Metadata.Verdict));

        // clamd dies: nothing more may be delivered, and nothing may be lost.
        clamd.Kill();
        for (var i = 0; i < 20; i++) bed.Enqueue($"while clamd is down {i}");
        await AwaitConditionAsync(() => Task.FromResult(counters.Failed >= 20), TimeSpan.FromMinutes(1));
        Assert.Equal(30, GatewayTestbed.AllEntries(bed.Outgoing).Count());
        Assert.Equal(20, GatewayTestbed.AllEntries(bed.Incoming).Count() + GatewayTestbed.AllEntries(bed.Work).Count());

        // clamd returns: every held-back message is scanned and delivered, exactly once.
        await clamd.StartAsync();
        await AwaitConditionAsync(() => Task.FromResult(counters.Deleted == 60), TimeSpan.FromMinutes(2), TimeSpan.FromMilliseconds(200));
        var delivered = GatewayTestbed.AllEntries(bed.Outgoing).Select(File.ReadAllText).ToList();
        Assert.Equal(50, delivered.Count);
        for (var i = 0; i < 20; i++)
            Assert.Single(delivered, text => text.Contains($"while clamd is down {i}\r\n", StringComparison.Ordinal));
        Assert.Empty(GatewayTestbed.AllEntries(bed.Incoming));
        Assert.Empty(GatewayTestbed.AllEntries(bed.Work));
        _output.WriteLine($"clamd killed and restarted: {counters}");
    }
}
