using Akka.Hosting;
using MailScanner.Actors.Batching;
using MailScanner.Actors.Configuration;
using MailScanner.Actors.Hosting;
using MailScanner.Actors.Journal;
using MailScanner.Actors.Messages;
using MailScanner.Actors.Metrics;

namespace MailScanner.Actors.Queue;

public static class QueueWatcherHosting
{
    /// <summary>
    /// Starts the watcher of the incoming queue, with its batch coordinators as children, and registers it as
    /// <see cref="QueueWatcher"/>. It restarts in place whatever it throws (<see cref="RestartingSupervisor"/>), so
    /// replies on their way to it are not lost. The MessageActors and the journal are looked up in the registry.
    /// </summary>
    public static AkkaConfigurationBuilder AddQueueWatcher(this AkkaConfigurationBuilder builder, GatewaySettings settings, PipelineCounters counters) =>
        builder.WithActors((system, registry) =>
        {
            var messages = registry.Get<MessageActor>();
            var batch = settings.Batch;
            var watcher = QueueWatcher.PropsFor(settings.Queue, QueueFormats.For(settings.Queue), messages,
                context => Enumerable.Range(1, batch.Coordinators)
                    .Select(i => context.ActorOf(BatchCoordinator.PropsFor(batch, messages, context.Self, counters), $"coordinator-{i}"))
                    .ToList(),
                batch.MaxMessages, counters, MessageJournalHosting.ClientFor(registry, settings.Journal));
            registry.Register<QueueWatcher>(system.ActorOf(RestartingSupervisor.PropsFor(watcher, "watcher"), "queue-watcher"));
        });
}
