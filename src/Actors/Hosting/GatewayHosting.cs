using Akka.Hosting;
using MailScanner.Actors.Configuration;
using MailScanner.Actors.Metrics;

namespace MailScanner.Actors.Hosting;

public static class GatewayHosting
{
    /// <summary>Wires the whole queue pipeline into an Akka.Hosting actor system.</summary>
    public static AkkaConfigurationBuilder AddMailScannerGateway(this AkkaConfigurationBuilder builder,
        GatewaySettings settings, PipelineCounters? counters = null)
    {
        var pipelineCounters = counters ?? new PipelineCounters();
        // Before the actor system starts: its stop phase must have room for the grace period (GatewayShutdown).
        builder.AddHocon(GatewayShutdown.PhaseTimeoutHocon(settings.Shutdown), HoconAddMode.Prepend);
        return builder.WithActors((system, registry) =>
        {
            var actors = Gateway.Start(system, settings, pipelineCounters);
            registry.Register<MessageRegionKey>(actors.Messages);
            registry.Register<QueueWatcherKey>(actors.QueueWatcher);
        });
    }
}
