using Akka.Actor;
using Akka.Hosting;
using MailScanner.Actors.Configuration;
using MailScanner.Actors.Queue;

namespace MailScanner.Actors.Metrics;

public static class GatewayMetricsHosting
{
    /// <summary>
    /// Instruments the actor system being built: every mailbox (<see cref="InstrumentedMailbox"/>), Akka's actor telemetry
    /// events, dead letters, unhandled messages and log events (<see cref="ActorTelemetryListener"/>), and samples the queue
    /// (<see cref="QueueSampler"/>). Added first by <c>AddMailScannerGateway</c>, so that the listener hears the gateway's
    /// actors start. What serves the numbers is the host's to wire: <see cref="ObservabilityEndpointHosting.AddObservabilityEndpoint"/>.
    /// </summary>
    public static AkkaConfigurationBuilder AddGatewayMetrics(this AkkaConfigurationBuilder builder, GatewaySettings settings,
        PipelineCounters counters)
    {
        builder.AddHocon(InstrumentedMailbox.Hocon + "\n" + ActorTelemetryListener.Hocon, HoconAddMode.Prepend);
        return builder.WithActors((system, _) =>
        {
            var actors = ActorSystemMetrics.For(system);
            actors.Pipeline = counters;
            system.ActorOf(ActorTelemetryListener.PropsFor(actors), "metrics-telemetry");
            var sampler = new QueueSampler(counters, QueueSampler.Interval, settings.Queue.Incoming, QueueFormats.For(settings.Queue),
                settings.Queue.Work);
            system.RegisterOnTermination(sampler.Dispose);
        });
    }
}
