using System.Text;
using Akka.Actor;
using MailScanner.Actors.CrashHarness;
using MemberStatus = Akka.Cluster.MemberStatus;
using MailScanner.Actors.Cluster;
using ClusterSettings = MailScanner.Actors.Cluster.ClusterSettings;
using Envelope = MailScanner.Actors.Queue.ZMailer.Envelope;
using MailScanner.Actors.Identity;
using MailScanner.Actors.Journal;
using MailScanner.Actors.Metrics;
using MailScanner.Actors.Queue;
using MailScanner.Actors.Queue.ZMailer;
using MailScanner.Actors.Tests.Pipeline;
using MailScanner.Actors.Tests.TestSupport;
using Xunit;
using static MailScanner.Actors.Messages.MessageCommands;
using static MailScanner.Actors.Messages.MessageReplies;

namespace MailScanner.Actors.Tests.Cluster;

/// <summary>
/// One owner per message in the whole cluster: three gateway nodes in one process (three actor systems clustered over
/// loopback TCP, so every command between them is serialized and sent), one shared queue and one PostgreSQL journal.
/// Messages are queued outside the watched directory and addressed by hand, so that the specs say who sends what.
/// </summary>
public sealed class ClusterOwnershipSpecs(PostgresServer server) : IClassFixture<PostgresServer>, IAsyncLifetime
{
    private static readonly TimeSpan Answer = TimeSpan.FromSeconds(20);
    private readonly GatewayTestbed _bed = new();
    private readonly List<HostedGateway> _nodes = [];
    private ClusterSettings _firstNode = ClusterSettings.Disabled;
    private string _systemName = "";

