using System.Diagnostics;
using System.Globalization;

namespace MailScanner.Actors.CrashHarness;

/// <summary>
/// Issue 15's crash test: several real <c>mailscanner-actors run</c> processes clustered on one queue (ext4, inodes
/// reused at once) and one private PostgreSQL journal, while the producer writes <see cref="CrashHarnessOptions.Messages"/>
/// messages. Spread over that time, a node is killed with SIGKILL (every other kill the one running the queue watcher),
/// the others must down it and take its work over, and it is started again and must rejoin; optionally the PostgreSQL
/// server is stopped for a while halfway. Then the cluster drains, every node is stopped with SIGTERM, and the census
/// is the one of the one-process run: each message delivered exactly once (or quarantined), nothing left behind.
/// With one unclustered node (<see cref="CrashHarnessOptions.PostgreSql"/>) the same run checks the single gateway on
/// PostgreSQL. The takeovers are read from the nodes' own logs and reported one line per kill.
/// </summary>
public static class FleetRunner
{
    private const string Started = "mailscanner-actors started";
    private const string Welcomed = "Welcome from";
    private const string Downed = "Leader is removing unreachable node";
    /// <summary>A node's singleton managers start once the node sees itself Up: logged by every node, leader or not.</summary>
    private const string SeesItselfUp = "ClusterSingletonManager state change [Start -> ";
    private const string WatcherStarted = "Singleton manager started singleton actor [akka://mailscanner/user/queue-watcher/queue-watcher]";
    private const string Resuming = "resuming it";
    private const string NoNodeDrivesIt = "no node drives it";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(120);
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(100);

    public static async Task<CrashReport> RunAsync(CrashHarnessOptions options, Action<string> progress, CancellationToken cancel = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(options.Kills);
        var gateway = GatewayLocation.Find(options.Gateway);
        var area = HarnessArea.Create(options.Parent, options.Seed, options.Format);
        var run = new Fleet(options, gateway, area, progress);
        try
        {
            var report = await run.RunAsync(cancel);
            return options.Keep ? report with { KeptArea = area.Root } : report;
        }
        finally
        {
            run.Dispose();
            if (!options.Keep) area.Dispose();
        }
    }

    /// <summary>One node: its configuration and its current life (a new one after each kill).</summary>
    private sealed class Node(int index, string config, int? port)
    {
        public int Index { get; } = index;
        public string Config { get; } = config;
        /// <summary>Its cluster port; null unclustered.</summary>
        public int? Port { get; } = port;
        public GatewayLife? Life { get; set; }
        public int Lives { get; set; }
        /// <summary>Killed by the harness and not started again yet: its life's end is no failure.</summary>
        public bool Killed { get; set; }
        public string Name => $"n{Index}";
        public bool Alive => Life is { HasExited: false };
        public bool Logged(string text, int since = 0) => Life is { } life && life.LinesSince(since).Any(l => l.Contains(text, StringComparison.Ordinal));
    }

    /// <summary>Where each node's log stood at a moment of the run, to read what they logged after it.</summary>
    private sealed record Marks(IReadOnlyList<(GatewayLife Life, int Line)> Lines)
    {
        public IEnumerable<string> Since() => Lines.SelectMany(m => m.Life.LinesSince(m.Line));
    }

    private sealed class Fleet(CrashHarnessOptions options, GatewayLocation gateway, HarnessArea area, Action<string> progress) : IDisposable
    {
        private readonly Random _random = new(options.Seed);
        private readonly List<string> _problems = [];
        private readonly List<string> _events = [];
        private readonly Stopwatch _clock = new();
        private readonly GatewayLog _log = new(area.LogFile);
        private readonly bool _clustered = options.ClusterNodes > 0;
        private PrivatePostgres? _postgres;
        private Node[] _nodes = [];
        private int _takeovers;

        private string At => string.Create(CultureInfo.InvariantCulture, $"{_clock.Elapsed.TotalSeconds:F1} s");

