// PLACEHOLDER: replaced on merge
using Akka.Hosting;
using MailScanner.Actors.Configuration;

namespace MailScanner.Actors.Hosting;

public static class GatewayHosting
{
    /// <summary>Wires the gateway's actors into the actor system (the real body arrives with the pipeline branch).</summary>
    public static AkkaConfigurationBuilder AddMailScannerGateway(this AkkaConfigurationBuilder builder, GatewaySettings settings)
    {
        _ = settings;
        return builder;
    }
}
