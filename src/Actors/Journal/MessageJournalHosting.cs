using Akka.Actor;

namespace MailScanner.Actors.Journal;

public static class MessageJournalHosting
{
    /// <summary>
    /// Starts the journal of one gateway under a back-off supervisor: when the database cannot be written (locked,
    /// deleted, the disk full) the journal stops, the MessageActors waiting on it hand their messages back, and it is
    /// started again after 1 s, 2 s ... up to 30 s. Works on a running actor system: the plugin configuration and the
    /// serializer are added now, before anything asks for the plugin.
    /// </summary>
    public static IActorRef Start(ActorSystem system, JournalSettings settings, string name = "message-journal")
    {
        system.Settings.InjectTopLevelFallback(JournalConfig.For(settings));
        var serializer = new MessageJournalSerializer((ExtendedActorSystem)system);
        system.Serialization.AddSerializer("mailscanner-journal", serializer);
        system.Serialization.AddSerializationMap(typeof(IMessageJournalEvent), serializer);
        system.Serialization.AddSerializationMap(typeof(MessageJournalSnapshot), serializer);
        JournalConfig.PrepareDatabase(settings);
        return system.ActorOf(Akka.Pattern.BackoffSupervisor.Props(Akka.Pattern.Backoff.OnStop(
            MessageJournal.PropsFor(settings), "journal", TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30), 0.2, maxNrOfRetries: -1)), name);
    }

}
