using Akka.Actor;
using MailScanner.Actors.Batching;
using MailScanner.Actors.Configuration;
using MailScanner.Actors.Delivery;
using MailScanner.Actors.Journal;
using MailScanner.Actors.Messages;
using MailScanner.Actors.Metrics;
using MailScanner.Actors.Quarantine;
using MailScanner.Actors.Queue;
using MailScanner.Actors.Scanning;
using MailScanner.Actors.Scanning.Clamd;
using MailScanner.Actors.Scanning.Engines;
using MailScanner.Actors.Scanning.Rules;
using MailScanner.Actors.Scanning.Spamd;

namespace MailScanner.Actors.Hosting;

/// <summary>The top-level actors of one running gateway.</summary>
public sealed record GatewayActors(IActorRef Messages, IActorRef QueueWatcher);

/// <summary>Marker types for Akka.Hosting's registry.</summary>
public sealed class MessageRegionKey;
public sealed class QueueWatcherKey;

/// <summary>Starts the pipeline in an actor system: the same code for the Host, the tests and the bench.</summary>
public static class Gateway
{
    public static IQueueFormat FormatFor(string name) => name switch
    {
        "zmailer" => ZMailerFormat.Instance,
        _ => throw new ArgumentException($"unknown queue format '{name}'", nameof(name)),
    };

    /// <param name="builtInRules">Replaces the built-in rules; specs use it to make scanning throw or stall, as a poison message would.</param>
    /// <param name="adjustWorkspace">Test aid: replaces other parts of what the MessageActors work with (a slow scanner engine).</param>
    public static GatewayActors Start(ActorSystem system, GatewaySettings settings, PipelineCounters counters,
        Func<ReadOnlyMemory<byte>, RuleSettings, ScanReport>? builtInRules = null, Func<MessageWorkspace, MessageWorkspace>? adjustWorkspace = null)
    {
        var format = FormatFor(settings.Queue.Format);
        var outgoingBarrier = new DurabilityBarrier(settings.Queue.Outgoing);
        var quarantineBarrier = new DurabilityBarrier(settings.Quarantine.Directory);
        var closer = new DeferredCloser();
        system.RegisterOnTermination(() =>
        {
            outgoingBarrier.Dispose();
            quarantineBarrier.Dispose();
            closer.Dispose();
        });

        var workspace = new MessageWorkspace(
            format,
            settings.Queue.Work,
            settings.Queue.Bad,
            new QueueDirectoryWriter(settings.Queue.Outgoing, outgoingBarrier, format.FileNameFor),
            new QuarantineStore(settings.Quarantine.Directory, quarantineBarrier),
            settings.Rules,
            settings.Policy,
            StartScannerEngines(system, settings.Scanners),
            closer,
            counters)
        {
            ScanWithBuiltInRules = builtInRules ?? BuiltInRules.Scan,
            Journal = settings.Journal.Enabled
                ? MessageJournalClient.For(MessageJournalHosting.Start(system, settings.Journal), settings.Journal)
                : MessageJournalClient.Disabled(settings.Journal.MaxProcessingAttempts),
            WriteFailures = new WriteFailureEpisodes(Akka.Event.Logging.GetLogger(system, typeof(WriteFailureEpisodes))),
        };
        if (adjustWorkspace is not null) workspace = adjustWorkspace(workspace);
        if (builtInRules is null && settings.Rules.Enabled)
            _ = RulesWarmUp.StartInBackground(settings.Rules, Akka.Event.Logging.GetLogger(system, typeof(RulesWarmUp)));

        var messages = system.ActorOf(MessageRegion.PropsFor(MessageActor.PropsFor(workspace)), "messages");
        var batch = settings.Batch;
        var watcher = system.ActorOf(RestartingSupervisor.PropsFor(QueueWatcher.PropsFor(settings.Queue, format, messages,
            context => Enumerable.Range(1, batch.Coordinators)
                .Select(i => context.ActorOf(BatchCoordinator.PropsFor(batch, messages, context.Self, counters), $"coordinator-{i}"))
                .ToList(),
            batch.MaxMessages, counters, workspace.Journal), "watcher"), "queue-watcher");
        GatewayShutdown.Register(system, watcher, settings.Shutdown);
        return new GatewayActors(messages, watcher);
    }

    /// <summary>One supervised engine per enabled daemon; a message's verdict waits for every one of them.</summary>
    private static IReadOnlyList<IActorRef> StartScannerEngines(ActorSystem system, ScannerSettings scanners)
    {
        var engines = new List<IActorRef>();
        if (scanners.Clamd.Enabled)
            engines.Add(system.ActorOf(ScannerEngine.SupervisedPropsFor(
                new ClamdBackend(new ClamdClient(scanners.Clamd.Address)), scanners.Clamd.Engine), "clamd"));
        if (scanners.Spamd.Enabled)
            engines.Add(system.ActorOf(ScannerEngine.SupervisedPropsFor(
                new SpamdBackend(new SpamdClient(scanners.Spamd.Address), scanners.Spamd.HighSpamScore), scanners.Spamd.Engine), "spamd"));
        return engines;
    }
}
