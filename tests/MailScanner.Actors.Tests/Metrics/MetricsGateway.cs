using Akka.Actor;
using MailScanner.Actors.Configuration;
using MailScanner.Actors.Messages;
using MailScanner.Actors.Metrics;
using MailScanner.Actors.Tests.TestSupport;

namespace MailScanner.Actors.Tests.Metrics;

/// <summary>A hosted gateway (the executable's hosting path) with its observability endpoint on a free loopback port.</summary>
public static class MetricsGateway
{
    public static async Task<(HostedGateway Gateway, Uri Endpoint)> StartAsync(GatewaySettings settings,
        Func<ActorSystem, MessageWorkspace, MessageWorkspace>? adjustWorkspace = null, string hocon = "akka.loglevel = WARNING")
    {
        var gateway = await HostedGateway.StartAsync(settings with { Metrics = MetricsSettings.OnFreeLoopbackPort },
            adjustWorkspace: adjustWorkspace, hocon: hocon);
        return (gateway, gateway.Endpoint ?? throw new InvalidOperationException("the gateway started without its endpoint"));
    }
}
