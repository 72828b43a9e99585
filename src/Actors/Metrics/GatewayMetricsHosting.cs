using Akka.Actor;
using Akka.Event;
using Akka.Hosting;
using MailScanner.Actors.Configuration;

namespace MailScanner.Actors.Metrics;

public static class GatewayMetricsHosting
{
    /// <summary>
    /// Instruments the actor system being built (every mailbox, Akka's actor telemetry events, dead letters, unhandled
    /// messages, log events), samples the queue, and serves <c>/metrics</c>, <c>/health/*</c> and the status page on
    /// <c>mailscanner.metrics.host</c>:<c>port</c>. Added first by <c>AddMailScannerGateway</c>, so that the listener hears
    /// the gateway's actors start. The endpoint stops after the gateway's graceful stop, so that <c>/health/ready</c>
    /// says "stopping" meanwhile.
    /// </summary>
    /// <exception cref="ConfigurationException">At start-up: the port is already in use.</exception>
    public static AkkaConfigurationBuilder AddGatewayMetrics(this AkkaConfigurationBuilder builder, GatewaySettings settings,
        PipelineCounters counters)
    {
        builder.AddHocon(InstrumentedMailbox.Hocon + "\n" + ActorTelemetryListener.Hocon, HoconAddMode.Prepend);
        return builder.WithActors((system, registry) =>
        {
            var actors = ActorSystemMetrics.For(system);
            system.ActorOf(ActorTelemetryListener.PropsFor(actors), "metrics-telemetry");
            var sampler = new QueueSampler(counters, QueueSampler.Interval, settings.Queue.Incoming, settings.Queue.Work);
            var endpoint = ObservabilityEndpoint.StartAsync(settings.Metrics, [counters.Meter.Name, actors.Meter.Name],
                new GatewayReadiness(system, registry, settings), new StatusSnapshot(counters, actors)).GetAwaiter().GetResult();
            actors.EndpointAddress = endpoint.Address;
            system.Log.Info("Metrics, health and the status page are served at {0}", endpoint.Address);
            CoordinatedShutdown.Get(system).AddTask(CoordinatedShutdown.PhaseBeforeActorSystemTerminate, "stop-metrics-endpoint", async () =>
            {
                sampler.Dispose();
                await endpoint.DisposeAsync();
                return Akka.Done.Instance;
            });
        });
    }
}
