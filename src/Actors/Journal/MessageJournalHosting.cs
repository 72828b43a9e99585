using Akka.Actor;
using Akka.Cluster.Hosting;
using Akka.Hosting;
using MailScanner.Actors.Metrics;

namespace MailScanner.Actors.Journal;

public static class MessageJournalHosting
{
    /// <summary>
    /// Adds the message journal to the actor system being built: its plugin configuration and its serializer go into the
    /// configuration the system is created with (Akka reads plugins and serializers at creation), and the journal is
    /// started under a back-off supervisor and registered as <see cref="MessageJournal"/>. When the database cannot be
    /// written (locked, deleted, the disk full, a PostgreSQL server stopped) the journal stops, the MessageActors waiting
    /// on it hand their messages back, and it is started again after 1 s, 2 s ... up to <see cref="MaxRestartWait"/>.
    /// </summary>
    /// <param name="clusterSingleton">
    /// Clustered: the journal is one persistent actor for the whole cluster (a cluster singleton, registered as its
    /// proxy), because its one event stream must have one writer; a node that takes over another's messages finds
    /// their attempts and recorded deliveries there.
    /// </param>
    /// <summary>
    /// The longest wait between two starts of a journal whose database keeps failing. Short, because a start that fails
    /// costs one refused connection, and the gateway claims nothing while the journal is down: a PostgreSQL server back
    /// after a restart is written to again within this.
    /// </summary>
    public static readonly TimeSpan MaxRestartWait = TimeSpan.FromSeconds(5);

    public static AkkaConfigurationBuilder AddMessageJournal(this AkkaConfigurationBuilder builder, JournalSettings settings,
        string name = "message-journal", PipelineCounters? counters = null, bool clusterSingleton = false)
    {
        builder.AddHocon(JournalConfig.For(settings), HoconAddMode.Prepend);
        if (JournalConfig.SetupFor(settings) is { } setup) builder.AddSetup(setup);
        builder.WithCustomSerializer(MessageJournalSerializer.Name, [typeof(IMessageJournalEvent), typeof(MessageJournalSnapshot)],
            system => new MessageJournalSerializer(system));
        var supervised = Akka.Pattern.BackoffSupervisor.Props(Akka.Pattern.Backoff.OnStop(
                MessageJournal.PropsFor(settings, counters), "journal", TimeSpan.FromSeconds(1), MaxRestartWait, 0.2, maxNrOfRetries: -1)
            // Asked while it is down, the journal says so at once: the message goes back to the queue now, not after the ask's timeout.
            .WithReplyWhileStopped(new MessageJournalProtocol.Unavailable("the message journal is restarting after its database failed")));
        if (clusterSingleton)
            return builder
                .WithSingleton<MessageJournal>(name, supervised, new ClusterSingletonOptions(), createProxyToo: true)
                .WithActors((system, registry) =>
                    registry.Register<JournalRelay>(system.ActorOf(JournalRelay.PropsFor(registry.Get<MessageJournal>(), settings.AnswerTimeout), "journal-relay")));
        return builder.WithActors((system, registry) =>
        {
            JournalConfig.PrepareDatabase(settings);
            registry.Register<MessageJournal>(system.ActorOf(supervised, name));
        });
    }

    /// <summary>How MessageActors and the watcher reach the journal registered by <see cref="AddMessageJournal"/>, or none.</summary>
    /// <remarks>Clustered, through this node's <see cref="JournalRelay"/>, which sends the node's requests to the singleton together.</remarks>
    public static MessageJournalClient ClientFor(IActorRegistry registry, JournalSettings settings) =>
        !settings.Enabled ? MessageJournalClient.Disabled(settings.MaxProcessingAttempts)
        : registry.TryGet<JournalRelay>(out var relay) ? MessageJournalClient.For(relay, settings)
        : registry.TryGet<MessageJournal>(out var journal) ? MessageJournalClient.For(journal, settings)
        : MessageJournalClient.Disabled(settings.MaxProcessingAttempts);
}
