using System.Diagnostics;
using System.Text;
using MailScanner.Actors.Cluster;
using MailScanner.Actors.CrashHarness;
using MailScanner.Actors.Queue.ZMailer;
using MailScanner.Actors.Tests.TestSupport;
using Xunit;
using Xunit.Abstractions;

namespace MailScanner.Actors.Tests.Cluster;

/// <summary>
/// Three real <c>mailscanner-actors run</c> processes on loopback ports, one shared queue directory (ext4) and one
/// private PostgreSQL journal: a node SIGKILLed in the middle of the traffic loses nothing and delivers nothing twice;
/// its singletons and its messages are taken over by the others, and it rejoins when started again.
/// </summary>
public sealed class ClusterProcessSpecs(PostgresServer server, ITestOutputHelper output) : IClassFixture<PostgresServer>, IDisposable
{
    private const string WatcherStarted = "Singleton manager started singleton actor [akka://mailscanner/user/queue-watcher/queue-watcher]";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    private readonly TempDirectory _dir = new(TempDirectory.Ext4);
    private readonly List<GatewayProcess> _processes = [];

    private string Spool(string name) => Path.Combine(_dir.Path, "spool", name);

    public void Dispose()
    {
        foreach (var process in _processes) process.Dispose();
        _dir.Dispose();
    }

