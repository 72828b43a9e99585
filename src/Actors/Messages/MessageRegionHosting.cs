using Akka.Actor;
using Akka.Hosting;
using MailScanner.Actors.Configuration;
using MailScanner.Actors.Delivery;
using MailScanner.Actors.Journal;
using MailScanner.Actors.Metrics;
using MailScanner.Actors.Quarantine;
using MailScanner.Actors.Hosting;
using MailScanner.Actors.Queue;
using MailScanner.Actors.Scanning.Engines;
using MailScanner.Actors.Scanning.Rules;

namespace MailScanner.Actors.Messages;

public static class MessageRegionHosting
{
    /// <summary>
    /// Starts the parent of all MessageActors and registers it as <see cref="MessageActor"/>: callers address
    /// messages through it by identity, as they would a shard region. The journal and the scanner engines are looked up
    /// in the registry, so they are added first.
    /// </summary>
    /// <param name="adjustWorkspace">Specs only: replaces parts of what the MessageActors work with (a slow scanner engine, throwing rules).</param>
    public static AkkaConfigurationBuilder AddMessageActors(this AkkaConfigurationBuilder builder, GatewaySettings settings,
        PipelineCounters counters, Func<ActorSystem, MessageWorkspace, MessageWorkspace>? adjustWorkspace = null) =>
        builder.WithActors((system, registry) =>
        {
            var workspace = WorkspaceFor(system, registry, settings, counters);
            if (adjustWorkspace is not null) workspace = adjustWorkspace(system, workspace);
            if (settings.Rules.Enabled && workspace.ScanWithBuiltInRules == BuiltInRules.Scan)
                _ = RulesWarmUp.StartInBackground(settings.Rules, Akka.Event.Logging.GetLogger(system, typeof(RulesWarmUp)));
            registry.Register<MessageActor>(system.ActorOf(MessageRegion.PropsFor(MessageActor.PropsFor(workspace)), "messages"));
        });

    private static MessageWorkspace WorkspaceFor(ActorSystem system, IActorRegistry registry, GatewaySettings settings, PipelineCounters counters)
    {
        var format = QueueFormats.For(settings.Queue);
        // One barrier over every file system a delivery touches, the SQLite journal's included: each round makes the
        // staged copies, the renames, the unlinks and the journal's records durable together (ExactlyOnceDelivery).
        var barrier = new DurabilityBarrier(new[] { settings.Queue.Outgoing, settings.Quarantine.Directory, settings.Queue.Work }
            .Concat(settings.Journal.LocalDirectory is { } journalDirectory ? [journalDirectory] : []));
        var closer = new DeferredCloser();
        system.RegisterOnTermination(() =>
        {
            barrier.Dispose();
            closer.Dispose();
        });
        return new MessageWorkspace(
            format,
            settings.Queue.Work,
            settings.Queue.Bad,
            new QueueDirectoryWriter(settings.Queue.Outgoing, barrier, format.Outgoing),
            new QuarantineStore(settings.Quarantine.Directory, barrier),
            settings.Rules,
            settings.Policy,
            ScannerEngineHosting.EnginesIn(registry),
            closer,
            counters)
        {
            Journal = MessageJournalHosting.ClientFor(registry, settings.Journal),
            WriteFailures = new WriteFailureEpisodes(Akka.Event.Logging.GetLogger(system, typeof(WriteFailureEpisodes))),
        };
    }
}
