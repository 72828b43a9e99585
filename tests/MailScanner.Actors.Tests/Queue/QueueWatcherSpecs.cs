using Akka.TestKit.Xunit2;
using MailScanner.Actors.Journal;
using MailScanner.Actors.Metrics;
using MailScanner.Actors.Queue;
using MailScanner.Actors.Tests.Pipeline;
using Xunit;
using static MailScanner.Actors.Messages.MessageCommands;

namespace MailScanner.Actors.Tests.Queue;

/// <summary>The watcher on its own, with probes for the MessageActors and the journal.</summary>
public sealed class QueueWatcherSpecs : TestKit
{
    public QueueWatcherSpecs() : base("akka.loglevel = WARNING") { }

    [Fact]
    public void Should_claim_nothing_until_the_message_journal_answers()
    {
        using var bed = new GatewayTestbed();
        var (_, identity) = bed.Enqueue("waits for the journal");
        var journal = CreateTestProbe();
        var messages = CreateTestProbe();
        // A journal that is still recovering (or restarting after a failure) does not answer in time.
        var client = MessageJournalClient.For(journal.Ref, JournalSettings.For(bed.State) with { AnswerTimeout = TimeSpan.FromMilliseconds(300) });

        Sys.ActorOf(QueueWatcher.PropsFor(bed.Settings().Queue, ZMailerFormat.Instance, messages.Ref, _ => [], 30, new PipelineCounters(), client));

        EventFilter.Warning(contains: "Waiting for the message journal").ExpectOne(() =>
        {
            journal.ExpectMsg<MessageJournalProtocol.GetSize>();
            messages.ExpectNoMsg(TimeSpan.FromMilliseconds(500));
            journal.ExpectMsg<MessageJournalProtocol.GetSize>(TimeSpan.FromSeconds(5));
        });
        journal.Reply(new MessageJournalProtocol.Size(0, 0));

        Assert.Equal(identity, messages.ExpectMsg<Admit>().Identity);
    }
}
