using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using MailScanner.Actors.Configuration;
using MailScanner.Actors.Metrics;
using MailScanner.Actors.Tests.Pipeline;
using MailScanner.Actors.Tests.TestSupport;
using Xunit;

namespace MailScanner.Actors.Tests.Metrics;

/// <summary>The one HTTP endpoint: what it answers, what it refuses, readiness, and clients that misbehave.</summary>
public sealed class ObservabilityEndpointSpecs : IDisposable
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(10) };
    private readonly GatewayTestbed _bed = new();

    public void Dispose() => _bed.Dispose();

    [Fact]
    public async Task Should_answer_get_and_head_and_refuse_every_other_method()
    {
        var (gateway, endpoint) = await MetricsGateway.StartAsync(_bed.Settings());
        await using var _ = gateway;

        foreach (var path in new[] { "/", "/metrics", "/health/live", "/health/ready", "/status.json" })
        {
            using var get = await Http.GetAsync(new Uri(endpoint, path));
            Assert.Equal(HttpStatusCode.OK, get.StatusCode);
            Assert.NotEmpty(await get.Content.ReadAsByteArrayAsync());
            using var head = await Http.SendAsync(new HttpRequestMessage(HttpMethod.Head, new Uri(endpoint, path)));
            Assert.Equal(HttpStatusCode.OK, head.StatusCode);
            Assert.Empty(await head.Content.ReadAsByteArrayAsync());
            foreach (var method in new[] { HttpMethod.Post, HttpMethod.Put, HttpMethod.Delete, HttpMethod.Options, HttpMethod.Patch })
            {
                using var refused = await Http.SendAsync(new HttpRequestMessage(method, new Uri(endpoint, path)) { Content = new StringContent("x") });
                Assert.Equal(HttpStatusCode.MethodNotAllowed, refused.StatusCode);
                Assert.Equal("GET, HEAD", string.Join(", ", refused.Content.Headers.Allow));
            }
        }
        using var unknown = await Http.GetAsync(new Uri(endpoint, "/no-such-page"));
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Should_show_the_addresses_of_the_last_outcomes_only_when_the_operator_turns_them_on(bool turnedOn)
    {
        var (gateway, endpoint) = await MetricsGateway.StartAsync(_bed.Settings(),
            metrics: MetricsSettings.OnFreeLoopbackPort with { StatusPageAddresses = turnedOn });
        await using var _ = gateway;

        _bed.Enqueue("hello", "carol@example.org", "dave@example.com", "erin@example.net");

        JsonElement? last = null;
        await Eventually.Holds(async () =>
        {
            using var status = JsonDocument.Parse(await Http.GetStringAsync(new Uri(endpoint, "/status.json")));
            last = status.RootElement.GetProperty("recent").EnumerateArray().Select(r => (JsonElement?)r.Clone()).FirstOrDefault();
            return last is not null;
        }, TimeSpan.FromSeconds(20), "the message among the last outcomes");

        var shown = last!.Value;
        Assert.Equal("clean", shown.GetProperty("verdict").GetString());
        if (turnedOn)
        {
            Assert.Equal("carol@example.org", shown.GetProperty("from").GetString());
            Assert.Equal(["dave@example.com", "erin@example.net"], shown.GetProperty("to").EnumerateArray().Select(a => a.GetString()));
        }
        else
        {
            Assert.Equal(JsonValueKind.Null, shown.GetProperty("from").ValueKind);
            Assert.Equal(JsonValueKind.Null, shown.GetProperty("to").ValueKind);
            Assert.False(GatewaySettingsLoader.Load(null, _bed.State).Metrics.StatusPageAddresses, "off by default");
        }
    }

    [Fact]
    public async Task Should_bind_loopback_unless_told_otherwise()
    {
        var (gateway, endpoint) = await MetricsGateway.StartAsync(_bed.Settings());
        await using var _ = gateway;

        Assert.Equal("127.0.0.1", endpoint.Host);
        Assert.Equal(IPAddress.Loopback, GatewaySettingsLoader.Load(null, _bed.State).Metrics.Host);
    }

    [Fact]
    public async Task Should_say_ready_when_every_check_passes_and_name_what_is_not()
    {
        var (gateway, endpoint) = await MetricsGateway.StartAsync(_bed.Settings());
        await using var _ = gateway;

        await UntilReadyAsync(endpoint);
        var (_, ready) = await ReadyAsync(endpoint);
        Assert.Equal("ready", ready.GetProperty("status").GetString());
        var checks = ready.GetProperty("checks").EnumerateArray().Select(c => c.GetProperty("check").GetString()).ToList();
        Assert.Equal(["actor-system", "journal", "queue.incoming", "queue.work", "queue.bad", "queue.outgoing", "quarantine"], checks);

        Directory.Delete(_bed.Outgoing);

        // Answers are reused for a second at most (a client polling hard adds no load): the next one says it.
        await Eventually.Holds(async () => (await ReadyAsync(endpoint)).Status == HttpStatusCode.ServiceUnavailable,
            TimeSpan.FromSeconds(10), "not ready once the outgoing queue is gone");
        var (_, notReady) = await ReadyAsync(endpoint);
        Assert.Equal("not ready", notReady.GetProperty("status").GetString());
        var why = Assert.Single(notReady.GetProperty("notReady").EnumerateArray());
        Assert.Equal("queue.outgoing", why.GetProperty("check").GetString());
        Assert.Contains(_bed.Outgoing, why.GetProperty("why").GetString());
    }

    [Fact]
    public async Task Should_not_be_ready_while_an_enabled_scanner_is_unhealthy()
    {
        var (gateway, endpoint) = await MetricsGateway.StartAsync(_bed.Settings().WithUnreachableClamd(unhealthyAfterFailures: 1), hocon: "akka.loglevel = OFF");
        await using var _ = gateway;
        await UntilReadyAsync(endpoint);

        _bed.Enqueue("clamd cannot be reached for this one");

        await Eventually.Holds(async () => (await ReadyAsync(endpoint)).Status == HttpStatusCode.ServiceUnavailable,
            TimeSpan.FromSeconds(20), "not ready once clamd is unhealthy");
        var why = Assert.Single((await ReadyAsync(endpoint)).Body.GetProperty("notReady").EnumerateArray());
        Assert.Equal("scanner.clamd", why.GetProperty("check").GetString());
    }

    [Fact]
    public async Task Should_refuse_to_start_naming_the_port_when_it_is_taken()
    {
        var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        try
        {
            var port = ((IPEndPoint)taken.LocalEndpoint).Port;
            var settings = _bed.Settings() with { Metrics = new MetricsSettings(true, IPAddress.Loopback, port) };

            var e = await Assert.ThrowsAsync<ConfigurationException>(() => HostedGateway.StartAsync(settings, hocon: "akka.loglevel = OFF"));

            Assert.Equal(MetricsSettings.PortKey, e.Key);
            Assert.Contains($"port {port}", e.Message);
            Assert.Contains("already in use", e.Message);
        }
        finally
        {
            taken.Stop();
        }
    }

    /// <remarks>
    /// Clients that send their request a byte at a time, and one that asks for /metrics and never reads the answer, hold
    /// every connection the endpoint allows while 200 messages pass: the pipeline does not wait for any of them.
    /// </remarks>
    [Fact]
    public async Task Should_keep_the_pipeline_moving_while_hostile_clients_hold_the_endpoint()
    {
        var (gateway, endpoint) = await MetricsGateway.StartAsync(_bed.Settings());
        await using var _ = gateway;
        using var stop = new CancellationTokenSource();
        var clients = new List<TcpClient>();
        var dribbling = new List<Task>();
        try
        {
            for (var i = 0; i < 40; i++)
            {
                var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, endpoint.Port);
                clients.Add(client);
                dribbling.Add(DribbleAsync(client.GetStream(), stop.Token));
            }
            var neverReads = new TcpClient { ReceiveBufferSize = 1024 };
            await neverReads.ConnectAsync(IPAddress.Loopback, endpoint.Port);
            clients.Add(neverReads);
            await neverReads.GetStream().WriteAsync(Encoding.ASCII.GetBytes($"GET /metrics HTTP/1.1\r\nHost: {endpoint.Authority}\r\n\r\n"));

            for (var i = 0; i < 200; i++) _bed.Enqueue($"message {i}");

            await Eventually.Holds(() => gateway.Counters.Deleted == 200, TimeSpan.FromSeconds(60),
                () => $"all 200 messages finished while the clients hold on ({gateway.Counters})");
            Assert.Equal(200, GatewayTestbed.AllEntries(_bed.Outgoing).Count());
        }
        finally
        {
            await stop.CancelAsync();
            foreach (var client in clients) client.Dispose();
            await Task.WhenAll(dribbling);
        }
    }

    /// <summary>Sends a request line one byte every half second, as a slowloris client does; never finishes it.</summary>
    private static async Task DribbleAsync(NetworkStream stream, CancellationToken stop)
    {
        var request = "GET /metrics HTTP/1.1\r\nHost: localhost\r\nX-Slow: "u8.ToArray();
        try
        {
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                await stream.WriteAsync(request.AsMemory(i % request.Length, 1), stop);
                await Task.Delay(500, stop);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException)
        {
            // Cancelled by the spec, or dropped by the endpoint (its header timeout): both fine.
        }
    }

    /// <summary>Ready comes once the journal has recovered, a moment after the start.</summary>
    private static Task UntilReadyAsync(Uri endpoint) =>
        Eventually.Holds(async () => (await ReadyAsync(endpoint)).Status == HttpStatusCode.OK, TimeSpan.FromSeconds(20), "the gateway to be ready");

    private static async Task<(HttpStatusCode Status, JsonElement Body)> ReadyAsync(Uri endpoint)
    {
        using var response = await Http.GetAsync(new Uri(endpoint, "/health/ready"));
        Assert.Equal("application/json; charset=utf-8", response.Content.Headers.ContentType?.ToString());
        return (response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone());
    }
}
