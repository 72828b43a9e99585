using System.Collections.Immutable;
using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Sharding;

namespace MailScanner.Actors.Cluster;

/// <summary>
/// Where the MessageActors' shards live: on the node with the least work, where a shard on the oldest node counts as
/// <see cref="ClusterSettings.OldestNodeShardWeight"/> shards (<c>mailscanner.cluster.oldest-node-shard-weight</c>).
/// The oldest node runs the cluster singletons besides its own shards (the queue watcher lists and opens every queue
/// file, the journal takes every node's records, the shard coordinator places shards), so an equal share of the
/// messages on top of that made it the cluster's bottleneck: in bench (i), three nodes on two thirds of a core each,
/// the oldest ran at its limit while the other two used 0.4 of a core each.
/// </summary>
/// <remarks>
/// A shard goes to the least loaded region of a node that is not leaving (<see cref="LeastLoaded"/>). Rebalancing moves shards
/// from the most to the least loaded region while that lowers the highest load (<see cref="ShardsToMove"/>), a tenth of
/// the shards at most per round and none while a round is under way, as Akka's own strategy does; so a node that joins
/// (or comes back after a restart) takes its share, and the oldest node's lighter share follows the singletons when
/// they move to the next oldest.
/// </remarks>
public sealed class SingletonAwareShardAllocation : IShardAllocationStrategy
{
    private readonly Akka.Cluster.Cluster _cluster;
    private readonly double _oldestNodeWeight;

    public SingletonAwareShardAllocation(ActorSystem system, double oldestNodeWeight)
    {
        _cluster = Akka.Cluster.Cluster.Get(system);
        _oldestNodeWeight = oldestNodeWeight;
    }

    public Task<IActorRef> AllocateShard(IActorRef requester, string shardId, IImmutableDictionary<IActorRef, IImmutableList<string>> currentShardAllocations)
    {
        var regions = Regions(currentShardAllocations);
        return Task.FromResult(regions.Count == 0 ? requester : LeastLoaded(regions).Region);
    }

    public Task<IImmutableSet<string>> Rebalance(IImmutableDictionary<IActorRef, IImmutableList<string>> currentShardAllocations, IImmutableSet<string> rebalanceInProgress)
    {
        if (rebalanceInProgress.Count > 0 || !GoodTimeToRebalance()) return Task.FromResult<IImmutableSet<string>>(ImmutableHashSet<string>.Empty);
        var total = currentShardAllocations.Values.Sum(shards => shards.Count);
        return Task.FromResult<IImmutableSet<string>>(ShardsToMove(Regions(currentShardAllocations), Math.Max(1, total / 10)).ToImmutableHashSet());
    }

    /// <summary>A region, its shards and what each of them weighs there.</summary>
    public sealed record RegionLoad(IActorRef Region, IReadOnlyList<string> Shards, double Weight);

    /// <summary>Where a new shard goes: the lowest load counting that shard; of equal ones, the region with fewer shards.</summary>
    public static RegionLoad LeastLoaded(IReadOnlyList<RegionLoad> regions) =>
        regions.OrderBy(r => (r.Shards.Count + 1) * r.Weight).ThenBy(r => r.Shards.Count).ThenBy(r => r.Region.Path.ToString(), StringComparer.Ordinal).First();

    /// <summary>
    /// Shards to move, one at a time from the most loaded region to the one <see cref="LeastLoaded"/> picks, as long as
    /// each move lowers the load of the region it leaves below what it was without raising the other's above it.
    /// </summary>
    public static IReadOnlyList<string> ShardsToMove(IReadOnlyList<RegionLoad> regions, int atMost)
    {
        if (regions.Count < 2) return [];
        var remaining = regions.ToDictionary(r => r.Region, r => r.Shards.ToList());
        var moved = new List<string>();
        var arriving = regions.ToDictionary(r => r.Region, _ => 0);
        while (moved.Count < atMost)
        {
            var loads = regions.Select(r => (r.Region, r.Weight, Count: remaining[r.Region].Count + arriving[r.Region])).ToList();
            var heaviest = loads.Where(l => remaining[l.Region].Count > 0).MaxBy(l => l.Count * l.Weight);
            var lightest = loads.Where(l => l.Region != heaviest.Region).MinBy(l => (l.Count + 1) * l.Weight);
            if (heaviest.Region is null || lightest.Region is null || (lightest.Count + 1) * lightest.Weight >= heaviest.Count * heaviest.Weight) break;
            var shards = remaining[heaviest.Region];
            moved.Add(shards[^1]);
            shards.RemoveAt(shards.Count - 1);
            arriving[lightest.Region]++;
        }
        return moved;
    }

    /// <summary>
    /// The regions of known nodes, each with its weight. As in Akka's own strategy, a node still joining may take shards (a
    /// cluster that starts under load would otherwise give it none until the next rebalance), and a node on its way out
    /// takes none while another can.
    /// </summary>
    private List<RegionLoad> Regions(IImmutableDictionary<IActorRef, IImmutableList<string>> allocations)
    {
        var members = _cluster.State.Members.ToDictionary(m => m.Address);
        // The singletons are not bound to a role: they run on the oldest node of all.
        var oldest = members.Values.Where(m => m.Status is MemberStatus.Up or MemberStatus.Leaving or MemberStatus.Exiting)
            .OrderBy(m => m, Member.AgeOrdering).FirstOrDefault()?.Address;
        var known = allocations
            .Select(a => (Region: a.Key, Shards: a.Value, Member: members.GetValueOrDefault(AddressOf(a.Key))))
            .Where(a => a.Member is not null)
            .ToList();
        var staying = known.Where(a => !Leaving(a.Member!)).ToList();
        return (staying.Count > 0 ? staying : known)
            .Select(a => new RegionLoad(a.Region, a.Shards, a.Member!.Address == oldest ? _oldestNodeWeight : 1.0))
            .ToList();
    }

    private static bool Leaving(Member member) => member.Status is MemberStatus.Leaving or MemberStatus.Exiting or MemberStatus.Down;

    /// <summary>Akka's rule: not while a node is joining (it will be up in a moment) or one is unreachable (it could not hand off).</summary>
    private bool GoodTimeToRebalance() =>
        !_cluster.State.Members.Any(m => m.Status is MemberStatus.Joining or MemberStatus.WeaklyUp) && _cluster.State.Unreachable.Count == 0;

    /// <summary>The node of a region: a local one's path carries no host.</summary>
    private Address AddressOf(IActorRef region) => region.Path.Address.HasLocalScope ? _cluster.SelfAddress : region.Path.Address;
}
