using System.Text.Json;
using MailScanner.Actors.Metrics;
using MailScanner.Actors.Scanning;
using MailScanner.Actors.Tests.Pipeline;
using MailScanner.Actors.Tests.TestSupport;
using Xunit;
using Xunit.Abstractions;

namespace MailScanner.Actors.Tests.Metrics;

/// <summary>
/// End to end with a real Prometheus: a gateway (clamd enabled, so the scanner panels have an engine) serves its metrics,
/// a private Prometheus scrapes it every second while mail flows through, and then every query of the shipped Grafana
/// dashboard (<c>deploy/grafana/mailscanner-actors.json</c>) is run against Prometheus's HTTP API: each must return data.
/// </summary>
[Collection(ScannerDaemonCollection.Name)]
public sealed class PrometheusDashboardSpecs(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    /// <summary>Grafana fills $__rate_interval in; a minute covers many one-second scrapes.</summary>
    private static string AsPrometheusQuery(string expr) => expr.Replace("$__rate_interval", "1m", StringComparison.Ordinal);

    public static IReadOnlyList<string> DashboardQueries()
    {
        var file = Path.Combine(RepositoryRoot(), "deploy", "grafana", "mailscanner-actors.json");
        using var dashboard = JsonDocument.Parse(File.ReadAllText(file));
        return dashboard.RootElement.GetProperty("panels").EnumerateArray()
            .SelectMany(panel => panel.GetProperty("targets").EnumerateArray())
            .Select(target => target.GetProperty("expr").GetString()!)
            .ToList();
    }

    [Fact]
    public async Task Should_answer_every_query_of_the_shipped_dashboard_with_data_from_a_real_prometheus()
    {
        using var clamd = new ClamdDaemon();
        await clamd.StartAsync();
        using var bed = new GatewayTestbed();
        var settings = bed.Settings() with
        {
            Metrics = MetricsSettings.OnFreeLoopbackPort,
            Scanners = ScannerSettings.FromConfig(Akka.Configuration.Config.Empty) is var s
                ? s with { Clamd = s.Clamd with { Enabled = true, Address = clamd.Address } } : null!,
        };
        await using var gateway = await HostedGateway.StartAsync(settings);
        var endpoint = ActorSystemMetrics.For(gateway.System).EndpointAddress ?? throw new InvalidOperationException("no metrics endpoint");
        using var prometheus = new PrometheusServer(endpoint);
        await prometheus.StartAsync();
        await Eventually.Holds(async () => (await prometheus.QueryAsync("up{job=\"mailscanner\"} == 1")).Count == 1, Patience,
            () => $"Prometheus scraping {endpoint}:\n{prometheus.Output()}", every: TimeSpan.FromMilliseconds(250));

        // Traffic in two waves a few scrapes apart, so that rates and histogram quantiles have samples on both sides.
        for (var i = 0; i < 20; i++) bed.Enqueue(i % 5 == 0 ? $"infected {i}\r\n{ClamdDaemon.Eicar}" : $"clean {i}");
        await Eventually.Holds(() => gateway.Counters.Deleted == 20, Patience, () => $"the first 20 messages finished ({gateway.Counters})");
        // A histogram's series appears with its first observation: Prometheus must hold a sample of the first wave
        // before the second comes, or rate() has nothing to compare and every quantile is NaN.
        await Eventually.Holds(async () => await ValueAsync(prometheus, "sum(mailscanner_message_latency_seconds_count)") == 20, Patience,
            "Prometheus to have scraped the first wave", every: TimeSpan.FromMilliseconds(250));
        bed.EnqueueRaw("not a queue file"u8.ToArray());
        for (var i = 0; i < 20; i++) bed.Enqueue($"second wave {i}");
        await Eventually.Holds(() => gateway.Counters.Deleted == 40, Patience, () => $"all 40 messages finished ({gateway.Counters})");

        var queries = DashboardQueries();
        Assert.True(queries.Count >= 20, $"the dashboard has {queries.Count} queries");
        var empty = queries.ToList();
        await Eventually.Holds(async () =>
        {
            var stillEmpty = new List<string>();
            foreach (var query in empty)
                if (!HasNumbers(await prometheus.QueryAsync(AsPrometheusQuery(query)))) stillEmpty.Add(query);
            empty = stillEmpty;
            return empty.Count == 0;
        }, Patience, () => $"numbers for every dashboard query; none (or NaN) yet for:\n  {string.Join("\n  ", empty)}", every: TimeSpan.FromSeconds(1));

        foreach (var query in queries)
            output.WriteLine($"{query}\n  => {string.Join(", ", (await prometheus.QueryAsync(AsPrometheusQuery(query))).Take(3))}");
        var delivered = await prometheus.QueryAsync("sum(mailscanner_messages_total{outcome=\"delivered\"})");
        Assert.Equal("40", delivered[0].GetProperty("value")[1].GetString());
        var setAside = await prometheus.QueryAsync("sum(mailscanner_messages_total{outcome=\"set_aside\"})");
        Assert.Equal("1", setAside[0].GetProperty("value")[1].GetString());
        var infected = await prometheus.QueryAsync("sum(mailscanner_verdicts_total{verdict=\"infected\"})");
        Assert.Equal("4", infected[0].GetProperty("value")[1].GetString());
    }

    /// <summary>
    /// Data an operator can read: a series with a number (a quantile over no increase is NaN; in a breakdown by actor
    /// type the idle types are NaN beside the busy ones, which is what the panel should show).
    /// </summary>
    private static bool HasNumbers(IReadOnlyList<JsonElement> series) =>
        series.Any(one => double.TryParse(one.GetProperty("value")[1].GetString(), System.Globalization.CultureInfo.InvariantCulture, out var v) && double.IsFinite(v));

    private static async Task<double?> ValueAsync(PrometheusServer prometheus, string query) =>
        await prometheus.QueryAsync(query) is [var one] && double.TryParse(one.GetProperty("value")[1].GetString(), System.Globalization.CultureInfo.InvariantCulture, out var v)
            ? v : null;

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "MailScanner.Actors.sln"))) return dir.FullName;
        throw new InvalidOperationException($"no MailScanner.Actors.sln above {AppContext.BaseDirectory}");
    }
}
