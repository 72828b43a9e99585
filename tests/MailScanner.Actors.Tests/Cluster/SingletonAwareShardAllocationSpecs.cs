using Akka.Actor;
using Akka.TestKit.Xunit2;
using MailScanner.Actors.Cluster;
using Xunit;
using RegionLoad = MailScanner.Actors.Cluster.SingletonAwareShardAllocation.RegionLoad;

namespace MailScanner.Actors.Tests.Cluster;

/// <summary>
/// Where shards go: the oldest node, which runs the cluster singletons besides its shards, takes a lighter share; the
/// other nodes share the rest evenly; rebalancing evens out only what it can improve, so it never moves shards back and forth.
/// </summary>
public sealed class SingletonAwareShardAllocationSpecs : TestKit
{
    private const double Oldest = 1.5;

    private readonly IActorRef _first, _second, _third;

    public SingletonAwareShardAllocationSpecs()
    {
        _first = CreateTestProbe("oldest").Ref;
        _second = CreateTestProbe("second").Ref;
        _third = CreateTestProbe("third").Ref;
    }

    [Fact]
    public void Should_give_the_oldest_node_a_lighter_share_of_the_shards_as_they_are_allocated()
    {
        var held = new Dictionary<IActorRef, List<string>> { [_first] = [], [_second] = [], [_third] = [] };
        for (var shard = 0; shard < 100; shard++)
        {
            var target = SingletonAwareShardAllocation.LeastLoaded(Loads(held)).Region;
            held[target].Add(shard.ToString());
        }

        Assert.Equal(25, held[_first].Count);
        Assert.Equal(75, held[_second].Count + held[_third].Count);
        Assert.InRange(held[_second].Count - held[_third].Count, -1, 1);
    }

    [Fact]
    public void Should_move_shards_from_an_even_split_to_the_lighter_share_for_the_oldest_node()
    {
        var held = new Dictionary<IActorRef, List<string>> { [_first] = Shards(0, 34), [_second] = Shards(34, 33), [_third] = Shards(67, 33) };

        var moved = SingletonAwareShardAllocation.ShardsToMove(Loads(held), atMost: 100);

        Assert.Equal(9, moved.Count);
        Assert.All(moved, shard => Assert.Contains(shard, held[_first]));
    }

    [Fact]
    public void Should_move_nothing_once_the_shares_are_as_even_as_they_can_be()
    {
        var held = new Dictionary<IActorRef, List<string>> { [_first] = Shards(0, 25), [_second] = Shards(25, 37), [_third] = Shards(62, 38) };

        Assert.Empty(SingletonAwareShardAllocation.ShardsToMove(Loads(held), atMost: 100));
    }

    [Fact]
    public void Should_give_a_node_that_joins_its_share_a_tenth_at_a_time()
    {
        // Two nodes held everything while the third was away (a rolling restart). Each round, as the shard coordinator
        // does: the shards to move leave their regions and are allocated again where the strategy says.
        var held = new Dictionary<IActorRef, List<string>> { [_first] = Shards(0, 40), [_second] = Shards(40, 60), [_third] = [] };
        var rounds = 0;
        while (SingletonAwareShardAllocation.ShardsToMove(Loads(held), atMost: 10) is { Count: > 0 } moved)
        {
            Assert.InRange(moved.Count, 1, 10);
            rounds++;
            foreach (var shards in held.Values) shards.RemoveAll(moved.Contains);
            foreach (var shard in moved) held[SingletonAwareShardAllocation.LeastLoaded(Loads(held)).Region].Add(shard);
            Assert.True(rounds < 10, "rebalancing never settles");
        }

        Assert.InRange(rounds, 4, 5);
        Assert.Equal(25, held[_first].Count);
        Assert.InRange(held[_second].Count, 37, 38);
        Assert.InRange(held[_third].Count, 37, 38);
    }

    private List<RegionLoad> Loads(Dictionary<IActorRef, List<string>> held) =>
        held.Select(h => new RegionLoad(h.Key, h.Value.ToList(), h.Key.Equals(_first) ? Oldest : 1.0)).ToList();

    private static List<string> Shards(int first, int count) => Enumerable.Range(first, count).Select(s => s.ToString()).ToList();
}
