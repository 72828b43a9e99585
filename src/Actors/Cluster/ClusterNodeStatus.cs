using System.Diagnostics.Metrics;
using Akka.Actor;
using Akka.Cluster.Sharding;
using Akka.Event;

namespace MailScanner.Actors.Cluster;

/// <summary>What <c>mailscanner-actors cluster status</c> asks each node, and what a node answers.</summary>
public static class ClusterStatusProtocol
{
    public sealed record GetNodeStatus
    {
        public static readonly GetNodeStatus Instance = new();
    }

    /// <param name="Address">The node that answers.</param>
    /// <param name="RunsWatcher">Whether the queue watcher and the journal (the singletons) run here: the oldest node.</param>
    /// <param name="Shards">Shards of MessageActors hosted here.</param>
    /// <param name="InFlight">MessageActors alive here: the messages this node is processing.</param>
    /// <param name="Members">The cluster as this node sees it.</param>
    /// <param name="ShardRegions">
    /// How many nodes' shard regions the shard coordinator knows, as this node last heard (-1: not yet). A node whose region
    /// it does not know yet is given no new shards: a cluster that takes traffic before every region has registered
    /// places all of it on the nodes that have.
    /// </param>
    public sealed record NodeStatus(string Address, IReadOnlyList<string> Roles, bool RunsWatcher, int Shards, int InFlight, IReadOnlyList<MemberView> Members,
        int ShardRegions = -1);

    public sealed record MemberView(string Address, string Status, IReadOnlyList<string> Roles, bool Reachable);
}

/// <summary>
/// One per node (<c>/user/cluster-status</c>): answers <see cref="ClusterStatusProtocol.GetNodeStatus"/>, and samples
/// this node's shard region every few seconds for the answer and for the cluster gauges
/// (<c>akka_cluster_members</c>, <c>akka_cluster_reachable_members</c>, <c>akka_cluster_sharding_shards</c>,
/// <c>akka_cluster_sharding_entities</c>).
/// </summary>
public sealed class ClusterNodeStatus : ReceiveActor, IWithTimers
{
    public const string Name = "cluster-status";
    private static readonly TimeSpan SampleEvery = TimeSpan.FromSeconds(2);

    private readonly Akka.Cluster.Cluster _cluster = Akka.Cluster.Cluster.Get(Context.System);
    private readonly IActorRef _region;
    private readonly ClusterGauges _gauges;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private int _shardRegions = -1;

    public ITimerScheduler Timers { get; set; } = null!;

    public ClusterNodeStatus(IActorRef region, ClusterGauges gauges)
    {
        _region = region;
        _gauges = gauges;
        Receive<Sample>(_ =>
        {
            AskRegion<CurrentShardRegionState>(GetShardRegionState.Instance);
            AskRegion<CurrentRegions>(GetCurrentRegions.Instance);
        });
        Receive<CurrentShardRegionState>(state => _gauges.Sampled(state.Shards.Count, state.Shards.Sum(s => s.EntityIds.Count)));
        Receive<CurrentRegions>(regions => _shardRegions = regions.Regions.Count);
        Receive<SampleFailed>(failed => _log.Debug("The shard region did not answer a sample: {Reason}", failed.Reason));
        Receive<ClusterStatusProtocol.GetNodeStatus>(_ => Sender.Tell(Status()));
    }

    private void AskRegion<TAnswer>(object question) => _region.Ask<TAnswer>(question, SampleEvery)
        .PipeTo(Self, failure: e => new SampleFailed(e.GetBaseException().Message));

    public static Props PropsFor(IActorRef region, ClusterGauges gauges) => Props.Create(() => new ClusterNodeStatus(region, gauges));

    protected override void PreStart() => Timers.StartPeriodicTimer("sample", Sample.Instance, TimeSpan.Zero, SampleEvery);

    private ClusterStatusProtocol.NodeStatus Status()
    {
        var state = _cluster.State;
        var oldest = state.Members.Where(m => m.Status == Akka.Cluster.MemberStatus.Up).OrderBy(m => m, Akka.Cluster.Member.AgeOrdering).FirstOrDefault();
        var members = state.Members
            .Select(m => new ClusterStatusProtocol.MemberView(m.Address.ToString(), m.Status.ToString(), m.Roles.Order().ToList(), !state.Unreachable.Contains(m)))
            .ToList();
        return new ClusterStatusProtocol.NodeStatus(_cluster.SelfAddress.ToString(), _cluster.SelfRoles.Order().ToList(),
            oldest is not null && oldest.Address.Equals(_cluster.SelfAddress), _gauges.Shards, _gauges.Entities, members, _shardRegions);
    }

    private sealed record Sample
    {
        public static readonly Sample Instance = new();
    }

    private sealed record SampleFailed(string Reason);
}

/// <summary>
/// The cluster gauges of one node (<c>akka_cluster_members</c>, <c>akka_cluster_reachable_members</c>,
/// <c>akka_cluster_sharding_shards</c>, <c>akka_cluster_sharding_entities</c>): membership read from the cluster's state
/// when scraped, shards and entities as <see cref="ClusterNodeStatus"/> last sampled them.
/// </summary>
public sealed class ClusterGauges(ActorSystem system)
{
    private readonly Akka.Cluster.Cluster _cluster = Akka.Cluster.Cluster.Get(system);
    private int _shards;
    private int _entities;

    public int Shards => Volatile.Read(ref _shards);
    public int Entities => Volatile.Read(ref _entities);

    internal void Sampled(int shards, int entities)
    {
        Volatile.Write(ref _shards, shards);
        Volatile.Write(ref _entities, entities);
    }

    /// <summary>Publishes the gauges on the actor system's meter, beside the other series of the Akka.NET dashboards.</summary>
    public void Observe(Meter meter)
    {
        meter.CreateObservableGauge("akka.cluster.members", () => _cluster.State.Members.Count,
            description: "Members of the cluster as this node sees them, whatever their status");
        meter.CreateObservableGauge("akka.cluster.reachable_members", () => _cluster.State.Members.Count(m => !_cluster.State.Unreachable.Contains(m)),
            description: "Members this node can reach");
        meter.CreateObservableGauge("akka.cluster.sharding.shards", () => Shards, description: "Shards of MessageActors hosted on this node");
        meter.CreateObservableGauge("akka.cluster.sharding.entities", () => Entities,
            description: "MessageActors alive on this node: the messages it is processing");
    }
}