    /// <param name="theWatchersNode">
    /// True: the node running the queue watcher (and the journal) dies; a survivor starts both and takes up every claim.
    /// False: another node dies, while its MessageActors wait for a spamd that never answers (only that node has one), so
    /// that it surely holds claims: the watcher's batches get no answer from them, let them go after the stage timeout,
    /// and the watcher takes their claims up as claims no node drives; the node restarts without that spamd.
    /// </param>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Should_deliver_every_message_exactly_once_when_a_node_is_killed_and_restarted(bool theWatchersNode)
    {
        const int messageCount = 300;
        var connectionString = await server.CreateDatabaseAsync();
        var ports = Enumerable.Range(0, 3).Select(_ => LoopbackPort.Free()).ToList();
        using var silentSpamd = new SilentDaemon();
        const int stuckNode = 2; // the last to join: the first seed forms the cluster and runs the watcher
        for (var node = 0; node < 3; node++)
        {
            WriteNodeConfig(node, ports, connectionString);
            if (node == stuckNode && !theWatchersNode) WriteNodeConfig(node, ports, connectionString, silentSpamd.Port, name: "stuck");
        }
        Directory.CreateDirectory(Spool("router"));
        var nodes = Enumerable.Range(0, 3).Select(n => Run(n, n == stuckNode && !theWatchersNode ? "stuck" : "node")).ToArray();
        await UntilThreeNodesUp(nodes);
        var watcherNode = Array.FindIndex(nodes, n => n.Stdout.Contains(WatcherStarted, StringComparison.Ordinal));
        var victim = theWatchersNode ? watcherNode : stuckNode;
        Assert.True(theWatchersNode || victim != watcherNode, "the node stuck on spamd runs the watcher");
        // Every node's shard region registered, or the traffic's shards all go to the nodes whose regions had.
        await AssertClusterStatus(nodes);

        var clock = Stopwatch.StartNew();
        var producer = Task.Run(() => Produce(messageCount));
        // A batch waits for its slowest member: with a node stuck on spamd, little is delivered before it dies.
        if (theWatchersNode) await Until(() => Directory.EnumerateFiles(Spool("outgoing")).Count() >= messageCount / 4, "a quarter delivered", nodes);
        else
        {
            // The stuck node's claims are the ones that stay: the others' last milliseconds. How many messages its shards
            // get depends on the shard allocation, so what is awaited is a few claims held for two seconds.
            var firstSeen = new Dictionary<string, TimeSpan>();
            await Until(() =>
            {
                var now = clock.Elapsed;
                var claims = Claims().ToHashSet();
                foreach (var gone in firstSeen.Keys.Where(claim => !claims.Contains(claim)).ToList()) firstSeen.Remove(gone);
                foreach (var claim in claims) firstSeen.TryAdd(claim, now);
                return firstSeen.Values.Count(seen => now - seen >= TimeSpan.FromSeconds(2)) >= 5;
            }, "five claims held by the stuck node for two seconds", nodes);
        }
        var claimedAtKill = Claims().Count();
        nodes[victim].KillHard();
        var killedAt = clock.Elapsed;
        var survivors = nodes.Where((_, i) => i != victim).ToArray();
        var victimLog = nodes[victim].Stdout;
        var logged = nodes.Select(n => n.Stdout.Length).ToArray();
        if (theWatchersNode)
            await Until(() => survivors.Any(n => n.Stdout.Contains(WatcherStarted, StringComparison.Ordinal)), "a survivor to take the watcher over", survivors);
        else
            await Until(() => nodes.Where((_, i) => i != victim).Any(n => n.Stdout[logged[Array.IndexOf(nodes, n)]..].Contains("Leader is removing unreachable node", StringComparison.Ordinal)),
                "the dead node to be downed", survivors);
        var takenOverAt = clock.Elapsed;

        nodes[victim] = Run(victim);
        await producer;
        await Until(() => nodes[victim].Stdout.Contains("Welcome from", StringComparison.Ordinal), "the killed node to rejoin", nodes);
        await Until(() => Directory.EnumerateFiles(Spool("outgoing")).Count() >= messageCount && !Claims().Any() &&
                          !Directory.EnumerateFiles(Spool("router")).Any(), $"every message delivered ({messageCount})", nodes);

        var seen = Directory.EnumerateFiles(Spool("outgoing")).Select(SeqHeader.OfFile).GroupBy(seq => seq).ToDictionary(g => g.Key, g => g.Count());
        var lost = Enumerable.Range(0, messageCount).Count(seq => !seen.ContainsKey(seq));
        var duplicated = seen.Values.Count(count => count > 1);
        var log = string.Concat(nodes.Select(n => n.Stdout));
        var resumed = Count(log, "resuming it");
        output.WriteLine($"lost={lost} duplicated={duplicated}; killed node {victim} (the watcher's: {theWatchersNode}) at {killedAt} with {claimedAtKill} claimed, " +
                         $"taken over at {takenOverAt}, all delivered at {clock.Elapsed}; messages resumed by another node: {resumed}, " +
                         $"claims no node drove taken up: {Count(log, "no node drives it")}");
        Assert.True(lost == 0 && duplicated == 0, $"lost={lost} duplicated={duplicated}");
        if (!theWatchersNode)
        {
            // Its MessageActors were all waiting for spamd: their claims were taken up elsewhere and resumed there.
            Assert.True(Count(log, "no node drives it") > 0 && resumed > 0, $"no claim of the dead node taken up elsewhere; its log:\n{victimLog}");
        }
        Assert.Empty(Directory.EnumerateFileSystemEntries(Spool("quarantine")));
    }

    [Fact]
    public async Task Should_let_the_node_running_the_watcher_leave_on_SIGTERM_with_exit_0_and_the_others_finish_every_message_once()
    {
        const int messageCount = 200;
        var connectionString = await server.CreateDatabaseAsync();
        var ports = Enumerable.Range(0, 3).Select(_ => LoopbackPort.Free()).ToList();
        for (var node = 0; node < 3; node++) WriteNodeConfig(node, ports, connectionString);
        Directory.CreateDirectory(Spool("router"));
        var nodes = Enumerable.Range(0, 3).Select(n => Run(n)).ToArray();
        await UntilThreeNodesUp(nodes);
        var leaving = Array.FindIndex(nodes, n => n.Stdout.Contains(WatcherStarted, StringComparison.Ordinal));
        var stayed = nodes.Where((_, i) => i != leaving).ToArray();

        var producer = Task.Run(() => Produce(messageCount));
        await Until(() => Directory.EnumerateFiles(Spool("outgoing")).Count() >= messageCount / 4, "a quarter delivered", nodes);
        nodes[leaving].Terminate();
        await ExitedAsync(nodes[leaving], "the node running the watcher to leave on SIGTERM");
        await producer;

        Assert.True(nodes[leaving].ExitCode == 0, nodes[leaving].ToString());
        Assert.Contains("Stopping: no more messages are admitted", nodes[leaving].Stdout, StringComparison.Ordinal);
        await Until(() => stayed.Any(n => n.Stdout.Contains(WatcherStarted, StringComparison.Ordinal)), "another node to run the watcher", stayed);
        await AssertEveryMessageDeliveredOnce(messageCount, stayed);
    }

