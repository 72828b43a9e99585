using Akka.Hosting;
using Akka.Logger.Serilog;
using MailScanner.Actors.Configuration;
using MailScanner.Actors.Hosting;
using MailScanner.Actors.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Serilog;
using AkkaConfig = Akka.Configuration.Config;

namespace MailScanner.Actors.Host;

/// <summary>The generic host that carries the actor system: Serilog for logs, <see cref="SignalLifetime"/> for signals.</summary>
internal static class GatewayHost
{
    public const string ActorSystemName = "mailscanner";

    public static IHost Build(AkkaConfig config, GatewaySettings settings) =>
        new HostBuilder()
            .ConfigureServices(services => services.AddSingleton<IHostLifetime, SignalLifetime>())
            .UseSerilog()
            // The host must not give up on the actor system's stop before the grace period (and what follows it) is over.
            .ConfigureServices(services => services.Configure<HostOptions>(options =>
                options.ShutdownTimeout = GatewayShutdown.PhaseTimeoutFor(settings.Shutdown) + TimeSpan.FromSeconds(30)))
            .ConfigureServices(services => services.AddAkka(ActorSystemName, (builder, _) =>
            {
                builder.AddHocon(config, HoconAddMode.Prepend);
                // Signals are SignalLifetime's alone. Akka's own hook would answer SIGTERM by running the whole coordinated
                // shutdown on the thread that dispatches signals, and a second signal would wait behind it.
                builder.AddHocon("akka.coordinated-shutdown.run-by-clr-shutdown-hook = off", HoconAddMode.Prepend);
                // Akka filters before Serilog sees an event: its level follows mailscanner.logging.level.
                builder.AddHocon($"akka.loglevel = {settings.Logging.AkkaLogLevel}", HoconAddMode.Prepend);
                builder.ConfigureLoggers(loggers =>
                {
                    loggers.ClearLoggers();
                    loggers.AddLogger<SerilogLogger>();
                });
                builder.AddMailScannerGateway(settings, actorSystemName: ActorSystemName);
            }))
            .ConfigureServices(services => services.AddObservabilityEndpoint(settings))
            .Build();
}