    private string Manual => Path.Combine(Path.GetDirectoryName(_bed.Incoming)!, "manual");

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(Manual);
        var journal = JournalSettings.For(_bed.State) with { Provider = JournalProvider.PostgreSql, ConnectionString = await server.CreateDatabaseAsync() };
        var ports = Enumerable.Range(0, 3).Select(_ => LoopbackPort.Free()).ToList();
        var seeds = ports.Select(p => new SeedNode("127.0.0.1", p)).ToList();
        _systemName = $"cluster-spec-{Guid.NewGuid():N}"[..20];
        foreach (var port in ports)
        {
            var cluster = new ClusterSettings(true, "127.0.0.1", port, seeds, [ClusterSettings.ScanRole], TimeSpan.FromSeconds(3), null);
            // The first node serves /metrics, with the cluster's gauges.
            var metrics = _nodes.Count == 0 ? MetricsSettings.OnFreeLoopbackPort : MetricsSettings.Disabled;
            if (_nodes.Count == 0) _firstNode = cluster;
            // No rebalancing while a spec addresses a message by hand: a shard that moves hands its messages back (to the
            // watched queue, not to where these were queued by hand), and who owns a message is what these specs check.
            // The watcher's periodic look at the work area takes up claims no node drives, such as the ones these specs
            // make by hand, and may finish such a message at once: every 10 s rather than every second, so that it does not
            // fall between the three Admits of one spec (a late Admit then finds the file gone, which looks like a second owner).
            var settings = _bed.Settings();
            _nodes.Add(await HostedGateway.StartAsync(settings with
                {
                    Journal = journal, Cluster = cluster, Metrics = metrics, Queue = settings.Queue with { ScanInterval = TimeSpan.FromSeconds(10) },
                }, systemName: _systemName,
                hocon: "akka.loglevel = WARNING\nakka.cluster.sharding.rebalance-interval = 1h"));
        }
        await Eventually.Holds(() => _nodes.All(n => Akka.Cluster.Cluster.Get(n.System).State.Members.Count(m => m.Status == MemberStatus.Up) == 3),
            TimeSpan.FromSeconds(60), () => $"three nodes up: {string.Join("; ", _nodes.Select(n => Akka.Cluster.Cluster.Get(n.System).State))}");
        // Every node's shard region registered with the shard coordinator: until then a new shard can go only to those that
        // have, and the shares the allocation gives (the oldest node's lighter one) would depend on how fast each node started.
        await Eventually.Holds(async () =>
                (await _nodes[0].Messages.Ask<Akka.Cluster.Sharding.CurrentRegions>(Akka.Cluster.Sharding.GetCurrentRegions.Instance, Answer)).Regions.Count == 3,
            TimeSpan.FromSeconds(60), "every node's shard region registered with the shard coordinator");
        // One message through the watched queue: the watcher runs and has looked at the work area at its start (which would
        // also take up a claim made by hand), and the journal answers.
        _bed.Enqueue("the cluster is ready");
        await Eventually.Holds(() => OutgoingWith("the cluster is ready") == 1, TimeSpan.FromSeconds(60), "a first message delivered through the watched queue");
    }

    public async Task DisposeAsync()
    {
        foreach (var node in _nodes.AsEnumerable().Reverse()) await node.DisposeAsync();
        _bed.Dispose();
    }

    [Fact]
    public async Task Should_reach_one_MessageActor_when_three_nodes_address_the_same_identity_at_once()
    {
        var (path, identity) = QueueByHand("one owner");

        var replies = await FromEveryNodeAtOnce(new Admit(identity, path));

        // Three MessageActors would claim once and find the file gone twice (Absorbed): one answers all three.
        Assert.All(replies, reply => Assert.Equal(identity, Assert.IsType<Admitted>(reply).Identity));
        Assert.Single(Directory.EnumerateFiles(_bed.Work), p => p.Contains(identity.Key, StringComparison.Ordinal));
        Assert.All(_nodes, n => Assert.IsType<ClusterProtocolSerializer>(n.System.Serialization.FindSerializerFor(new Scan(identity))));
        // Claimed but driven by no batch: the watcher takes the claim up, and it is delivered once.
        await Eventually.Holds(() => OutgoingWith("one owner") == 1 && !Directory.EnumerateFiles(_bed.Work).Any(p => p.Contains(identity.Key, StringComparison.Ordinal)),
            TimeSpan.FromSeconds(60), () => $"the message delivered (outgoing: {OutgoingWith("one owner")})");
        Assert.Equal(1, OutgoingWith("one owner"));
    }

    [Fact]
    public async Task Should_absorb_a_stale_command_for_a_reused_identity_on_whichever_node_it_arrives()
    {
        var (oldPath, old) = QueueByHand("the first life");
        // ext4 gives a freed inode number to the next new file, lowest free number first: files are created (and kept,
        // filling any lower hole) from now on until one gets the first message's number, once that message is gone.
        using var reuse = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var second = Task.Run(() => QueueReusingInode(old.Inode, "the second life", reuse.Token));
        // One owner admits it; an Admit that arrives only after that owner finished the message (the watcher takes up the
        // claim at once on a busy machine) finds its file gone and is absorbed, which is no second owner either.
        var admitted = await FromEveryNodeAtOnce(new Admit(old, oldPath));
        Assert.Contains(admitted, reply => reply is Admitted);
        Assert.All(admitted, reply => Assert.True(reply is Admitted or Absorbed, $"{reply}"));
        await Eventually.Holds(() => OutgoingWith("the first life") == 1 && !File.Exists(_bed.WorkPathOf(old)), TimeSpan.FromSeconds(60), "the first message to be done");

        // The same name, another file.
        var (newPath, reused) = await second;
        Assert.Equal(oldPath, newPath);
        Assert.NotEqual(old, reused);
        var before = File.ReadAllBytes(newPath);

        var replies = (await FromEveryNodeAtOnce(new Delete(old))).Concat(await FromEveryNodeAtOnce(new Scan(old))).ToList();

        Assert.All(replies, reply => Assert.Equal(old, Assert.IsType<Absorbed>(reply).Identity));
        Assert.Equal(before, File.ReadAllBytes(newPath));
        Assert.Equal(1, OutgoingWith("the first life"));
        Assert.Equal(0, OutgoingWith("the second life"));
    }

    [Fact]
    public async Task Should_give_the_oldest_node_which_runs_the_singletons_a_lighter_share_of_the_shards()
    {
        // A Delete for a file that is not there is absorbed at once, but it places the identity's shard: one identity for
        // each of the 100 shards, so that every shard is placed (some already were, by the other specs' messages).
        var extractor = new MailScanner.Actors.Messages.MessageExtractor();
        var identities = Enumerable.Range(1, 100_000).Select(i => new FileIdentity(0x5ca1ab1e, (ulong)(900_000_000 + i), 1))
            .DistinctBy(identity => extractor.ShardId(identity.Key, null)).Take(100).ToList();
        Assert.Equal(100, identities.Count);
        var answers = await Task.WhenAll(identities.Select(identity => _nodes[1].Messages.Ask<object>(new Delete(identity), Answer)));
        Assert.All(answers, answer => Assert.IsType<Absorbed>(answer));

        var oldest = Akka.Cluster.Cluster.Get(_nodes[0].System).State.Members.Where(m => m.Status == MemberStatus.Up)
            .OrderBy(m => m, Akka.Cluster.Member.AgeOrdering).First().Address;
        var shardsByNode = new Dictionary<Address, int>();
        foreach (var node in _nodes)
        {
            var state = await node.Messages.Ask<Akka.Cluster.Sharding.CurrentShardRegionState>(Akka.Cluster.Sharding.GetShardRegionState.Instance, Answer);
            shardsByNode[Akka.Cluster.Cluster.Get(node.System).SelfAddress] = state.Shards.Count;
        }

        // Weight 2.0: 20 on the oldest, 40 on each other node, give or take the shards the first specs placed before
        // every region had registered with the shard coordinator (rebalancing is off in these specs).
        Assert.Equal(100, shardsByNode.Values.Sum());
        var others = shardsByNode.Where(n => n.Key != oldest).Select(n => n.Value).ToList();
        Assert.InRange(shardsByNode[oldest], 15, 25);
        Assert.All(others, count => Assert.InRange(count, 35, 45));
    }

    [Fact]
    public async Task Should_answer_cluster_status_with_every_member_its_reachability_and_the_one_node_running_the_watcher()
    {
        var answer = await ClusterStatusQuery.AskAsync(_firstNode, _systemName, Answer);

        Assert.NotNull(answer);
        var (view, byMember) = answer.Value;
        Assert.Equal(3, view.Members.Count);
        Assert.All(view.Members, m => Assert.True(m.Reachable && m.Status == "Up" && m.Roles.SequenceEqual(["scan"]), m.ToString()));
        Assert.Equal(3, byMember.Count);
        Assert.Single(byMember.Values, n => n.RunsWatcher);
        var text = ClusterStatusQuery.Render(view, byMember);
        Assert.StartsWith("cluster: 3 member(s), 3 reachable", text, StringComparison.Ordinal);
        Assert.Matches(@"NODE\s+STATUS\s+REACHABLE\s+ROLES\s+WATCHER\s+SHARDS\s+IN-FLIGHT", text);
        Assert.Equal(3, text.Split('\n').Count(line => line.Contains("  Up  ", StringComparison.Ordinal) && line.Contains("yes", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Should_publish_the_cluster_gauges_with_the_shards_and_entities_of_messages_in_flight()
    {
        var (path, identity) = QueueByHand("counted");
        Assert.IsType<Admitted>(await _nodes[0].Messages.Ask<object>(new Admit(identity, path), Answer));

        var scrape = await MailScanner.Actors.Tests.Metrics.MetricsScrape.UntilAsync(_nodes[0].Endpoint!, s =>
                s.Sum("akka_cluster_members") == 3 && s.Sum("akka_cluster_reachable_members") == 3 &&
                s.Has("akka_cluster_sharding_shards") && s.Has("akka_cluster_sharding_entities"),
            "the cluster gauges");

        Assert.True(scrape.Sum("akka_cluster_sharding_shards") <= 100, "at most the extractor's 100 shards on one node");
        // The sampled entities follow the MessageActors as they come and go: the message is processed and they return to none.
        await Eventually.Holds(() => OutgoingWith("counted") == 1, TimeSpan.FromSeconds(60), "the message delivered");
        await MailScanner.Actors.Tests.Metrics.MetricsScrape.UntilAsync(_nodes[0].Endpoint!, s => s.Sum("akka_cluster_sharding_entities") == 0, "no entity left once done");
    }

    [Fact]
    public async Task Should_drive_each_message_from_a_batch_coordinator_on_the_node_of_its_MessageActor()
    {
        // Every node's coordinators have registered with the watcher: until then a message may go to another node's.
        var everyCoordinator = 3 * _bed.Settings().Batch.Coordinators;
        await Eventually.Holds(async () => (await _nodes[0].QueueWatcher.Ask<QueueWatcherProtocol.Status>(QueueWatcherProtocol.GetStatus.Instance, Answer)).Coordinators == everyCoordinator,
            TimeSpan.FromSeconds(30), $"the {everyCoordinator} coordinators of the three nodes registered");
        var fromThisNode = _nodes.Select(n => n.Counters.StageCommandsFromThisNode).ToList();
        var fromAnotherNode = _nodes.Sum(n => n.Counters.StageCommandsFromAnotherNode);
        var deleted = _nodes.Sum(n => n.Counters.Deleted);

        var bodies = Enumerable.Range(1, 30).Select(i => $"local batch <{i}>").ToList();
        foreach (var body in bodies) _bed.Enqueue(body);
        // Delivered, and the originals deleted (the first message's may be among them): each has taken its Scan, Clean, Deliver and Delete.
        await Eventually.Holds(() => bodies.All(body => OutgoingWith(body) == 1) && _nodes.Sum(n => n.Counters.Deleted) - deleted >= bodies.Count, TimeSpan.FromSeconds(90),
            () => $"the 30 messages delivered and deleted ({bodies.Count(body => OutgoingWith(body) == 1)} delivered, {_nodes.Sum(n => n.Counters.Deleted) - deleted} deleted; " +
                  "per node admitted, batches, stage commands from this node, from another: " +
                  string.Join("; ", _nodes.Select(n => $"{n.Counters.Admitted} {n.Counters.Batches} {n.Counters.StageCommandsFromThisNode} {n.Counters.StageCommandsFromAnotherNode}")) + ")");

        // Every one from a coordinator on the entity's own node.
        var taken = _nodes.Select((n, i) => n.Counters.StageCommandsFromThisNode - fromThisNode[i]).ToList();
        Assert.Equal(0, _nodes.Sum(n => n.Counters.StageCommandsFromAnotherNode) - fromAnotherNode);
        Assert.True(taken.Sum() >= 4 * bodies.Count, $"stage commands taken on each node: {string.Join(", ", taken)}");
        // And the MessageActors, with the batches that drive them, are spread over the nodes.
        Assert.True(taken.Count(t => t > 0) >= 2, $"stage commands taken on each node: {string.Join(", ", taken)}");
    }

    private (string Path, FileIdentity Identity) QueueByHand(string body)
    {
        var envelope = new Envelope("alice@example.org", ["bob@example.com"], "mx.example.org [192.0.2.1]", []);
        return ZMailerQueueWriter.WriteDurably(Manual, ZMailerQueueFile.Format(envelope,
            Encoding.UTF8.GetBytes($"From: alice@example.org\r\nTo: bob@example.com\r\nSubject: cluster\r\n\r\n{body}\r\n")));
    }

    /// <summary>A queue file given <paramref name="inode"/> by the file system (as soon as it is free), named by it as ZMailer does.</summary>
    private (string Path, FileIdentity Identity) QueueReusingInode(ulong inode, string body, CancellationToken giveUp)
    {
        var envelope = new Envelope("alice@example.org", ["bob@example.com"], "mx.example.org [192.0.2.1]", []);
        var content = ZMailerQueueFile.Format(envelope, Encoding.UTF8.GetBytes($"From: alice@example.org\r\nSubject: cluster\r\n\r\n{body}\r\n"));
        var holes = Path.Combine(Path.GetDirectoryName(_bed.Incoming)!, "holes");
        Directory.CreateDirectory(holes);
        for (var n = 0; ; n++)
        {
            giveUp.ThrowIfCancellationRequested();
            var temp = Path.Combine(Manual, $"tf-reuse-{n}");
            FileIdentity identity;
            using (var handle = NativeFile.CreateExclusive(temp))
            {
                identity = NativeFile.GetIdentity(handle);
                if (identity.Inode == inode) RandomAccess.Write(handle, content, 0);
            }
            if (identity.Inode != inode)
            {
                File.Move(temp, Path.Combine(holes, $"{n}"));
                Thread.Sleep(1);
                continue;
            }
            var path = Path.Combine(Manual, inode.ToString(System.Globalization.CultureInfo.InvariantCulture));
            Assert.Equal(RenameOutcome.Renamed, NativeFile.TryRenameNoReplace(temp, path));
            return (path, identity);
        }
    }

    /// <summary>The same command from each node's shard region at the same time; each node's answer.</summary>
    private Task<object[]> FromEveryNodeAtOnce(object command) =>
        Task.WhenAll(_nodes.Select(n => n.Messages.Ask<object>(command, Answer)));

    private int OutgoingWith(string body) =>
        GatewayTestbed.AllEntries(_bed.Outgoing).Count(p => TextIfStillThere(p).Contains(body, StringComparison.Ordinal));

    /// <summary>A copy being written is renamed into place while the outgoing queue is read: the name listed may be gone.</summary>
    private static string TextIfStillThere(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (FileNotFoundException)
        {
            return "";
        }
    }
}
