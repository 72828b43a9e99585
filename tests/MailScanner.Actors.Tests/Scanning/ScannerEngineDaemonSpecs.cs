using System.Text;
using Akka.Actor;
using Akka.TestKit.Xunit2;
using MailScanner.Actors.Scanning;
using MailScanner.Actors.Scanning.Engines;
using MailScanner.Actors.Tests.TestSupport;
using Xunit;
using Xunit.Abstractions;
using static MailScanner.Actors.Scanning.Engines.ScannerEngine;

namespace MailScanner.Actors.Tests.Scanning;

/// <summary>The engine in front of real daemons that die and come back.</summary>
[Collection(ScannerDaemonCollection.Name)]
public sealed class ScannerEngineDaemonSpecs : TestKit
{
    private readonly ITestOutputHelper _output;

    public ScannerEngineDaemonSpecs(ITestOutputHelper output) : base("akka.loglevel = ERROR") => _output = output;

    private static readonly ScannerEngineSettings Settings = new(
        Timeout: TimeSpan.FromSeconds(10), MaxConcurrent: 4, UnhealthyAfterFailures: 2,
        ProbeMinBackoff: TimeSpan.FromMilliseconds(50), ProbeMaxBackoff: TimeSpan.FromMilliseconds(500));

    [Fact]
    public async Task Should_never_answer_clean_when_clamd_is_killed_mid_run_and_scan_again_when_it_returns()
    {
        using var clamd = new ClamdDaemon();
        await clamd.StartAsync();
        _output.WriteLine($"clamd answered PING {clamd.StartupTime.TotalMilliseconds:0} ms after it was started");
        var engine = Sys.ActorOf(PropsFor(new ClamdBackend(clamd.Client()), Settings));

        // Infected messages big enough to be in flight when clamd dies (the virus at the very end, so a stream cut
        // short could never look clean by accident).
        var infected = new byte[900_000];
        infected.AsSpan().Fill((byte)'a');
        Encoding.ASCII.GetBytes(ClamdDaemon.Eicar).CopyTo(infected, infected.Length - 100);
        const int count = 60;
        for (var i = 0; i < count; i++) engine.Tell(new Scan($"m{i}", infected));

        var replies = new List<object> { ReceiveOne(TimeSpan.FromSeconds(30))! };
        clamd.Kill();
        replies.AddRange(ReceiveN(count - 1, TimeSpan.FromSeconds(60)));

        var scanned = replies.OfType<Scanned>().ToList();
        var unavailable = replies.OfType<Unavailable>().ToList();
        _output.WriteLine($"before and during the kill: {scanned.Count} scanned, {unavailable.Count} unavailable");
        Assert.Equal(count, scanned.Count + unavailable.Count);
        Assert.All(scanned, s => Assert.Equal(VerdictKind.Infected, Verdict.Of(s.Report.Findings.ToList()).Kind));
        Assert.NotEmpty(unavailable);
        Assert.Equal(Enumerable.Range(0, count).Select(i => $"m{i}").Order(),
            replies.Select(r => r is Scanned s ? s.MessageKey : ((Unavailable)r).MessageKey).Order());

        // Later requests: unavailable at once, and the engine says why.
        await Eventually.Holds(async () => (await engine.Ask<HealthStatus>(GetHealth.Instance)).Health is ScannerHealth.Unhealthy,
            TimeSpan.FromSeconds(10), "the engine to turn unhealthy");
        engine.Tell(new Scan("later", infected));
        Assert.Equal("later", ExpectMsg<Unavailable>(TimeSpan.FromSeconds(2)).MessageKey);

        // clamd returns: the engine's probe notices, and it scans again.
        await clamd.StartAsync();
        await Eventually.Holds(async () => (await engine.Ask<HealthStatus>(GetHealth.Instance)).IsHealthy, TimeSpan.FromSeconds(30),
            "the engine's probe to find clamd again");
        engine.Tell(new Scan("again", infected));
        var again = ExpectMsg<Scanned>(TimeSpan.FromSeconds(30));
        Assert.Equal(VerdictKind.Infected, Assert.Single(again.Report.Findings).Kind);
        engine.Tell(new Scan("clean", "Subject: hi\r\n\r\nhello\r\n"u8.ToArray()));
        Assert.Empty(ExpectMsg<Scanned>(TimeSpan.FromSeconds(30)).Report.Findings);
    }

    [Fact]
    public async Task Should_scan_through_spamd_and_turn_unhealthy_when_spamd_dies()
    {
        using var spamd = new SpamdDaemon();
        await spamd.StartAsync();
        _output.WriteLine($"spamd answered PING {spamd.StartupTime.TotalMilliseconds:0} ms after it was started");
        var engine = Sys.ActorOf(PropsFor(new SpamdBackend(spamd.Client()), Settings with { Timeout = TimeSpan.FromSeconds(60) }));

        engine.Tell(new Scan("gtube", SpamdClientSpecs.Gtube()));
        var report = ExpectMsg<Scanned>(TimeSpan.FromSeconds(60)).Report;
        Assert.Contains(report.Findings, f => f.Kind >= VerdictKind.Spam);
        Assert.Contains("GTUBE", report.Spam!.Rules);

        spamd.Kill();
        engine.Tell(new Scan("x", SpamdClientSpecs.Gtube()));
        engine.Tell(new Scan("y", SpamdClientSpecs.Gtube()));
        Assert.All(ReceiveN(2, TimeSpan.FromSeconds(10)), r => Assert.IsType<Unavailable>(r));
        Assert.IsType<ScannerHealth.Unhealthy>((await engine.Ask<HealthStatus>(GetHealth.Instance)).Health);
    }
}
