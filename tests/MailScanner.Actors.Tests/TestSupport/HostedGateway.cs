using Akka.Actor;
using Akka.Hosting;
using MailScanner.Actors.Configuration;
using MailScanner.Actors.Hosting;
using MailScanner.Actors.Messages;
using MailScanner.Actors.Metrics;
using MailScanner.Actors.Queue;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace MailScanner.Actors.Tests.TestSupport;

/// <summary>
/// A gateway started the way the executable starts it: a generic host carrying an actor system built by
/// <see cref="GatewayHosting.AddMailScannerGateway"/>. Stopping it stops the host, which runs the gateway's graceful
/// stop (CoordinatedShutdown) as SIGTERM does.
/// </summary>
public sealed class HostedGateway : IAsyncDisposable
{
    private readonly IHost _host;

    private HostedGateway(IHost host, PipelineCounters counters, LogCapture log)
    {
        _host = host;
        Counters = counters;
        Log = log;
        System = host.Services.GetRequiredService<ActorSystem>();
        var registry = host.Services.GetRequiredService<ActorRegistry>();
        Messages = registry.Get<MessageActor>();
        QueueWatcher = registry.Get<QueueWatcher>();
    }

    public ActorSystem System { get; }
    public IActorRef Messages { get; }
    public IActorRef QueueWatcher { get; }
    public PipelineCounters Counters { get; }

    /// <summary>Where the gateway serves /metrics, health and its status page (settings with metrics on); null otherwise.</summary>
    public Uri? Endpoint => Metrics?.EndpointAddress;

    /// <summary>The actor system's instruments (settings with metrics on); null otherwise.</summary>
    public ActorSystemMetrics? Metrics => System.HasExtension<ActorSystemMetrics>() ? ActorSystemMetrics.For(System) : null;

    /// <summary>Every log event of the gateway's actor system, from before its first actor started.</summary>
    public LogCapture Log { get; }

    /// <param name="adjustWorkspace">Replaces parts of what the MessageActors work with (a slow engine, throwing rules).</param>
    /// <param name="hocon">Added to the actor system's configuration (log level, test plugins).</param>
    /// <param name="systemName">The actor system's name: the same for the nodes of one cluster; a fresh one otherwise.</param>
    public static async Task<HostedGateway> StartAsync(GatewaySettings settings, PipelineCounters? counters = null,
        Func<ActorSystem, MessageWorkspace, MessageWorkspace>? adjustWorkspace = null, string hocon = "akka.loglevel = WARNING",
        string? systemName = null)
    {
        var name = systemName ?? $"gateway-spec-{Guid.NewGuid():N}"[..20];
        var pipelineCounters = counters ?? new PipelineCounters();
        LogCapture? log = null;
        var host = new HostBuilder()
            .ConfigureServices(services => services.Configure<HostOptions>(options =>
                options.ShutdownTimeout = GatewayShutdown.PhaseTimeoutFor(settings.Shutdown) + TimeSpan.FromSeconds(30)))
            .ConfigureServices(services => services.AddAkka(name, (builder, _) =>
            {
                builder.AddHocon(hocon, HoconAddMode.Prepend);
                builder.AddHocon("akka.coordinated-shutdown.run-by-clr-shutdown-hook = off", HoconAddMode.Prepend);
                // First of all start-up tasks, so that nothing the gateway logs while it starts is missed.
                builder.WithActors((system, _) => log = LogCapture.Of(system));
                builder.AddMailScannerGateway(settings, pipelineCounters, adjustWorkspace, name);
            }))
            .ConfigureServices(services => services.AddObservabilityEndpoint(settings))
            .Build();
        try
        {
            await host.StartAsync();
        }
        catch
        {
            // A start that failed part way (the endpoint's port taken) leaves the actor system running: stop it.
            await host.StopAsync();
            host.Dispose();
            throw;
        }
        return new HostedGateway(host, pipelineCounters, log!);
    }

    /// <summary>Stops the host as the executable's signal handling does: the graceful stop, then the actor system ends.</summary>
    public Task StopAsync() => _host.StopAsync();

    public async ValueTask DisposeAsync()
    {
        await _host.StopAsync();
        _host.Dispose();
    }
}
