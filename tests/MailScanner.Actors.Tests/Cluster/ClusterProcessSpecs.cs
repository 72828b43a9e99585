using System.Diagnostics;
using System.Text;
using MailScanner.Actors.Cluster;
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
    /// False: another node dies; the watcher's batches get no answer from its MessageActors, let them go after the stage
    /// timeout, and the watcher takes their claims up as claims no node drives.
    /// </param>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Should_deliver_every_message_exactly_once_when_a_node_is_killed_and_restarted(bool theWatchersNode)
    {
        const int messageCount = 300;
        var connectionString = await server.CreateDatabaseAsync();
        var ports = Enumerable.Range(0, 3).Select(_ => LoopbackPort.Free()).ToList();
        for (var node = 0; node < 3; node++) WriteNodeConfig(node, ports, connectionString);
        Directory.CreateDirectory(Spool("router"));
        var nodes = Enumerable.Range(0, 3).Select(Run).ToArray();
        // Up: the two that did not form the cluster were welcomed into it.
        await Until(() => nodes.Count(n => n.Stdout.Contains(WatcherStarted, StringComparison.Ordinal)) == 1 &&
                          nodes.Count(n => n.Stdout.Contains("Welcome from", StringComparison.Ordinal)) == 2 &&
                          nodes.All(n => n.Stdout.Contains("mailscanner-actors started", StringComparison.Ordinal)), "three nodes up, one watcher", nodes);
        var watcherNode = Array.FindIndex(nodes, n => n.Stdout.Contains(WatcherStarted, StringComparison.Ordinal));
        var victim = theWatchersNode ? watcherNode : (watcherNode + 1) % 3;
        if (theWatchersNode) await AssertClusterStatus(nodes);

        var clock = Stopwatch.StartNew();
        var producer = Task.Run(() => Produce(messageCount));
        await Until(() => Directory.EnumerateFiles(Spool("outgoing")).Count() >= messageCount / 4, "a quarter delivered", nodes);
        var claimedAtKill = Claims().Count();
        nodes[victim].KillHard();
        var killedAt = clock.Elapsed;
        var survivors = nodes.Where((_, i) => i != victim).ToArray();
        if (theWatchersNode)
            await Until(() => survivors.Any(n => n.Stdout.Contains(WatcherStarted, StringComparison.Ordinal)), "a survivor to take the watcher over", survivors);
        else
            await Until(() => survivors.Any(n => n.Stdout.Contains("Leader is removing unreachable node", StringComparison.Ordinal)), "the dead node to be downed", survivors);
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
        Assert.Empty(Directory.EnumerateFileSystemEntries(Spool("quarantine")));
    }

    /// <summary><c>cluster status</c> from outside the cluster: every member up and reachable, one of them running the watcher.</summary>
    private async Task AssertClusterStatus(IReadOnlyList<GatewayProcess> nodes)
    {
        await Until(() => nodes.All(n => n.Stdout.Contains("Singleton identified at", StringComparison.Ordinal)), "every node to know the watcher", nodes);
        using var status = GatewayProcess.Start(_dir.Path, "cluster", "status", "--config", "node-1.conf");
        using (var patience = new CancellationTokenSource(Patience)) await status.WaitForExitAsync(patience.Token);
        output.WriteLine(status.Stdout);
        Assert.True(status.ExitCode == 0, status.ToString());
        Assert.StartsWith("cluster: 3 member(s), 3 reachable", status.Stdout, StringComparison.Ordinal);
        var lines = status.Stdout.Split('\n');
        Assert.Equal(3, lines.Count(line => line.Contains("  Up  ", StringComparison.Ordinal)));
        Assert.Single(lines, line => System.Text.RegularExpressions.Regex.IsMatch(line, @"\s+Up\s+yes\s+scan\s+yes\s"));
    }

    private GatewayProcess Run(int node)
    {
        var process = GatewayProcess.Start(_dir.Path, "run", "--config", $"node-{node}.conf");
        _processes.Add(process);
        return process;
    }

    private void WriteNodeConfig(int node, IReadOnlyList<int> ports, string connectionString) =>
        File.WriteAllText(Path.Combine(_dir.Path, $"node-{node}.conf"), $$"""
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