        public async Task<CrashReport> RunAsync(CancellationToken cancel)
        {
            _clock.Start();
            var nodeCount = Math.Max(1, options.ClusterNodes);
            progress($"crash harness: {(_clustered ? $"{nodeCount} clustered nodes" : "one node")} on PostgreSQL, {options.Format} queue, {options.Messages} messages " +
                     $"at {options.MessagesPerSecond} msg/s, {options.Kills} kills, seed {options.Seed}, gateway {gateway.Dll}, area {area.Root}");
            _postgres = await PrivatePostgres.StartNewAsync(Path.Combine(area.Root, "postgresql"), LoopbackPort.Free(), cancel);
            var database = await _postgres.CreateDatabaseAsync();
            var ports = _clustered ? Enumerable.Range(0, nodeCount).Select(_ => LoopbackPort.Free()).ToList() : null;
            _nodes = Enumerable.Range(0, nodeCount).Select(n => new Node(n, area.WriteNodeConfig(n, database, ports), ports?[n])).ToArray();
            foreach (var node in _nodes) Start(node);
            await UntilAsync(() => _nodes.All(n => n.Logged(Started)) &&
                                   (!_clustered || (_nodes.Count(n => n.Logged(WatcherStarted)) == 1 && _nodes.Count(n => n.Logged(Welcomed)) == nodeCount - 1)),
                "every node up" + (_clustered ? ", in one cluster, one of them running the watcher" : ""), cancel);
            progress($"  {At}: {nodeCount} node(s) up");

            var producer = new Producer(area.Queue, options.MessagesPerSecond, options.InfectedEvery);
            var killPhase = Stopwatch.StartNew();
            producer.Limit(options.Messages);
            producer.Start(cancel);
            int produced, kills = 0;
            try
            {
                foreach (var (when, what) in Schedule())
                {
                    var wait = when - killPhase.Elapsed;
                    if (wait > TimeSpan.Zero) await Task.Delay(wait, cancel);
                    if (what < 0) await PostgresOutageAsync(options.PostgresOutage!.Value, cancel);
                    else if (await KillAndRestartAsync(what + 1, producer, cancel)) kills++;
                }
            }
            finally
            {
                produced = await producer.StopAsync(cancel.IsCancellationRequested ? 0 : options.Messages);
            }
            var killPhaseTook = killPhase.Elapsed;
            progress($"  {At}: producer stopped at {produced} messages; draining");

            var drainClock = Stopwatch.StartNew();
            if (await CrashRunner.AwaitDrainAsync(area, produced, Exited, options, cancel) is { } drainProblem)
                _problems.Add($"{drainProblem}:{Environment.NewLine}{_log.Tail()}");
            var drain = drainClock.Elapsed;
            CloseKillWindow();
            var stops = await Task.WhenAll(_nodes.Where(n => n.Life is not null).Select(n => n.Life!.StopAsync(options.StopGrace)));
            _problems.AddRange(stops.OfType<string>().Select(p => $"{p}:{Environment.NewLine}{_log.Tail()}"));
            ReportOutage();

            var census = Census.Take(area, produced);
            var resumed = _allLives.Sum(life => life.LinesSince(0).Count(l => l.Contains(Resuming, StringComparison.Ordinal)));
            return CrashReport.Of(census, options.Seed, kills, produced, _problems, killPhaseTook, drain, _clock.Elapsed) with
            {
                Nodes = nodeCount,
                Takeovers = _takeovers,
                Resumed = resumed,
                Events = _events,
            };
        }

        /// <summary>
        /// When each kill (node index ≥ 0 is only a counter here) and the outage (−1) happen, from the producer's start:
        /// the kills spread evenly over the production time, the outage halfway.
        /// </summary>
        private IEnumerable<(TimeSpan When, int What)> Schedule()
        {
            var production = TimeSpan.FromSeconds(options.Messages / options.MessagesPerSecond);
            var events = Enumerable.Range(1, options.Kills).Select(k => (production * k / (options.Kills + 1), k - 1)).ToList();
            if (options.PostgresOutage is not null) events.Add((production / 2, -1));
            return events.OrderBy(e => e.Item1);
        }

        private readonly List<GatewayLife> _allLives = [];

        private void Start(Node node)
        {
            node.Lives++;
            node.Killed = false;
            node.Life = GatewayLife.Start(gateway, area.Root, node.Config, _log, $"{node.Name}.{node.Lives}");
            _allLives.Add(node.Life);
        }

        /// <summary>The kill whose takeover is being watched: what it was, and where every log stood when it came.</summary>
        private (string Line, Marks Marks, Node Victim)? _openKill;

