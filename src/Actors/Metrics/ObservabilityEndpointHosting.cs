using Akka.Actor;
using Akka.Event;
using Akka.Hosting;
using MailScanner.Actors.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace MailScanner.Actors.Metrics;

public static class ObservabilityEndpointHosting
{
    /// <summary>
    /// Serves <c>/metrics</c>, <c>/health/live</c>, <c>/health/ready</c> and the status page of the gateway that
    /// <c>AddMailScannerGateway</c> runs in this host, on <c>mailscanner.metrics.host</c>:<c>port</c>; nothing while
    /// <c>mailscanner.metrics.enabled</c> is off. The endpoint starts once the actor system has started and stops only after
    /// it has stopped, so that <c>/health/ready</c> says "stopping" throughout the graceful stop.
    /// </summary>
    /// <remarks>A port already in use fails the host's start with a <see cref="ConfigurationException"/> naming the port.</remarks>
    public static IServiceCollection AddObservabilityEndpoint(this IServiceCollection services, GatewaySettings settings)
    {
        if (settings.Metrics.Enabled)
            services.AddSingleton<IHostedService>(provider => new ObservabilityEndpointService(settings, provider));
        return services;
    }

    /// <summary>The endpoint's place in the host's life: up after every service has started, down after every one has stopped.</summary>
    private sealed class ObservabilityEndpointService(GatewaySettings settings, IServiceProvider services) : IHostedLifecycleService
    {
        private ObservabilityEndpoint? _endpoint;

        public async Task StartedAsync(CancellationToken cancellationToken)
        {
            var system = services.GetRequiredService<ActorSystem>();
            var actors = ActorSystemMetrics.For(system);
            var pipeline = actors.Pipeline
                ?? throw new InvalidOperationException("the actor system has no pipeline counters: AddMailScannerGateway did not add its metrics");
            _endpoint = await ObservabilityEndpoint.StartAsync(settings.Metrics, [pipeline.Meter.Name, actors.Meter.Name],
                new GatewayReadiness(system, services.GetRequiredService<ActorRegistry>(), settings), new StatusSnapshot(pipeline, actors, settings.Metrics.StatusPageAddresses));
            actors.EndpointAddress = _endpoint.Address;
            system.Log.Info("Metrics, health and the status page are served at {0}", _endpoint.Address);
        }

        public async Task StoppedAsync(CancellationToken cancellationToken)
        {
            if (_endpoint is not null) await _endpoint.DisposeAsync();
        }

        public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
