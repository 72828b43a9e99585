using System.Net;
using System.Text.Json;
using MailScanner.Actors.Configuration;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Metrics;

namespace MailScanner.Actors.Metrics;

/// <summary>
/// The gateway's one HTTP listener (Kestrel): <c>/metrics</c> in Prometheus's text format, <c>/health/live</c>,
/// <c>/health/ready</c> (JSON naming what is not ready) and the status page at <c>/</c> with its data at
/// <c>/status.json</c>. It answers GET and HEAD only. It has a service provider of its own, so the specs' gateways and the
/// executable's serve it the same way, and several gateways in one process each serve their own numbers.
/// </summary>
/// <remarks>
/// A slow or hostile client cannot hold the pipeline up: requests run on Kestrel's connections, never on an actor;
/// connections are capped, request bodies refused, headers must arrive within seconds and a client that reads the answer
/// too slowly is dropped (Kestrel's minimum data rate); <c>/metrics</c> reads counters the actors only add to.
/// </remarks>
public sealed class ObservabilityEndpoint : IAsyncDisposable
{
    private const int MaxConnections = 32;

    private readonly WebApplication _app;

    private ObservabilityEndpoint(WebApplication app, Uri address)
    {
        _app = app;
        Address = address;
    }

    /// <summary>Where it listens, with the port Kestrel chose when the settings asked for port 0.</summary>
    public Uri Address { get; }

    /// <param name="meterNames">The meters of this gateway (pipeline and actor system); runtime and process metrics come with them.</param>
    /// <exception cref="ConfigurationException">The port is taken, or the address is not one of this host's.</exception>
    public static async Task<ObservabilityEndpoint> StartAsync(MetricsSettings settings, IReadOnlyList<string> meterNames,
        GatewayReadiness readiness, StatusSnapshot status)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel =>
        {
            kestrel.Listen(settings.Host, settings.Port);
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxConcurrentConnections = MaxConnections;
            // No route reads a body; a small one is drained so that the refusal (405) arrives instead of a reset connection.
            kestrel.Limits.MaxRequestBodySize = 4 * 1024;
            kestrel.Limits.MaxRequestHeadersTotalSize = 16 * 1024;
            kestrel.Limits.MaxRequestLineSize = 4 * 1024;
            kestrel.Limits.RequestHeadersTimeout = TimeSpan.FromSeconds(5);
            kestrel.Limits.KeepAliveTimeout = TimeSpan.FromSeconds(30);
        });
        builder.Logging.ClearProviders();
        builder.Services.AddRoutingCore();
        builder.Services.AddOpenTelemetry().WithMetrics(metrics =>
        {
            foreach (var name in meterNames) metrics.AddMeter(name);
            metrics.AddRuntimeInstrumentation();
            metrics.AddPrometheusExporter(prometheus =>
            {
                // Scope and target labels would add nothing a dashboard uses and change with the meters' names.
                prometheus.ScopeInfoEnabled = false;
                prometheus.TargetInfoEnabled = false;
            });
        });

        var app = builder.Build();
        app.Use(async (context, next) =>
        {
            if (!HttpMethods.IsGet(context.Request.Method) && !HttpMethods.IsHead(context.Request.Method))
            {
                context.Response.StatusCode = StatusCodes.Status405MethodNotAllowed;
                context.Response.Headers.Allow = "GET, HEAD";
                return;
            }
            await next(context);
        });
        app.UseRouting();
        app.MapPrometheusScrapingEndpoint("/metrics");
        app.MapGetAndHead("/health/live", context => Json(context, StatusCodes.Status200OK, new { status = "live" }));
        app.MapGetAndHead("/health/ready", async context =>
        {
            var report = await readiness.CheckAsync();
            await Json(context, report.Ready ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable, new
            {
                status = report.Ready ? "ready" : "not ready",
                notReady = report.Checks.Where(c => !c.Ok).Select(c => new { check = c.Name, why = c.Detail }),
                checks = report.Checks.Select(c => new { check = c.Name, ok = c.Ok, detail = c.Detail }),
            });
        });
        app.MapGetAndHead("/status.json", context => Json(context, StatusCodes.Status200OK, status.Take()));
        StatusPage.Map(app);

        try
        {
            await app.StartAsync();
        }
        catch (IOException e) when (e.InnerException is System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.AddressAlreadyInUse } || e.Message.Contains("address already in use", StringComparison.OrdinalIgnoreCase))
        {
            await app.DisposeAsync();
            throw new ConfigurationException(MetricsSettings.PortKey, $"port {settings.Port} on {settings.Host} is already in use (another gateway, or another program)", e);
        }
        catch (IOException e)
        {
            await app.DisposeAsync();
            throw new ConfigurationException(MetricsSettings.HostKey, $"cannot listen on {settings.Host} port {settings.Port}: {e.Message}", e);
        }

        var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault()
            ?? $"http://{new IPEndPoint(settings.Host, settings.Port)}";
        return new ObservabilityEndpoint(app, new Uri(bound));
    }

    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    private static Task Json<T>(HttpContext context, int status, T body)
    {
        context.Response.StatusCode = status;
        context.Response.Headers.CacheControl = "no-store";
        context.Response.ContentType = "application/json; charset=utf-8";
        return context.Response.WriteAsync(JsonSerializer.Serialize(body, JsonOptions));
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

internal static class GetAndHeadRoutes
{
    /// <summary>A route for GET and HEAD (a minimal API's MapGet answers GET alone; Kestrel sends no body for HEAD).</summary>
    public static void MapGetAndHead(this IEndpointRouteBuilder endpoints, string pattern, RequestDelegate handler) =>
        endpoints.MapMethods(pattern, [HttpMethods.Get, HttpMethods.Head], handler);
}