        /// <summary>
        /// SIGKILLs one node: an odd-numbered kill the node running the queue watcher, an even-numbered one another
        /// (chosen by the seed). Clustered, the others must down it (and start the watcher, if it was there); then it is
        /// started again and must be welcomed back and moved Up. False when there was nothing to kill (it had exited by itself).
        /// </summary>
        private async Task<bool> KillAndRestartAsync(int kill, Producer producer, CancellationToken cancel)
        {
            CloseKillWindow();
            var watcher = _nodes.FirstOrDefault(n => n.Alive && n.Logged(WatcherStarted));
            var others = _nodes.Where(n => n != watcher).ToList();
            var victim = kill % 2 == 1 || others.Count == 0 ? watcher ?? _nodes[0] : others[_random.Next(others.Count)];
            var ranWatcher = victim == watcher;
            var claims = Census.CountEntries(area.Work);
            var marks = MarkAll();
            var killedAt = _clock.Elapsed;
            victim.Killed = true;
            var wasRunning = await victim.Life!.KillAsync();
            if (!wasRunning) _problems.Add($"kill {kill}: {victim.Name} had exited by itself with code {victim.Life.ExitCode}:{Environment.NewLine}{_log.Tail()}");
            var line = string.Create(CultureInfo.InvariantCulture,
                $"kill {kill} at {killedAt.TotalSeconds:F1} s: {victim.Name}{(ranWatcher && _clustered ? " (running the watcher and the journal)" : "")} SIGKILLed, " +
                $"{claims} claims in the work area, {producer.Produced} produced, {Census.CountEntries(area.Outgoing)} in outgoing");
            var tookOver = true;
            if (_clustered)
            {
                var survivors = _nodes.Where(n => n != victim).ToList();
                var downed = await UntilAsync(() => marks.Since().Any(l => l.Contains(Downed, StringComparison.Ordinal)), $"kill {kill}: the others to down {victim.Name}", cancel);
                line += downed ? string.Create(CultureInfo.InvariantCulture, $"; downed by the others after {(_clock.Elapsed - killedAt).TotalSeconds:F1} s") : "; NOT downed";
                tookOver &= downed;
                if (ranWatcher)
                {
                    var moved = await UntilAsync(() => survivors.Any(n => n.Alive && n.Logged(WatcherStarted, marks.Lines.First(m => m.Life == n.Life).Line)),
                        $"kill {kill}: a survivor to start the watcher", cancel);
                    var heir = survivors.FirstOrDefault(n => n.Alive && n.Logged(WatcherStarted, marks.Lines.First(m => m.Life == n.Life).Line));
                    line += moved ? string.Create(CultureInfo.InvariantCulture, $"; watcher started on {heir?.Name} after {(_clock.Elapsed - killedAt).TotalSeconds:F1} s") : "; watcher NOT started elsewhere";
                    tookOver &= moved;
                }
            }
            Start(victim);
            // Rejoined means Up, not only welcomed: a member still Joining does not count for the resolver's majority, so
            // the next kill in that window would leave one Up node against one and down the side without the lowest
            // address, survivors included: a second failure before the first is over, which keep-majority cannot survive.
            // Up as the leader moved it and as the node itself sees it: in one run the next kill came the moment the leader
            // moved it Up, and both it and the leader went down (no full logs kept; a node that does not yet see itself
            // Up counts the majority without itself).
            var back = await UntilAsync(() => victim.Logged(Started) && (!_clustered || victim.Logged(Welcomed) && MovedUp(victim, marks) && victim.Logged(SeesItselfUp)),
                $"kill {kill}: {victim.Name} to start again" + (_clustered ? " and be moved Up" : ""), cancel);
            line += back ? string.Create(CultureInfo.InvariantCulture, $"; {victim.Name} {(_clustered ? "rejoined (Up)" : "running again")} after {(_clock.Elapsed - killedAt).TotalSeconds:F1} s") : "; did NOT come back";
            if (tookOver && back) _takeovers++;
            _openKill = (line, marks, victim);
            return wasRunning;
        }

        /// <summary>Whether a leader logged, since <paramref name="marks"/>, that it moved <paramref name="node"/>'s new life to Up.</summary>
        private static bool MovedUp(Node node, Marks marks)
        {
            var movedUp = $"Leader is moving node [akka.tcp://mailscanner@127.0.0.1:{node.Port}] to [Up]";
            return marks.Since().Concat(node.Life!.LinesSince(0)).Any(l => l.Contains(movedUp, StringComparison.Ordinal));
        }

