using Akka.Actor;
using Akka.TestKit.Xunit2;
using MailScanner.Actors.Identity;
using MailScanner.Actors.Journal;
using MailScanner.Actors.Policy;
using MailScanner.Actors.Scanning;
using MailScanner.Actors.Tests.TestSupport;
using Xunit;
using static MailScanner.Actors.Journal.MessageJournalProtocol;

namespace MailScanner.Actors.Tests.Journal;

/// <summary>
/// A node's journal relay: one batch on its way at a time, carrying everything asked meanwhile; each answer reaches its
/// own asker; a journal that restarts or never answers costs the askers no more than their own timeout.
/// </summary>
public sealed class JournalRelaySpecs : TestKit
{
    private static readonly TimeSpan Answer = TimeSpan.FromSeconds(20);
    private static readonly DeliveryIntent Intent = new(VerdictKind.Clean, [], MessageAction.Deliver,
        new StagedName("/queue/out/tf-801-9-1", "5555", "801-5555-def"), null);

    private static FileIdentity Message(int n) => new(0x801, (ulong)n, 1);

    [Fact]
    public void Should_send_what_is_asked_while_a_batch_is_on_its_way_as_the_next_batch()
    {
        var journal = CreateTestProbe();
        var relay = Sys.ActorOf(JournalRelay.PropsFor(journal.Ref, Answer));
        var first = CreateTestProbe();
        var others = CreateTestProbe();

        relay.Tell(new BeginAttempt(Message(1), "1"), first.Ref);
        var batch1 = journal.ExpectMsg<JournalRelayProtocol.RelayedRequests>();
        relay.Tell(new BeginAttempt(Message(2), "2"), others.Ref);
        relay.Tell(new RecordDelivery(Message(3), Intent), others.Ref);
        relay.Tell(new Finished(Message(4)), others.Ref);
        relay.Tell(new AttemptAbandoned(Message(5)), others.Ref);
        journal.Reply(new JournalRelayProtocol.RelayedAnswers(batch1.Batch, [new RelayedAttemptBegun(batch1.Begins[0].Ask, new AttemptBegun(Message(1), 1, null))], [], []));

        Assert.Equal(Message(1), first.ExpectMsg<AttemptBegun>().Identity);
        var batch2 = journal.ExpectMsg<JournalRelayProtocol.RelayedRequests>();
        Assert.Equal(1, batch1.Count);
        Assert.Equal(4, batch2.Count);
        Assert.Equal([Message(2)], batch2.Begins.Select(b => b.Identity));
        Assert.Equal([Message(3)], batch2.Records.Select(r => r.Identity));
        Assert.Equal([Message(4)], batch2.Finished);
        Assert.Equal([Message(5)], batch2.Abandoned);
    }

    [Fact]
    public void Should_refuse_the_batch_on_its_way_when_the_journal_is_restarting_and_go_on_with_the_next()
    {
        var journal = CreateTestProbe();
        var relay = Sys.ActorOf(JournalRelay.PropsFor(journal.Ref, Answer));
        var asker = CreateTestProbe();

        relay.Tell(new RecordDelivery(Message(1), Intent), asker.Ref);
        journal.ExpectMsg<JournalRelayProtocol.RelayedRequests>();
        relay.Tell(new BeginAttempt(Message(2), "2"), asker.Ref);
        journal.Reply(new Unavailable("the message journal is restarting after its database failed"));

        Assert.Equal("the message journal is restarting after its database failed", asker.ExpectMsg<Unavailable>().Reason);
        Assert.Equal([Message(2)], journal.ExpectMsg<JournalRelayProtocol.RelayedRequests>().Begins.Select(b => b.Identity));
    }

    [Fact]
    public void Should_give_up_a_batch_that_is_never_answered_after_the_askers_timeout()
    {
        var journal = CreateTestProbe();
        var relay = Sys.ActorOf(JournalRelay.PropsFor(journal.Ref, TimeSpan.FromMilliseconds(300)));

        relay.Tell(new Finished(Message(1)));
        journal.ExpectMsg<JournalRelayProtocol.RelayedRequests>();
        relay.Tell(new Finished(Message(2)));

        // The journal's node died with the first batch: the second goes once the first is overdue.
        Assert.Equal([Message(2)], journal.ExpectMsg<JournalRelayProtocol.RelayedRequests>(Answer).Finished);
    }

    [Fact]
    public async Task Should_record_through_the_relay_in_the_real_journal_and_answer_each_asker()
    {
        using var state = new TempDirectory();
        var settings = JournalSettings.For(state.Path);
        await MessageJournalSpecs.WithJournal(settings, async (journal, system) =>
        {
            var client = MessageJournalClient.For(system.ActorOf(JournalRelay.PropsFor(journal, Answer)), settings);

            var begun = await Task.WhenAll(Enumerable.Range(1, 50).Select(n => client.BeginAttemptAsync(Message(n), n.ToString())));
            await Task.WhenAll(Enumerable.Range(1, 50).Select(n => client.RecordDeliveryAsync(Message(n), Intent)));
            for (var n = 1; n <= 25; n++) client.Finished(Message(n));

            Assert.Equal(Enumerable.Range(1, 50).Select(Message), begun.Select(b => b.Identity));
            Assert.All(begun, b => Assert.Equal(1, b.Attempt));
            var again = await client.BeginAttemptAsync(Message(30), "30");
            Assert.Equal(2, again.Attempt);
            Assert.Equal(Intent.OutgoingTemp, again.PendingDelivery?.OutgoingTemp);
            await Eventually.Holds(async () => (await journal.Ask<Size>(GetSize.Instance, Answer)).Messages == 25, Answer,
                "the 25 finished messages to be forgotten");
        });
    }
}
