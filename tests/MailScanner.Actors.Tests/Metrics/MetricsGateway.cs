using Akka.Actor;
using MailScanner.Actors.Configuration;
using MailScanner.Actors.Messages;
using MailScanner.Actors.Metrics;
using MailScanner.Actors.Scanning;
using MailScanner.Actors.Scanning.Engines;
using MailScanner.Actors.Tests.TestSupport;

namespace MailScanner.Actors.Tests.Metrics;

/// <summary>A hosted gateway (the executable's hosting path) with its observability endpoint on a free loopback port.</summary>
public static class MetricsGateway
{
    public static async Task<(HostedGateway Gateway, Uri Endpoint)> StartAsync(GatewaySettings settings,
        Func<ActorSystem, MessageWorkspace, MessageWorkspace>? adjustWorkspace = null, string hocon = "akka.loglevel = WARNING",
        MetricsSettings? metrics = null)
    {
        var gateway = await HostedGateway.StartAsync(settings with { Metrics = metrics ?? MetricsSettings.OnFreeLoopbackPort },
            adjustWorkspace: adjustWorkspace, hocon: hocon);
        return (gateway, gateway.Endpoint ?? throw new InvalidOperationException("the gateway started without its endpoint"));
    }

    /// <summary>
    /// The settings with clamd enabled at a socket nobody listens on: every call fails at once, and after
    /// <paramref name="unhealthyAfterFailures"/> of them the engine is unhealthy (and stays so: its probe waits 30 s).
    /// </summary>
    public static GatewaySettings WithUnreachableClamd(this GatewaySettings settings, int unhealthyAfterFailures) =>
        settings with
        {
            Scanners = ScannerSettings.FromConfig(Akka.Configuration.Config.Empty) with
            {
                Clamd = new ClamdScannerSettings(true, ScannerAddress.Parse(Path.Combine(settings.StateDirectory, "no-clamd.ctl")),
                    new ScannerEngineSettings(Timeout: TimeSpan.FromSeconds(5), MaxConcurrent: 1, UnhealthyAfterFailures: unhealthyAfterFailures,
                        ProbeMinBackoff: TimeSpan.FromSeconds(30), ProbeMaxBackoff: TimeSpan.FromSeconds(30))),
            },
        };
}
