using MailScanner.Actors.CrashHarness;
using MailScanner.Actors.Tests.TestSupport;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace MailScanner.Actors.Bench;

/// <param name="Nodes">Gateway processes on the queue; <see cref="Clustered"/> says whether they formed a cluster.</param>
/// <param name="CoresEach">The CPU share each process was held to (null: not held, the whole machine).</param>
/// <param name="Cpu">The CPU time all nodes together used from the first message in until the queue was drained (start-up excluded).</param>
internal sealed record ClusterThroughputResult(string Label, int Nodes, bool Clustered, double? CoresEach, int Messages, TimeSpan Elapsed, TimeSpan Cpu, DeliveryCheck Check)
{
    public double PerSecond => Messages / Elapsed.TotalSeconds;
    public double CpuMillisecondsPerMessage => Cpu.TotalMilliseconds / Messages;
}

/// <summary>
/// (i) What clustering costs: the same backlog through one gateway without clustering, and through 1, 2 and 3
/// clustered gateways (one shared queue, one PostgreSQL journal), each held to its share of the CPUs by a cgroup so
/// that the nodes together never have more than the machine. The nodes are started on an empty queue and waited for
/// until they form the cluster. They first drain a warm-up backlog, unmeasured (<see cref="BenchOptions.ClusterWarmUp"/> for each node),
/// and are given a moment to finish compiling what it made hot; then the measured backlog, written beforehand into a
/// directory beside the queue, is moved into the queue by renames (a few milliseconds), and the clock runs from the
/// first rename until incoming and work are empty and every message is in outgoing. Every message, warm-up included,
/// must be there exactly once.
/// </summary>
/// <remarks>
/// Why warm: a gateway runs for days, and what clustering costs is what it costs then. A process that has just started
/// spends a third of its CPU in the JIT for its first few thousand messages, and three processes on one machine each
/// pay that once: measured cold, (i3) compared three warm-ups on two thirds of a core each with one on two cores, and
/// the node holding the singletons, which has the most code to compile, ran 40 % in the JIT while the others waited.
/// The warm-up is per node for the same reason: with 3,000 messages shared by three nodes, each saw a thousand, and
/// perf still put 13–17 % of every (i3) node's CPU in the JIT during the measured backlog.
/// </remarks>
internal sealed class ClusterThroughputMeasurement(
    BenchWorkspace workspace, Func<int, QueueMessage> messageFor, int count, string gatewayDll, BenchOptions options)
{
    private static readonly TimeSpan StartPatience = TimeSpan.FromSeconds(120);

    /// <param name="nodes">How many gateway processes.</param>
    /// <param name="clustered">Whether they form a cluster (otherwise: one node, no cluster).</param>
    /// <param name="journal">The PostgreSQL database's connection string, or null for the SQLite journal (one node only).</param>
    /// <param name="coresEach">The share of the CPUs each node is held to, or null for none.</param>
    public async Task<ClusterThroughputResult> RunAsync(string label, int nodes, bool clustered, string? journal, double? coresEach, CancellationToken cancel)
    {
        // One area per run: with --keep nothing is removed, and a run on another's outgoing queue would count its copies as duplicates.
        var area = workspace.NewArea($"cluster-{nodes}{(clustered ? "" : "-unclustered")}{(journal is null ? "-sqlite" : "")}");
        var gateways = new List<GatewayProcess>();
        var quotas = new List<CpuQuota>();
        try
        {
            var directories = GatewayDirectories.CreateUnder(area);
            // Per node: each node of (i3) drains as many warm-up messages as the one node of (i0) does.
            var warmUp = options.ClusterWarmUp * nodes;
            var warmUpStaging = Directory.CreateDirectory(Path.Combine(area, "staging-warm-up")).FullName;
            var staging = Directory.CreateDirectory(Path.Combine(area, "staging")).FullName;
            if (warmUp > 0) Backlog.Write(warmUpStaging, warmUp, messageFor, cancel);
            var backlog = Backlog.Write(staging, count, messageFor, cancel, first: warmUp);
            Console.WriteLine($"  backlog: {backlog.Describe()}, staged beside the queue{(warmUp > 0 ? $" after {warmUp} warm-up messages" : "")}");

            var ports = Enumerable.Range(0, nodes).Select(_ => LoopbackPort.Free()).ToList();
            for (var node = 0; node < nodes; node++)
            {
                var nodeArea = Path.Combine(area, $"node-{node}");
                Directory.CreateDirectory(nodeArea);
                var gateway = GatewayProcess.Start(gatewayDll, directories, options.Coordinators, nodeArea, NodeHocon(nodeArea, journal, clustered ? ports : null, node));
                gateways.Add(gateway);
                if (coresEach is { } cores)
                {
                    var quota = CpuQuota.Create($"{nodes}-{node}", cores);
                    quotas.Add(quota);
                    quota.Hold(gateway.Pid);
                }
            }
            await WaitUntilUpAsync(gateways, clustered, cancel);
            if (clustered) await WaitUntilSpreadAsync(gateways, nodes * (options.Coordinators ?? DefaultCoordinators), cancel);
            if (warmUp > 0)
            {
                var settled = await WarmUp.DrainUnmeasuredAsync(gateways, directories, warmUpStaging, warmUp, options.StallTimeout, cancel);
                Console.WriteLine($"  warm-up: {warmUp} messages drained; the nodes settled after {settled.TotalSeconds:F1} s");
            }

            var drained = await WarmUp.TimedDrainAsync(gateways, directories, staging, warmUp + count, options.StallTimeout, cancel);
            if (nodes > 1) Console.WriteLine($"  CPU of each node while draining: {string.Join(", ", drained.CpuEach.Select(c => $"{c.TotalSeconds:F1} s"))}");
            foreach (var quota in quotas) Console.WriteLine($"  node held to {quota.Cores:F2} cores: {quota.Throttling()}");
            foreach (var stop in await Task.WhenAll(gateways.Select(g => g.StopAsync())))
                if (!stop.Contains("cleanly", StringComparison.Ordinal)) Console.WriteLine($"  note: {stop}");
            return new ClusterThroughputResult(label, nodes, clustered, coresEach, count, drained.Elapsed, drained.Cpu,
                DeliveryCheck.Run(warmUp + count, directories.Outgoing, directories.Elsewhere, directories.Quarantine));
        }
        finally
        {
            foreach (var gateway in gateways) await gateway.DisposeAsync();
            foreach (var quota in quotas) quota.Dispose();
            workspace.Release(area);
        }
    }

    /// <summary>The node's own state directory, the journal and, clustered, its place in a loopback cluster of every node.</summary>
    private static string NodeHocon(string nodeArea, string? journal, IReadOnlyList<int>? ports, int node)
    {
        static string Quote(string text) => JsonSerializer.Serialize(text);
        var hocon = $"mailscanner.state-directory = {Quote(Path.Combine(nodeArea, "state"))}\n";
        if (journal is not null) hocon += $"mailscanner.journal {{ provider = postgresql, connection-string = {Quote(journal)} }}\n";
        if (ports is not null)
        {
            hocon += string.Create(CultureInfo.InvariantCulture, $$"""
                mailscanner.cluster {
                  enabled = yes
                  hostname = "127.0.0.1"
                  port = {{ports[node]}}
                  seed-nodes = [{{string.Join(", ", ports.Select(p => $"\"127.0.0.1:{p}\""))}}]
                }

                """);
        }
        return hocon;
    }

    /// <summary>
    /// Clustered: until every node's batch coordinators have registered with the watcher (it logs "registered (N in
    /// all)"), and then <see cref="ShardRegionsSettle"/>. Otherwise the backlog arrives while only the first node's shard
    /// region is known to the shard coordinator, which then gives it every shard, and the run measures one node.
    /// </summary>
    private static async Task WaitUntilSpreadAsync(IReadOnlyList<GatewayProcess> gateways, int coordinators, CancellationToken cancel)
    {
        var patience = Stopwatch.StartNew();
        while (!gateways.Any(g => g.HasLogged($"registered ({coordinators} in all)")))
        {
            foreach (var gateway in gateways) gateway.EnsureRunning();
            if (patience.Elapsed > StartPatience)
                throw new BenchFailure($"the {coordinators} batch coordinators did not all register within {StartPatience.TotalSeconds:F0} s: {gateways[0].Tail()}");
            await Task.Delay(100, cancel);
        }
        await Task.Delay(ShardRegionsSettle, cancel);
    }

    /// <summary>Each node's batch coordinators when <c>--coordinators</c> is not given: the gateway's default.</summary>
    private static int DefaultCoordinators => MailScanner.Actors.Configuration.GatewaySettingsLoader.Load(null, Path.GetTempPath()).Batch.Coordinators;

    /// <summary>
    /// The shard regions register with the shard coordinator on their own, retrying every
    /// <c>akka.cluster.sharding.retry-interval</c> (2 s): by one and a half of those after the coordinators, they have.
    /// </summary>
    private static readonly TimeSpan ShardRegionsSettle = TimeSpan.FromSeconds(3);

    /// <summary>Until every gateway has started and, clustered, all are in one cluster with the watcher running; also for (x).</summary>
    internal static async Task WaitUntilUpAsync(IReadOnlyList<GatewayProcess> gateways, bool clustered, CancellationToken cancel)
    {
        var patience = Stopwatch.StartNew();
        while (!(gateways.All(g => g.HasLogged("mailscanner-actors started")) &&
                 (!clustered || (gateways.Count(g => g.HasLogged("Welcome from")) == gateways.Count - 1 &&
                                 gateways.Any(g => g.HasLogged("Singleton manager started singleton actor [akka://mailscanner/user/queue-watcher"))))))
        {
            foreach (var gateway in gateways) gateway.EnsureRunning();
            if (patience.Elapsed > StartPatience)
                throw new BenchFailure($"the nodes were not up{(clustered ? " in one cluster" : "")} within {StartPatience.TotalSeconds:F0} s: {gateways[0].Tail()}");
            await Task.Delay(100, cancel);
        }
    }
}
