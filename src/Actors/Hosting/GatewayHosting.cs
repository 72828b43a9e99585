using Akka.Actor;
using Akka.Hosting;
using MailScanner.Actors.Cluster;
using MailScanner.Actors.Configuration;
using MailScanner.Actors.Journal;
using MailScanner.Actors.Messages;
using MailScanner.Actors.Metrics;
using MailScanner.Actors.Queue;
using MailScanner.Actors.Scanning.Engines;

namespace MailScanner.Actors.Hosting;

public static class GatewayHosting
{
    /// <summary>
    /// Wires the whole gateway into the actor system being built: its metrics and observability endpoint (unless off), the journal, the scanner engines, the MessageActors
    /// and the queue watcher, each by its own <c>Add…</c> extension and in that order (each looks up the ones before it
    /// in the registry), then the graceful stop. The executable, the specs and the bench all start the gateway here.
    /// </summary>
    /// <param name="adjustWorkspace">Specs only: replaces parts of what the MessageActors work with (a slow scanner engine, throwing rules).</param>
    /// <param name="actorSystemName">Clustered: the actor system's name, the same on every node (it is part of the seed nodes' addresses).</param>
    public static AkkaConfigurationBuilder AddMailScannerGateway(this AkkaConfigurationBuilder builder,
        GatewaySettings settings, PipelineCounters? counters = null, Func<ActorSystem, MessageWorkspace, MessageWorkspace>? adjustWorkspace = null,
        string actorSystemName = "mailscanner")
    {
        var pipelineCounters = counters ?? new PipelineCounters();
        // Before the actor system starts: its stop phase must have room for the grace period (GatewayShutdown).
        builder.AddHocon(GatewayShutdown.PhaseTimeoutHocon(settings.Shutdown), HoconAddMode.Prepend);
        if (settings.Cluster.Enabled) builder.AddGatewayCluster(settings.Cluster, actorSystemName);
        if (settings.Metrics.Enabled) builder.AddGatewayMetrics(settings, pipelineCounters);
        if (settings.Journal.Enabled) builder.AddMessageJournal(settings.Journal, counters: pipelineCounters, clusterSingleton: settings.Cluster.Enabled);
        return builder
            .AddScannerEngines(settings.Scanners, pipelineCounters)
            .AddMessageActors(settings, pipelineCounters, adjustWorkspace)
            .AddQueueWatcher(settings, pipelineCounters)
            .AddClusterStatusIf(settings)
            .WithActors((system, registry) =>
            {
                if (settings.Cluster.Enabled) GatewayShutdown.RegisterClustered(system, QueueWatcherHosting.SingletonName, settings.Shutdown);
                else GatewayShutdown.Register(system, registry.Get<QueueWatcher>(), settings.Shutdown);
            });
    }

    private static AkkaConfigurationBuilder AddClusterStatusIf(this AkkaConfigurationBuilder builder, GatewaySettings settings) =>
        settings.Cluster.Enabled ? builder.AddClusterStatus(withMetrics: settings.Metrics.Enabled) : builder;
}
