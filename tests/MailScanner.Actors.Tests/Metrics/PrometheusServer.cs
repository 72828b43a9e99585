using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using MailScanner.Actors.CrashHarness;
using MailScanner.Actors.Tests.TestSupport;

namespace MailScanner.Actors.Tests.Metrics;

/// <summary>
/// A private Prometheus (Debian's <c>prometheus</c>): its own configuration and data directory, on loopback and a free port,
/// scraping one target every second. Started and stopped like the scanner daemons.
/// </summary>
public sealed class PrometheusServer : ScannerDaemon
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(10) };

    private readonly string _configFile;

    public PrometheusServer(Uri target) : base("prometheus")
    {
        Port = LoopbackPort.Free();
        _configFile = WriteFile(Path.Combine(Directory, "prometheus.yml"), $"""
            global:
              scrape_interval: 1s
              evaluation_interval: 1s
            scrape_configs:
              - job_name: mailscanner
                scrape_interval: 1s
                static_configs:
                  - targets: ["{target.Authority}"]
            """ + "\n");
    }

    public int Port { get; }
    public Uri Address => new($"http://127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}/");

    protected override ProcessStartInfo StartInfo() => new("prometheus",
    [
        $"--config.file={_configFile}",
        $"--storage.tsdb.path={Path.Combine(Directory, "data")}",
        $"--web.listen-address=127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}",
        "--log.level=warn",
    ]);

    protected override async Task PingAsync(CancellationToken cancellationToken) =>
        (await Http.GetAsync(new Uri(Address, "-/ready"), cancellationToken)).EnsureSuccessStatusCode();

    /// <summary>An instant query through the HTTP API: the series of its result (empty when there is no data).</summary>
    public async Task<IReadOnlyList<JsonElement>> QueryAsync(string promql)
    {
        var response = await Http.GetFromJsonAsync<JsonElement>(new Uri(Address, $"api/v1/query?query={Uri.EscapeDataString(promql)}"));
        if (response.GetProperty("status").GetString() != "success")
            throw new InvalidOperationException($"Prometheus refused {promql}: {response}");
        var data = response.GetProperty("data");
        return data.GetProperty("resultType").GetString() is "vector" or "matrix"
            ? data.GetProperty("result").EnumerateArray().ToList()
            : [data.GetProperty("result")];
    }
}