    /// <summary>
    /// A node frozen (SIGSTOP) in the middle of the traffic, for longer than failure detection and <c>stable-after</c>,
    /// is downed, removed and quarantined by the others, which take its claims over; thawed, it learns from their refusal
    /// to talk to it that it was downed (<see cref="QuarantinedNodeDowning"/>) and shuts down before it can deliver
    /// anything a second time or run a watcher of its own. It must exit non-zero and say why: with exit 0,
    /// systemd's <c>Restart=on-failure</c> (deploy/systemd) would leave it down for good and the cluster one node short.
    /// Started again, it rejoins; every message is delivered exactly once.
    /// </summary>
    [Fact]
    public async Task Should_deliver_every_message_once_when_a_frozen_node_is_downed_thaws_exits_3_saying_why_and_is_started_again()
    {
        const int messageCount = 300;
        var connectionString = await server.CreateDatabaseAsync();
        var ports = Enumerable.Range(0, 3).Select(_ => LoopbackPort.Free()).ToList();
        for (var node = 0; node < 3; node++) WriteNodeConfig(node, ports, connectionString);
        Directory.CreateDirectory(Spool("router"));
        var nodes = Enumerable.Range(0, 3).Select(n => Run(n)).ToArray();
        await UntilThreeNodesUp(nodes);
        await AssertClusterStatus(nodes);
        var frozen = Array.FindIndex(nodes, n => !n.Stdout.Contains(WatcherStarted, StringComparison.Ordinal));
        var others = nodes.Where((_, i) => i != frozen).ToArray();

        var producer = Task.Run(() => Produce(messageCount));
        await Until(() => Directory.EnumerateFiles(Spool("outgoing")).Count() >= messageCount / 4, "a quarter delivered", nodes);
        var logged = others.Select(n => n.Stdout.Length).ToArray();
        nodes[frozen].Freeze();
        await Until(() => others.Select((n, i) => n.Stdout[logged[i]..]).Any(log => log.Contains($"Leader is removing unreachable node [akka.tcp://mailscanner@127.0.0.1:{ports[frozen]}]", StringComparison.Ordinal)),
            "the others to down the frozen node", others);
        // Removed and quarantined: from now on the others never talk to it, so no gossip of theirs can tell it it was
        // downed. It must learn it from their refusal, or it takes their silence for their death and carries on alone.
        await Until(() => others.Select((n, i) => n.Stdout[logged[i]..]).Any(log => log.Contains($"Association to [akka.tcp://mailscanner@127.0.0.1:{ports[frozen]}] having UID", StringComparison.Ordinal) &&
                                                                               log.Contains("is irrecoverably failed. UID is now quarantined", StringComparison.Ordinal)),
            "the others to quarantine the frozen node", others);
        nodes[frozen].Thaw();
        await ExitedAsync(nodes[frozen], "the thawed node to learn it was downed and exit");

        Assert.True(nodes[frozen].ExitCode == 3, nodes[frozen].ToString());
        Assert.Contains("has quarantined this node", nodes[frozen].Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("Singleton manager started singleton actor [akka://mailscanner/user/queue-watcher", nodes[frozen].Stdout, StringComparison.Ordinal);
        Assert.Contains("[ERR] mailscanner-actors stopped by the cluster: the other nodes downed this one (it was unreachable to them, " +
                        "or on the minority side of a network partition); they have taken its queue watcher and its messages over, " +
                        "and it must be started again to rejoin; exiting with code 3", nodes[frozen].Stdout, StringComparison.Ordinal);
        nodes[frozen] = Run(frozen);
        await producer;
        await Until(() => nodes[frozen].Stdout.Contains("Welcome from", StringComparison.Ordinal), "the downed node to rejoin", nodes);
        await AssertEveryMessageDeliveredOnce(messageCount, nodes);
    }

    [Fact]
    public async Task Should_refuse_to_start_a_cluster_node_without_a_shared_journal_with_exit_2_naming_the_key()
    {
        File.WriteAllText(Path.Combine(_dir.Path, "sqlite.conf"), $"mailscanner.cluster {{ enabled = yes, seed-nodes = [\"127.0.0.1:{LoopbackPort.Free()}\"] }}\n");

        using var node = GatewayProcess.Start(_dir.Path, "run", "--config", "sqlite.conf");
        await ExitedAsync(node, "the node to refuse its configuration");

        Assert.True(node.ExitCode == 2, node.ToString());
        Assert.Equal("mailscanner-actors: configuration error: mailscanner.journal.provider: must be postgresql when mailscanner.cluster.enabled = yes: " +
                     "every node must share one journal (got sqlite)", node.Stderr.Trim());
        Assert.False(Directory.Exists(Path.Combine(_dir.Path, "var")), "nothing is created for a configuration that is refused");
    }

    /// <summary>
    /// <c>cluster status</c> from outside the cluster: every member up and reachable, one of them running the watcher.
    /// A member that was welcomed is still Joining until the leader sees the gossip converge and moves it Up, so the
    /// command is asked again until it reports three Up members (or the patience runs out).
    /// </summary>
    private async Task AssertClusterStatus(IReadOnlyList<GatewayProcess> nodes)
    {
        await Until(() => nodes.All(n => n.Stdout.Contains("Singleton identified at", StringComparison.Ordinal)), "every node to know the watcher", nodes);
        var lastStatus = "";
        await Eventually.Holds(async () =>
        {
            using var status = GatewayProcess.Start(_dir.Path, "cluster", "status", "--config", "node-1.conf");
            using (var patience = new CancellationTokenSource(Patience)) await status.WaitForExitAsync(patience.Token);
            lastStatus = status.ToString();
            Assert.True(status.ExitCode == 0, lastStatus);
            var lines = status.Stdout.Split('\n');
            return status.Stdout.StartsWith("cluster: 3 member(s), 3 reachable", StringComparison.Ordinal) &&
                   lines.Count(line => line.Contains("  Up  ", StringComparison.Ordinal)) == 3 &&
                   lines.Count(line => System.Text.RegularExpressions.Regex.IsMatch(line, @"\s+Up\s+yes\s+scan\s+yes\s")) == 1 &&
                   lines[0].EndsWith("shard regions registered with the coordinator: 3", StringComparison.Ordinal);
        }, Patience, () => $"cluster status to show three members Up and reachable, one running the watcher, three shard regions; last answer: {lastStatus}", TimeSpan.FromMilliseconds(500));
        output.WriteLine(lastStatus);
    }

    private GatewayProcess Run(int node, string name = "node")
    {
        var process = GatewayProcess.Start(_dir.Path, "run", "--config", $"{name}-{node}.conf");
        _processes.Add(process);
        return process;
    }

    private void WriteNodeConfig(int node, IReadOnlyList<int> ports, string connectionString, int? spamdPort = null, string name = "node") =>
        File.WriteAllText(Path.Combine(_dir.Path, $"{name}-{node}.conf"), (spamdPort is { } spamd ? $"mailscanner.scanners.spamd {{ enabled = yes, address = \"127.0.0.1:{spamd}\", timeout = 60s }}\n" : "") + $$"""
            mailscanner.queue { incoming = "spool/router", outgoing = "spool/outgoing", work = "spool/work", bad = "spool/bad" }
            mailscanner.quarantine.directory = "spool/quarantine"
            mailscanner.state-directory = "state-{{node}}"
            mailscanner.metrics.enabled = no
            mailscanner.journal { provider = postgresql, connection-string = "{{connectionString}}" }
            mailscanner.cluster {
              enabled = yes
              hostname = "127.0.0.1"
              port = {{ports[node]}}
              seed-nodes = [{{string.Join(", ", ports.Select(p => $"\"127.0.0.1:{p}\""))}}]
              split-brain-resolver { stable-after = 2s, down-all-when-unstable = off }
            }
            # No rebalancing while the spec runs: a shard moved off the stuck node hands its messages back before the
            # kill, and the kill is what this spec is about.
            akka.cluster.sharding.rebalance-interval = 1h

            """);

    /// <summary>The MTA's side: messages queued one after another, as ZMailer writes them, while the gateway runs.</summary>
    private void Produce(int count)
    {
        var envelope = new Envelope("alice@example.org", ["bob@example.com"], "mx.example.org [192.0.2.1]", []);
        for (var seq = 0; seq < count; seq++)
        {
            ZMailerQueueWriter.WriteDurably(Spool("router"),
                ZMailerQueueFile.Format(envelope, Encoding.UTF8.GetBytes($"From: alice@example.org\r\nSubject: cluster\r\n\r\nX-Seq: {seq}\r\n")));
            if (seq % 10 == 9) Thread.Sleep(20);
        }
    }

    /// <summary>Up: the two that did not form the cluster were welcomed into it, one node runs the watcher, all have started.</summary>
    private Task UntilThreeNodesUp(IReadOnlyList<GatewayProcess> nodes) =>
        Until(() => nodes.Count(n => n.Stdout.Contains(WatcherStarted, StringComparison.Ordinal)) == 1 &&
                    nodes.Count(n => n.Stdout.Contains("Welcome from", StringComparison.Ordinal)) == 2 &&
                    nodes.All(n => n.Stdout.Contains("mailscanner-actors started", StringComparison.Ordinal)), "three nodes up, one watcher", nodes);

    /// <summary>Waits until the queue and the work area are empty and outgoing holds every message, then requires each exactly once.</summary>
    private async Task AssertEveryMessageDeliveredOnce(int messageCount, IReadOnlyList<GatewayProcess> watched)
    {
        await Until(() => Directory.EnumerateFiles(Spool("outgoing")).Count() >= messageCount && !Claims().Any() &&
                          !Directory.EnumerateFiles(Spool("router")).Any(), $"every message delivered ({messageCount})", watched);
        var seen = Directory.EnumerateFiles(Spool("outgoing")).Select(SeqHeader.OfFile).GroupBy(seq => seq).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(Enumerable.Range(0, messageCount), seen.Keys.Order());
        Assert.All(seen, entry => Assert.Equal(1, entry.Value));
    }

    private static async Task ExitedAsync(GatewayProcess node, string what)
    {
        using var patience = new CancellationTokenSource(Patience);
        try
        {
            await node.WaitForExitAsync(patience.Token);
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"{what}: not within {Patience.TotalSeconds:F0} s: {node}");
        }
    }

    private IEnumerable<string> Claims() =>
        Directory.EnumerateFileSystemEntries(Spool("work")).Where(p => !Path.GetFileName(p).StartsWith(SharedQueueVolume.FileName, StringComparison.Ordinal));

    private static int Count(string text, string what) => (text.Length - text.Replace(what, "", StringComparison.Ordinal).Length) / what.Length;

    private Task Until(Func<bool> condition, string what, IReadOnlyList<GatewayProcess> watched) =>
        Eventually.Holds(() =>
        {
            if (condition()) return true;
            Assert.False(watched.Any(p => p.HasExited), $"a node exited early: {string.Join("\n", watched.Where(p => p.HasExited))}");
            return false;
        }, Patience, () => $"{what}; outgoing {Directory.EnumerateFiles(Spool("outgoing")).Count()}, claimed [{string.Join(", ", Claims().Select(Path.GetFileName))}], " +
                           $"incoming [{string.Join(", ", Directory.EnumerateFiles(Spool("router")).Select(Path.GetFileName))}]: {string.Join("\n=====\n", watched.Select(p => p.ToString()))}",
            TimeSpan.FromMilliseconds(100));
}
