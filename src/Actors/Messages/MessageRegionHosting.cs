using Akka.Actor;
using Akka.Cluster.Hosting;
using Akka.Cluster.Sharding;
using Akka.Hosting;
using MailScanner.Actors.Cluster;
using MailScanner.Actors.Configuration;
using MailScanner.Actors.Delivery;
using MailScanner.Actors.Journal;
using MailScanner.Actors.Metrics;
using MailScanner.Actors.Quarantine;
using MailScanner.Actors.Hosting;
using MailScanner.Actors.Queue;
using MailScanner.Actors.Scanning.Engines;
using MailScanner.Actors.Scanning.Rules;

namespace MailScanner.Actors.Messages;

public static class MessageRegionHosting
{
    /// <summary>
    /// Starts the parent of all MessageActors and registers it as <see cref="MessageActor"/>: callers address
    /// messages through it by identity. On one node it is a <see cref="MessageRegion"/>; clustered, a shard region with
    /// the same extractor (<see cref="ShardRegionOptions"/>), so that each identity has one MessageActor in the whole
    /// cluster. The journal and the scanner engines are looked up in the registry, so they are added first.
    /// </summary>
    /// <param name="adjustWorkspace">Specs only: replaces parts of what the MessageActors work with (a slow scanner engine, throwing rules).</param>
    public static AkkaConfigurationBuilder AddMessageActors(this AkkaConfigurationBuilder builder, GatewaySettings settings,
        PipelineCounters counters, Func<ActorSystem, MessageWorkspace, MessageWorkspace>? adjustWorkspace = null)
    {
        Props EntityProps(ActorSystem system, IActorRegistry registry) => MessageActor.PropsFor(Workspace(system, registry, settings, counters, adjustWorkspace));
        if (!settings.Cluster.Enabled)
            return builder.WithActors((system, registry) =>
                registry.Register<MessageActor>(system.ActorOf(MessageRegion.PropsFor(EntityProps(system, registry)), "messages")));
        return builder
            .AddHocon(ShardRegionHocon, HoconAddMode.Prepend)
            .WithActors((system, registry) =>
            {
                // Started here rather than with Akka.Hosting's WithShardRegion, which has no place for an allocation strategy.
                var config = system.Settings.Config;
                var sharding = ClusterShardingSettings.Create(config.GetConfig("akka.cluster.sharding"), config.GetConfig("akka.cluster.singleton"));
                registry.Register<MessageActor>(ClusterSharding.Get(system).Start(RegionName, EntityProps(system, registry), sharding,
                    new MessageExtractor(), new SingletonAwareShardAllocation(system, settings.Cluster.OldestNodeShardWeight), MessageActor.HandOff.Instance));
            });
    }

    private const string RegionName = "messages";

    private static MessageWorkspace Workspace(ActorSystem system, IActorRegistry registry, GatewaySettings settings, PipelineCounters counters,
        Func<ActorSystem, MessageWorkspace, MessageWorkspace>? adjustWorkspace)
    {
        var workspace = WorkspaceFor(system, registry, settings, counters);
        if (adjustWorkspace is not null) workspace = adjustWorkspace(system, workspace);
        if (settings.Rules.Enabled && workspace.ScanWithBuiltInRules == BuiltInRules.Scan)
            _ = RulesWarmUp.StartInBackground(settings.Rules, Akka.Event.Logging.GetLogger(system, typeof(RulesWarmUp)));
        return workspace;
    }

    /// <summary>
    /// Clustered, a shard region over the nodes with the <c>scan</c> role (a node without it reaches them through a proxy):
    /// entities are created on the first command and stop themselves when done (never passivated for idleness: an entity
    /// that waits holds a claim); no entity is remembered, because the work area is what says which messages are claimed.
    /// A shard that moves (a rebalance, a node leaving) has its MessageActors let go of their files first (<see cref="MessageActor.HandOff"/>);
    /// where shards go is <see cref="SingletonAwareShardAllocation"/>'s choice.
    /// </summary>
    private static string ShardRegionHocon => $$"""
        akka.cluster.sharding {
          role = "{{ClusterSettings.ScanRole}}"
          state-store-mode = ddata
          remember-entities = off
          passivate-idle-entity-after = off
        }
        """;

    private static MessageWorkspace WorkspaceFor(ActorSystem system, IActorRegistry registry, GatewaySettings settings, PipelineCounters counters)
    {
        var format = QueueFormats.For(settings.Queue);
        // One barrier over every file system a delivery touches, the SQLite journal's included: each round makes the
        // staged copies, the renames, the unlinks and the journal's records durable together (ExactlyOnceDelivery).
        var barrier = new DurabilityBarrier(new[] { settings.Queue.Outgoing, settings.Quarantine.Directory, settings.Queue.Work }
            .Concat(settings.Journal.LocalDirectory is { } journalDirectory ? [journalDirectory] : []));
        var closer = new DeferredCloser();
        system.RegisterOnTermination(() =>
        {
            barrier.Dispose();
            closer.Dispose();
        });
        return new MessageWorkspace(
            format,
            settings.Queue.Work,
            settings.Queue.Bad,
            new QueueDirectoryWriter(settings.Queue.Outgoing, barrier, format.Outgoing),
            new QuarantineStore(settings.Quarantine.Directory, barrier),
            settings.Rules,
            settings.Policy,
            ScannerEngineHosting.EnginesIn(registry),
            closer,
            counters)
        {
            Journal = MessageJournalHosting.ClientFor(registry, settings.Journal),
            WriteFailures = new WriteFailureEpisodes(Akka.Event.Logging.GetLogger(system, typeof(WriteFailureEpisodes))),
        };
    }
}
