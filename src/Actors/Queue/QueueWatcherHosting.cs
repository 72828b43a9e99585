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

    /// <summary>
    /// Starts the watcher of the incoming queue, with its batch coordinators as children, and registers it as
    /// <see cref="QueueWatcher"/>. It restarts in place whatever it throws (<see cref="RestartingSupervisor"/>), so
    /// replies on their way to it are not lost. The MessageActors and the journal are looked up in the registry.
    /// </summary>
    public static AkkaConfigurationBuilder AddQueueWatcher(this AkkaConfigurationBuilder builder, GatewaySettings settings, PipelineCounters counters) =>
        settings.Cluster.Enabled
            ? builder.WithSingleton<QueueWatcher>(SingletonName, (_, registry, _) => SupervisedWatcher(registry, settings, counters),
                new ClusterSingletonOptions(), createProxyToo: true)
            : builder.WithActors((system, registry) =>
                registry.Register<QueueWatcher>(system.ActorOf(SupervisedWatcher(registry, settings, counters), SingletonName)));

    /// <remarks>
    /// Clustered, the watcher is a cluster singleton (registered as its proxy): one node lists the shared queue and
    /// admits, and when that node is gone another starts a watcher, which takes up every claim in the work area. Its
    /// batch coordinators stay its children: they only send commands, and the MessageActors they address, where the
    /// work is done, are spread over the nodes by the shard region. It also takes up claims left without an owner
    /// (their node died) as it lists the queue.
    /// </remarks>
    private static Akka.Actor.Props SupervisedWatcher(IActorRegistry registry, GatewaySettings settings, PipelineCounters counters)
    {
        var messages = registry.Get<MessageActor>();
        var batch = settings.Batch;
        var watcher = QueueWatcher.PropsFor(settings.Queue, QueueFormats.For(settings.Queue), messages,
            context => Enumerable.Range(1, batch.Coordinators)
                .Select(i => context.ActorOf(BatchCoordinator.PropsFor(batch, messages, context.Self, counters), $"coordinator-{i}"))
                .ToList(),
            batch.MaxMessages, counters, MessageJournalHosting.ClientFor(registry, settings.Journal),
            recoverOrphanedClaims: settings.Cluster.Enabled);
        return RestartingSupervisor.PropsFor(watcher, "watcher");
    }
}
