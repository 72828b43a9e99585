using System.CommandLine;
using Akka.Actor;
using MailScanner.Actors.Cluster;
using MailScanner.Actors.Configuration;
using MailScanner.Actors.Quarantine;
using MailScanner.Actors.Queue;
using MailScanner.Actors.Scanning;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Serilog;

namespace MailScanner.Actors.Host;

/// <summary>The commands of <c>mailscanner-actors</c>; each only wires the library together.</summary>
internal static class CommandLine
{
    /// <summary>Exit code for a configuration the gateway cannot use.</summary>
    public const int ConfigurationErrorExitCode = 2;

    /// <summary>Exit code for a request that was refused: unknown id, already released, bad argument.</summary>
    public const int RefusedExitCode = 1;

    public static RootCommand Build()
    {
        var root = new RootCommand("MailScanner.Actors: a mail gateway content scanner that never loses a queued message.");
        root.Subcommands.Add(RunCommand());
        root.Subcommands.Add(CheckConfigCommand());
        root.Subcommands.Add(QuarantineCommand());
        root.Subcommands.Add(EnqueueCommand());
        root.Subcommands.Add(ClusterCommand.Build());
        return root;
    }

    internal static Option<string?> ConfigOption() => new("--config")
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

    private static Command QuarantineCommand()
    {
        var command = new Command("quarantine", "Search, show, release or delete quarantined messages (mailscanner.quarantine.directory).");
        command.Subcommands.Add(QuarantineListCommand());
        command.Subcommands.Add(QuarantineShowCommand());
        command.Subcommands.Add(QuarantineReleaseCommand());
        command.Subcommands.Add(QuarantineDeleteCommand());
        return command;
    }

    private static Argument<string> IdArgument() => new("ID") { Description = "The quarantine id, as 'quarantine list' prints it." };

    private static Command QuarantineListCommand()
    {
        var config = ConfigOption();
        var since = new Option<string?>("--since") { HelpName = "DATE", Description = "Only messages quarantined at or after this UTC date or time (2025-01-31 or 2025-01-31T14:00:00Z)." };
        var verdict = new Option<string?>("--verdict") { HelpName = "KIND", Description = $"Only messages with this verdict ({QuarantineText.VerdictChoices})." };
        var command = new Command("list", "One line per quarantined message: id, time, verdict, sender, recipients, queue id.") { since, verdict, config };
        command.SetAction(parse => ReportingQuarantineErrors(async () =>
        {
            DateTime? sinceUtc = null;
            if (parse.GetValue(since) is { } sinceText)
            {
                if (!QuarantineText.TryParseSince(sinceText, out var parsed)) return await Refuse($"--since: '{sinceText}' is not a date or time");
                sinceUtc = parsed;
            }
            VerdictKind? kind = null;
            if (parse.GetValue(verdict) is { } verdictText)
            {
                if (!QuarantineText.TryParseVerdict(verdictText, out var parsed))
                    return await Refuse($"--verdict: '{verdictText}' is not a verdict ({QuarantineText.VerdictChoices})");
                kind = parsed;
            }
            foreach (var entry in OpenQuarantine(parse.GetValue(config)).List(sinceUtc, kind))
                await Console.Out.WriteLineAsync(QuarantineText.ListLine(entry));
            return 0;
        }));
        return command;
    }

    private static Command QuarantineShowCommand()
    {
        var config = ConfigOption();
        var id = IdArgument();
        var command = new Command("show", "Everything recorded about one quarantined message.") { id, config };
        command.SetAction(parse => ReportingQuarantineErrors(async () =>
        {
            var wanted = parse.GetValue(id)!;
            if (OpenQuarantine(parse.GetValue(config)).TryGet(wanted) is not { } entry) return await Refuse(UnknownId(wanted));
            await Console.Out.WriteAsync(QuarantineText.Describe(entry));
            return 0;
        }));
        return command;
    }

    private static Command QuarantineReleaseCommand()
    {
        var config = ConfigOption();
        var id = IdArgument();
        var command = new Command("release",
            "Hand the original message to the MTA through the outgoing queue (mailscanner.queue.outgoing), as mailscanner.queue.format writes a delivered message, once.") { id, config };
        command.SetAction(parse => ReportingQuarantineErrors(async () =>
        {
            var wanted = parse.GetValue(id)!;
            var settings = GatewaySettingsLoader.Load(parse.GetValue(config), Directory.GetCurrentDirectory());
            var store = new QuarantineStore(settings.Quarantine.Directory);
            switch (await store.ReleaseAsync(wanted, settings.Queue.Outgoing, QueueFormats.For(settings.Queue)))
            {
                case ReleaseOutcome.Released released:
                    await Console.Out.WriteLineAsync(
                        $"released {wanted}: queued as {released.OutgoingPath}{(released.Recovered ? " (by an earlier, interrupted release; now recorded)" : "")}");
                    if (released.AnnounceProblem is { } problem)
                        await Console.Error.WriteLineAsync($"mailscanner-actors: the MTA was not told about the released message (it finds it later by itself): {problem}");
                    return 0;
                case ReleaseOutcome.Refused refused:
                    return await Refuse($"release refused: {refused.Reason}");
                default:
                    throw new InvalidOperationException("unknown release outcome");
            }
        }));
        return command;
    }

    private static Command QuarantineDeleteCommand()
    {
        var config = ConfigOption();
        var id = IdArgument();
        var command = new Command("delete", "Remove a quarantined message for good.") { id, config };
        command.SetAction(parse => ReportingQuarantineErrors(async () =>
        {
            var wanted = parse.GetValue(id)!;
            if (!await OpenQuarantine(parse.GetValue(config)).DeleteAsync(wanted)) return await Refuse(UnknownId(wanted));
            await Console.Out.WriteLineAsync($"deleted {wanted}");
            return 0;
        }));
        return command;
    }