        /// <summary>Ends the watch of the last kill's takeover: what the nodes logged about the dead node's messages since it.</summary>
        private void CloseKillWindow()
        {
            if (_openKill is not { } open) return;
            _openKill = null;
            var logged = open.Marks.Since().Concat(open.Victim.Life is { } now && !open.Marks.Lines.Any(m => m.Life == now) ? now.LinesSince(0) : []).ToList();
            var line = $"{open.Line}; until the next kill: {logged.Count(l => l.Contains(Resuming, StringComparison.Ordinal))} claimed messages resumed, " +
                       $"{logged.Count(l => l.Contains(NoNodeDrivesIt, StringComparison.Ordinal))} claims no node drove taken over";
            _events.Add(line);
            progress($"  {line}");
        }

        private (Marks Marks, TimeSpan At, int Outgoing, TimeSpan? ResumedAfter)? _outage;

        /// <summary>Stops the PostgreSQL server for <paramref name="outage"/> (pg_ctl stop, fast) and starts it again; the gateway must carry on by itself.</summary>
        private async Task PostgresOutageAsync(TimeSpan outage, CancellationToken cancel)
        {
            var marks = MarkAll();
            var stoppedAt = _clock.Elapsed;
            _postgres!.Stop();
            progress($"  {At}: PostgreSQL stopped for {outage.TotalSeconds:F0} s");
            await Task.Delay(outage, cancel);
            await _postgres.StartAsync(cancel);
            var startedAt = _clock.Elapsed;
            var outgoing = Census.CountEntries(area.Outgoing);
            progress($"  {At}: PostgreSQL started again, {outgoing} in outgoing");
            var resumed = await UntilAsync(() => Census.CountEntries(area.Outgoing) > outgoing, "deliveries to go on after PostgreSQL started again", cancel);
            _outage = (marks, stoppedAt, outgoing, resumed ? _clock.Elapsed - startedAt : null);
        }

        /// <summary>What the nodes' logs said about the outage: the operator must read that the journal was unavailable, and that it recovered.</summary>
        private void ReportOutage()
        {
            if (_outage is not { } outage) return;
            var logged = outage.Marks.Since().Concat(_allLives.Where(l => !outage.Marks.Lines.Any(m => m.Life == l)).SelectMany(l => l.LinesSince(0))).ToList();
            var unavailable = logged.FirstOrDefault(l => l.Contains("journal", StringComparison.OrdinalIgnoreCase) && l.Contains("unavailable", StringComparison.Ordinal));
            var recovered = logged.FirstOrDefault(l => l.Contains("journal", StringComparison.OrdinalIgnoreCase) && l.Contains("available again after", StringComparison.Ordinal));
            var went = outage.ResumedAfter is { } after
                ? string.Create(CultureInfo.InvariantCulture, $"{after.TotalSeconds:F1} s after it started again")
                : "NOT within the patience";
            _events.Add(string.Create(CultureInfo.InvariantCulture,
                $"PostgreSQL stopped at {outage.At.TotalSeconds:F1} s for {options.PostgresOutage!.Value.TotalSeconds:F0} s; deliveries went on {went} by themselves"));
            _events.Add($"  the log said: {unavailable ?? "NOTHING about the journal being unavailable"}");
            _events.Add($"  the log said: {recovered ?? "NOTHING about the journal having recovered"}");
            if (outage.ResumedAfter is null) _problems.Add("deliveries did not go on after PostgreSQL started again");
            if (unavailable is null) _problems.Add("no node logged that the journal was unavailable during the PostgreSQL outage");
            if (recovered is null) _problems.Add("no node logged that the journal recovered after the PostgreSQL outage");
        }

        private Marks MarkAll() => new(_nodes.Where(n => n.Life is not null).Select(n => (n.Life!, n.Life!.LineCount)).ToList());

        private string? Exited() =>
            _nodes.FirstOrDefault(n => !n.Killed && n.Life is { HasExited: true }) is { } gone ? $"{gone.Name} exited by itself with code {gone.Life!.ExitCode} while draining" : null;

        /// <summary>Polls <paramref name="condition"/> until it holds (true) or the patience or a node runs out (false, and a problem).</summary>
        private async Task<bool> UntilAsync(Func<bool> condition, string what, CancellationToken cancel)
        {
            var patience = Stopwatch.StartNew();
            while (!condition())
            {
                var exited = Exited();
                if (patience.Elapsed > Patience || exited is not null)
                {
                    _problems.Add($"{what}: {exited ?? $"not within {Patience.TotalSeconds:F0} s"}:{Environment.NewLine}{_log.Tail()}");
                    return false;
                }
                await Task.Delay(PollInterval, cancel);
            }
            return true;
        }

        public void Dispose()
        {
            foreach (var life in _allLives) life.Dispose();
            _postgres?.Dispose();
            _log.Dispose();
        }
    }
}
