using Akka.Actor;
using Akka.Hosting;
using MailScanner.Actors.Metrics;
using MailScanner.Actors.Scanning.Clamd;
using MailScanner.Actors.Scanning.Spamd;

namespace MailScanner.Actors.Scanning.Engines;

public static class ScannerEngineHosting
{
    /// <summary>
    /// Starts one supervised engine per enabled daemon, registered under its backend's type
    /// (<see cref="ClamdBackend"/>, <see cref="SpamdBackend"/>); a message's verdict waits for every one of them.
    /// </summary>
    /// <param name="counters">Where the engines report their calls, errors and health; none in specs that do not read them.</param>
    public static AkkaConfigurationBuilder AddScannerEngines(this AkkaConfigurationBuilder builder, ScannerSettings scanners,
        PipelineCounters? counters = null) =>
        builder.WithActors((system, registry) =>
        {
            if (scanners.Clamd.Enabled)
                registry.Register<ClamdBackend>(system.ActorOf(ScannerEngine.SupervisedPropsFor(
                    new ClamdBackend(new ClamdClient(scanners.Clamd.Address), scanners.Clamd.MaxSize), scanners.Clamd.Engine, counters), "clamd"));
            if (scanners.Spamd.Enabled)
                registry.Register<SpamdBackend>(system.ActorOf(ScannerEngine.SupervisedPropsFor(
                    new SpamdBackend(new SpamdClient(scanners.Spamd.Address), scanners.Spamd.HighSpamScore, scanners.Spamd.MaxSize), scanners.Spamd.Engine, counters), "spamd"));
        });

    /// <summary>The engines <see cref="AddScannerEngines"/> started, in a fixed order.</summary>
    public static IReadOnlyList<IActorRef> EnginesIn(IActorRegistry registry)
    {
        var engines = new List<IActorRef>();
        if (registry.TryGet<ClamdBackend>(out var clamd)) engines.Add(clamd);
        if (registry.TryGet<SpamdBackend>(out var spamd)) engines.Add(spamd);
        return engines;
    }
}
