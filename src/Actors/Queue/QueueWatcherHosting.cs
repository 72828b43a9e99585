using Akka.Cluster.Hosting;
using Akka.Hosting;
using MailScanner.Actors.Batching;
using MailScanner.Actors.Configuration;
using MailScanner.Actors.Hosting;
using MailScanner.Actors.Journal;
using MailScanner.Actors.Messages;
using MailScanner.Actors.Metrics;

namespace MailScanner.Actors.Queue;

public static class QueueWatcherHosting
{
    /// <summary>The watcher's name: its actor's on one node, its singleton manager's in a cluster.</summary>
    public const string SingletonName = "queue-watcher";

    /// <summary>The name of a clustered node's own batch coordinators, numbered from 1.</summary>
    public const string NodeCoordinatorName = "batch-coordinator";

    /// <summary>
    /// Starts the watcher of the incoming queue and registers it as <see cref="QueueWatcher"/>. It restarts in place
    /// whatever it throws (<see cref="RestartingSupervisor"/>), so replies on their way to it are not lost. The
    /// MessageActors and the journal are looked up in the registry. On one node its batch coordinators are its children;
    /// clustered, every <c>scan</c> node starts its own (<see cref="AddNodeCoordinators"/>).
    /// </summary>
    public static AkkaConfigurationBuilder AddQueueWatcher(this AkkaConfigurationBuilder builder, GatewaySettings settings, PipelineCounters counters) =>
        settings.Cluster.Enabled
            ? builder.WithSingleton<QueueWatcher>(SingletonName, (_, registry, _) => SupervisedWatcher(registry, settings, counters),
                    new ClusterSingletonOptions(), createProxyToo: true)
                .AddNodeCoordinators(settings, counters)
            : builder.WithActors((system, registry) =>
                registry.Register<QueueWatcher>(system.ActorOf(SupervisedWatcher(registry, settings, counters), SingletonName)));

    /// <summary>
    /// Clustered, on a node with the <c>scan</c> role: <c>mailscanner.batch.coordinators</c> batch coordinators of this
    /// node, which register with the watcher singleton (through its proxy) and drive, through this node's shard region,
    /// the messages whose MessageActors live here, so that their commands never leave the node; and the node's
    /// <see cref="AdmissionDesk"/>, through which the watcher admits them a burst at a time.
    /// </summary>
    private static AkkaConfigurationBuilder AddNodeCoordinators(this AkkaConfigurationBuilder builder, GatewaySettings settings, PipelineCounters counters) =>
        !settings.Cluster.HostsMessages
            ? builder
            : builder.WithActors((system, registry) =>
            {
                var messages = registry.Get<MessageActor>();
                var watcher = registry.Get<QueueWatcher>();
                system.ActorOf(AdmissionDesk.PropsFor(messages), AdmissionDesk.Name);
                for (var i = 1; i <= settings.Batch.Coordinators; i++)
                    system.ActorOf(BatchCoordinator.PropsFor(settings.Batch, messages, watcher, counters, registers: true), $"{NodeCoordinatorName}-{i}");
            });

    /// <remarks>
    /// Clustered, the watcher is a cluster singleton (registered as its proxy): one node lists the shared queue and
    /// admits, and when that node is gone another starts a watcher, which takes up every claim in the work area. It has
    /// no coordinators of its own: each <c>scan</c> node's register with it, and it hands every admitted message to one
    /// on the node of its MessageActor. It also takes up claims left without an owner (their node or their coordinator
    /// died) as it lists the queue.
    /// </remarks>
    private static Akka.Actor.Props SupervisedWatcher(IActorRegistry registry, GatewaySettings settings, PipelineCounters counters)
    {
        var messages = registry.Get<MessageActor>();
        var batch = settings.Batch;
        var watcher = QueueWatcher.PropsFor(settings.Queue, QueueFormats.For(settings.Queue), messages,
            context => settings.Cluster.Enabled
                ? []
                : Enumerable.Range(1, batch.Coordinators)
                    .Select(i => context.ActorOf(BatchCoordinator.PropsFor(batch, messages, context.Self, counters), $"coordinator-{i}"))
                    .ToList(),
            batch.MaxMessages, counters, MessageJournalHosting.ClientFor(registry, settings.Journal),
            recoverOrphanedClaims: settings.Cluster.Enabled);
        return RestartingSupervisor.PropsFor(watcher, "watcher");
    }
}
