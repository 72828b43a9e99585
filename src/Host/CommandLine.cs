using System.CommandLine;
using MailScanner.Actors.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Serilog;

namespace MailScanner.Actors.Host;

/// <summary>The two commands of <c>mailscanner-actors</c>; each only wires the library together.</summary>
internal static class CommandLine
{
    /// <summary>Exit code for a configuration the gateway cannot use.</summary>
    public const int ConfigurationErrorExitCode = 2;

    public static RootCommand Build()
    {
        var root = new RootCommand("MailScanner.Actors: a mail gateway content scanner that never loses a queued message.");
        root.Subcommands.Add(RunCommand());
        root.Subcommands.Add(CheckConfigCommand());
        return root;
    }

    private static Option<string?> ConfigOption() => new("--config")
    {
        Description = "HOCON file with the keys to change; everything else falls back to the built-in defaults (hocon/mailscanner.conf).",
    };

    private static Command RunCommand()
    {
        var config = ConfigOption();
        var command = new Command("run", "Run the gateway until SIGINT or SIGTERM, then stop cleanly.") { config };
        command.SetAction(parse => ReportingConfigurationErrors(() => RunAsync(parse.GetValue(config))));
        return command;
    }

    private static Command CheckConfigCommand()
    {
        var config = ConfigOption();
        var command = new Command("check-config", "Validate the configuration and print the effective settings; changes nothing on disk.") { config };
        command.SetAction(parse => ReportingConfigurationErrors(() =>
        {
            var settings = GatewaySettingsLoader.Load(parse.GetValue(config), Directory.GetCurrentDirectory());
            Console.Out.Write(GatewaySettingsLoader.Describe(settings));
            return Task.FromResult(0);
        }));
        return command;
    }

    private static async Task<int> RunAsync(string? configFile)
    {
        var workingDirectory = Directory.GetCurrentDirectory();
        var config = GatewaySettingsLoader.LoadConfig(configFile is null ? null : Path.GetFullPath(configFile, workingDirectory));
        var settings = GatewaySettingsLoader.FromConfig(config, workingDirectory);
        GatewaySettingsLoader.PrepareDirectories(settings);

        Log.Logger = Logging.CreateLogger();
        try
        {
            Log.Information(
                "mailscanner-actors starting: format {Format}, incoming {Incoming}, outgoing {Outgoing}, work {Work}, bad {Bad}, quarantine {Quarantine}, state {StateDirectory}, {Coordinators} coordinators",
                settings.Queue.Format, settings.Queue.Incoming, settings.Queue.Outgoing, settings.Queue.Work,
                settings.Queue.Bad, settings.Quarantine.Directory, settings.StateDirectory, settings.Batch.Coordinators);
            using var host = GatewayHost.Build(config, settings);
            host.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStarted.Register(
                () => Log.Information("mailscanner-actors started; stop with SIGINT or SIGTERM"));
            await host.RunAsync();
            Log.Information("mailscanner-actors stopped");
            return 0;
        }
        finally
        {
            await Log.CloseAndFlushAsync();
        }
    }

    private static async Task<int> ReportingConfigurationErrors(Func<Task<int>> action)
    {
        try
        {
            return await action();
        }
        catch (ConfigurationException e)
        {
            await Console.Error.WriteLineAsync($"mailscanner-actors: configuration error: {e.Key}: {e.Problem}");
            return ConfigurationErrorExitCode;
        }
    }
}