    private static Command EnqueueCommand()
    {
        var config = ConfigOption();
        var from = new Option<string?>("--from")
        {
            HelpName = "ADDR",
            Description = "Envelope sender (\"\" for a bounce's null sender); default: the first address of the message's From: header.",
        };
        var to = new Option<string[]>("--to")
        {
            HelpName = "ADDR",
            Description = "Envelope recipient, once per recipient; default: every address of the message's To:, Cc: and Bcc: headers.",
        };
        var files = new Argument<string[]>("FILE")
        {
            Arity = ArgumentArity.ZeroOrMore,
            Description = "Messages to queue (RFC 5322, such as .eml files); standard input when none is named.",
        };
        var command = new Command("enqueue",
            "Put each message into the incoming queue (mailscanner.queue.incoming) in that queue's format, as the MTA would, and print its queue id.")
        {
            files, from, to, config,
        };
        command.SetAction(parse => ReportingQuarantineErrors(async () =>
        {
            var settings = GatewaySettingsLoader.Load(parse.GetValue(config), Directory.GetCurrentDirectory());
            var incoming = settings.Queue.Incoming;
            if (!Directory.Exists(incoming))
                return await Refuse($"the incoming queue {incoming} does not exist (the gateway's first start creates it, or the MTA's installation)");
            var format = QueueFormats.For(settings.Queue);
            var named = parse.GetValue(files) ?? [];
            var refused = 0;
            foreach (var name in named.Length == 0 ? ["-"] : named)
            {
                try
                {
                    var message = name == "-" ? await ReadStandardInput() : await File.ReadAllBytesAsync(name);
                    var envelope = EnqueueEnvelope.For(message, parse.GetValue(from), parse.GetValue(to) ?? []);
                    await Console.Out.WriteLineAsync(format.WriteIncomingEntry(incoming, envelope, message));
                }
                catch (Exception e) when (e is FormatException or IOException or UnauthorizedAccessException or NotSupportedException)
                {
                    await Refuse($"{(name == "-" ? "standard input" : name)}: not queued: {e.Message}");
                    refused++;
                }
            }
            return refused == 0 ? 0 : RefusedExitCode;
        }));
        return command;
    }

    private static async Task<byte[]> ReadStandardInput()
    {
        using var buffer = new MemoryStream();
        await using var input = Console.OpenStandardInput();
        await input.CopyToAsync(buffer);
        return buffer.ToArray();
    }

    private static QuarantineStore OpenQuarantine(string? configFile) =>
        new(GatewaySettingsLoader.Load(configFile, Directory.GetCurrentDirectory()).Quarantine.Directory);

    private static string UnknownId(string id) => QuarantineId.IsValid(id)
        ? $"no quarantine entry {id}"
        : $"'{id}' is not a quarantine id (as 'quarantine list' prints them)";

    /// <summary>Configuration errors exit 2; busy entries, unreadable metadata and permissions exit 1 with one line, not a stack trace.</summary>
    private static Task<int> ReportingQuarantineErrors(Func<Task<int>> action) => ReportingConfigurationErrors(async () =>
    {
        try
        {
            return await action();
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            return await Refuse(e.Message);
        }
    });

    internal static async Task<int> Refuse(string message)
    {
        await Console.Error.WriteLineAsync($"mailscanner-actors: {message}");
        return RefusedExitCode;
    }

    private static async Task<int> RunAsync(string? configFile)
    {
        var workingDirectory = Directory.GetCurrentDirectory();
        var config = GatewaySettingsLoader.LoadConfig(configFile is null ? null : Path.GetFullPath(configFile, workingDirectory));
        var settings = GatewaySettingsLoader.FromConfig(config, workingDirectory);
        GatewaySettingsLoader.PrepareDirectories(settings);

        Log.Logger = Logging.CreateLogger(settings.Logging);
        try
        {
            Log.Information(
                "mailscanner-actors starting: format {Format}, incoming {Incoming}, outgoing {Outgoing}, work {Work}, bad {Bad}, quarantine {Quarantine}, state {StateDirectory}, {Coordinators} coordinators",
                settings.Queue.Format, settings.Queue.Incoming, settings.Queue.Outgoing, settings.Queue.Work,
                settings.Queue.Bad, settings.Quarantine.Directory, settings.StateDirectory, settings.Batch.Coordinators);
            using var host = GatewayHost.Build(config, settings);
            // Taken once started: RunAsync disposes the host's services when it returns.
            CoordinatedShutdown? shutdown = null;
            host.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStarted.Register(() =>
            {
                shutdown = CoordinatedShutdown.Get(host.Services.GetRequiredService<ActorSystem>());
                Log.Information("mailscanner-actors started; stop with SIGINT or SIGTERM (a second one stops at once)");
            });
            await host.RunAsync();
            // The cluster may have stopped the node (downed by the others): exit non-zero so that the service manager
            // starts it again, and say why.
            var reason = shutdown?.ShutdownReason;
            if (ClusterExit.Describe(reason) is { } why)
            {
                Log.Error("mailscanner-actors {Why}; exiting with code {ExitCode}", why, reason!.ExitCode);
                return reason.ExitCode;
            }
            Log.Information("mailscanner-actors stopped");
            return 0;
        }
        finally
        {
            await Log.CloseAndFlushAsync();
        }
    }

    internal static async Task<int> ReportingConfigurationErrors(Func<Task<int>> action)
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
