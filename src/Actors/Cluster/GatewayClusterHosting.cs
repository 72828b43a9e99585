using System.Globalization;
using Akka.Cluster.Hosting;
using Akka.Cluster.Hosting.SBR;
using Akka.Hosting;
using Akka.Remote.Hosting;

namespace MailScanner.Actors.Cluster;

public static class GatewayClusterHosting
{
    /// <summary>
    /// Makes the actor system a node of the gateway's cluster: remoting on <see cref="ClusterSettings.Hostname"/>:<see cref="ClusterSettings.Port"/>,
    /// the seed nodes and roles, Akka's split-brain resolver with keep-majority and the configured timings (and
    /// <see cref="QuarantinedNodeDowning"/>, for what it does not cover), and the serializer of everything that crosses the network. Who runs where is decided by the <c>Add…</c> extensions of the
    /// actors themselves (a shard region for the MessageActors, singletons for the queue watcher and the journal).
    /// </summary>
    /// <param name="actorSystemName">The actor system's name, the same on every node: it is part of every node's address.</param>
    public static AkkaConfigurationBuilder AddGatewayCluster(this AkkaConfigurationBuilder builder, ClusterSettings cluster, string actorSystemName)
    {
        builder.AddHocon(SplitBrainResolverHocon(cluster), HoconAddMode.Prepend);
        builder.AddHocon(FrameSizeHocon, HoconAddMode.Prepend);
        builder.WithCustomSerializer(ClusterProtocolSerializer.Name, ClusterProtocolSerializer.Types.ToArray(),
            system => new ClusterProtocolSerializer(system));
        return builder
            .WithRemoting(new RemoteOptions { HostName = cluster.Hostname, Port = cluster.Port })
            .WithClustering(new ClusterOptions
            {
                SeedNodes = cluster.SeedNodes.Select(seed => $"akka.tcp://{actorSystemName}@{seed}").ToArray(),
                Roles = cluster.Roles.ToArray(),
                SplitBrainResolver = new KeepMajorityOption(),
            })
            .WithActors((system, _) => system.ActorOf(QuarantinedNodeDowning.Props(), QuarantinedNodeDowning.Name));
    }

    /// <summary>
    /// Starts this node's <see cref="ClusterNodeStatus"/> (what <c>cluster status</c> asks) and, with metrics on, the
    /// cluster gauges. After the MessageActors: it samples their shard region.
    /// </summary>
    public static AkkaConfigurationBuilder AddClusterStatus(this AkkaConfigurationBuilder builder, bool withMetrics) =>
        builder.WithActors((system, registry) =>
        {
            var gauges = new ClusterGauges(system);
            if (withMetrics) gauges.Observe(MailScanner.Actors.Metrics.ActorSystemMetrics.For(system).Meter);
            system.ActorOf(ClusterNodeStatus.PropsFor(registry.Get<Messages.MessageActor>(), gauges), ClusterNodeStatus.Name);
        });

    /// <summary>
    /// A node's journal requests cross as one batch at a time (<see cref="Journal.JournalRelay"/>): up to its coordinators'
    /// batches in one stage, each delivery record carrying its rules' reasons, which can pass Akka's default of 128,000
    /// bytes, and a message over the limit is dropped, not split. The burst messages of the admission desks and the
    /// coordinator outbox are cut into chunks well under either limit (<see cref="Queue.BurstChunks"/>).
    /// </summary>
    private const string FrameSizeHocon = "akka.remote.dot-netty.tcp.maximum-frame-size = 4MiB";

    /// <summary>The resolver's timings; the strategy itself comes from <see cref="KeepMajorityOption"/>.</summary>
    private static string SplitBrainResolverHocon(ClusterSettings cluster) => string.Create(CultureInfo.InvariantCulture, $$"""
        akka.cluster.split-brain-resolver {
          stable-after = {{(long)cluster.StableAfter.TotalMilliseconds}}ms
          down-all-when-unstable = {{(cluster.DownAllWhenUnstable is { } t ? $"{(long)t.TotalMilliseconds}ms" : "off")}}
        }
        """);
}
