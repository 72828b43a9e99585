using Akka.Actor;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using MailScanner.Actors.Batching;
using MailScanner.Actors.Journal;
using MailScanner.Actors.Metrics;
using MailScanner.Actors.Queue;
using MailScanner.Actors.Tests.Pipeline;
using Xunit;
using static MailScanner.Actors.Messages.MessageCommands;
using static MailScanner.Actors.Messages.MessageReplies;

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
        // A journal that is still recovering (or restarting after a failure) does not answer in time.
        var (_, journal, messages, _) = StartWatcher(bed, journalAnswerTimeout: TimeSpan.FromMilliseconds(300));

        EventFilter.Warning(contains: "Waiting for the message journal").ExpectOne(() =>
        {
            journal.ExpectMsg<MessageJournalProtocol.GetInterrupted>();
            messages.ExpectNoMsg(TimeSpan.FromMilliseconds(500));
            journal.ExpectMsg<MessageJournalProtocol.GetInterrupted>(TimeSpan.FromSeconds(5));
        });
        journal.Reply(new MessageJournalProtocol.Interrupted(new Dictionary<string, int>()));

        Assert.Equal(identity, messages.ExpectMsg<Admit>().Identity);
    }

    [Fact]
    public void Should_take_the_messages_repeated_crashes_interrupted_one_at_a_time_and_alone_before_anything_else()
    {
        using var bed = new GatewayTestbed();
        var onceInterrupted = bed.EnqueueClaimed("interrupted once: a single crash holds nothing back").Identity;
        var twiceInterrupted = bed.EnqueueClaimed("interrupted twice").Identity;
        var thriceInterrupted = bed.EnqueueClaimed("interrupted three times: perhaps the culprit").Identity;
        var neverScanned = bed.EnqueueClaimed("claimed, not yet scanned").Identity;
        var (_, waiting) = bed.Enqueue("waiting in the incoming queue");
        var (watcher, journal, messages, coordinator) = StartWatcher(bed);

        journal.ExpectMsg<MessageJournalProtocol.GetInterrupted>();
        EventFilter.Warning(contains: "2 message(s) were being scanned when the gateway last ended").ExpectOne(() =>
            journal.Reply(new MessageJournalProtocol.Interrupted(new Dictionary<string, int>
            {
                [thriceInterrupted.Key] = 3,
                [onceInterrupted.Key] = 1,
                [twiceInterrupted.Key] = 2,
            })));

        // Fewest attempts first; each alone: nothing else is claimed or admitted until its batch has finished.
        foreach (var suspect in new[] { twiceInterrupted, thriceInterrupted })
        {
            Assert.Equal(suspect, messages.ExpectMsg<Recover>().Identity);
            messages.ExpectNoMsg(TimeSpan.FromMilliseconds(300));
            watcher.Tell(new Admitted(suspect, suspect.Inode.ToString(), 100), messages.Ref);
            Assert.Equal(suspect, coordinator.FishForMessage<BatchCoordinatorProtocol.Enqueue>(_ => true).Identity);
            messages.ExpectNoMsg(TimeSpan.FromMilliseconds(300));
            watcher.Tell(new BatchCoordinatorProtocol.BatchFinished([suspect], []), coordinator.Ref);
        }

        Assert.Equal(new[] { onceInterrupted, neverScanned }.OrderBy(i => i.Key),
            new[] { messages.ExpectMsg<Recover>().Identity, messages.ExpectMsg<Recover>().Identity }.OrderBy(i => i.Key));
        Assert.Equal(waiting, messages.ExpectMsg<Admit>().Identity);
    }

    [Fact]
    public void Should_hold_nothing_back_after_a_single_crash()
    {
        using var bed = new GatewayTestbed();
        var interrupted = bed.EnqueueClaimed("interrupted once").Identity;
        var neverScanned = bed.EnqueueClaimed("claimed, not yet scanned").Identity;
        var (_, journal, messages, _) = StartWatcher(bed);

        journal.ExpectMsg<MessageJournalProtocol.GetInterrupted>();
        journal.Reply(new MessageJournalProtocol.Interrupted(new Dictionary<string, int> { [interrupted.Key] = 1 }));

        Assert.Equal(new[] { interrupted, neverScanned }.OrderBy(i => i.Key),
            new[] { messages.ExpectMsg<Recover>().Identity, messages.ExpectMsg<Recover>().Identity }.OrderBy(i => i.Key));
    }

    /// <summary>A watcher on <paramref name="bed"/>'s queue with probes for the journal, the MessageActors and one coordinator; max-processing-attempts 6.</summary>
    private (IActorRef Watcher, TestProbe Journal, TestProbe Messages, TestProbe Coordinator) StartWatcher(GatewayTestbed bed, TimeSpan? journalAnswerTimeout = null)
    {
        var (journal, messages, coordinator) = (CreateTestProbe(), CreateTestProbe(), CreateTestProbe());
        var settings = JournalSettings.For(bed.State, maxProcessingAttempts: 6);
        if (journalAnswerTimeout is { } timeout) settings = settings with { AnswerTimeout = timeout };
        var watcher = Sys.ActorOf(QueueWatcher.PropsFor(bed.Settings().Queue, ZMailerFormat.Instance, messages.Ref, _ => [coordinator.Ref], 30,
            new PipelineCounters(), MessageJournalClient.For(journal.Ref, settings)));
        return (watcher, journal, messages, coordinator);
    }
}
