using System.Text;
using Akka.Actor;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using MailScanner.Actors.Batching;
using MailScanner.Actors.Identity;
using MailScanner.Actors.Journal;
using MailScanner.Actors.Messages;
using MailScanner.Actors.Metrics;
using MailScanner.Actors.Queue;
using MailScanner.Actors.Queue.ZMailer;
using MailScanner.Actors.Tests.Pipeline;
using Xunit;
using static MailScanner.Actors.Messages.MessageCommands;
using static MailScanner.Actors.Messages.MessageReplies;

namespace MailScanner.Actors.Tests.Queue;

/// <summary>
/// Clustered admissions a burst at a time: the watcher sends a node's desk the admissions for the shards last seen
/// there, the desk hands each to its node's region and answers a burst of Admitted as one message, and the watcher sends
/// each coordinator what it assigned it as one message.
/// </summary>
public sealed class AdmissionDeskSpecs : TestKit
{
    private static readonly FileIdentity First = new(1, 101, 0), Second = new(1, 102, 0), Third = new(1, 103, 0);

    [Fact]
    public void Should_hand_each_admission_to_the_region_and_answer_the_admitted_as_bursts()
    {
        var (region, watcher) = (CreateTestProbe(), CreateTestProbe());
        var desk = Sys.ActorOf(AdmissionDesk.PropsFor(region.Ref));

        desk.Tell(new AdmissionDeskProtocol.AdmitMany([new Admit(First, "/q/101"), new Admit(Second, "/q/102"), new Admit(Third, "/q/103")]), watcher.Ref);

        foreach (var expected in new[] { First, Second, Third })
        {
            Assert.Equal(expected, region.ExpectMsg<Admit>().Identity);
            Assert.Equal(desk, region.LastSender);
            region.Reply(new Admitted(expected, expected.Inode.ToString(), 100));
        }
        var answered = new List<FileIdentity>();
        while (answered.Count < 3) answered.AddRange(watcher.ExpectMsg<AdmissionDeskProtocol.AdmittedMany>().Admitted.Select(a => a.Identity));
        Assert.Equal([First, Second, Third], answered);
        Assert.Equal(desk, watcher.LastSender);
    }

    [Fact]
    public void Should_pass_on_every_other_answer_as_the_message_actor_gave_it()
    {
        var (region, watcher) = (CreateTestProbe(), CreateTestProbe());
        var desk = Sys.ActorOf(AdmissionDesk.PropsFor(region.Ref));

        desk.Tell(new AdmissionDeskProtocol.AdmitMany([new Admit(First, "/q/101")]), watcher.Ref);
        region.ExpectMsg<Admit>();
        region.Reply(new Refused(First, "101", "malformed: no envelope"));

        Assert.Equal("malformed: no envelope", watcher.ExpectMsg<Refused>().Reason);
        Assert.Equal(region.Ref, watcher.LastSender);
    }

    [Fact]
    public void Should_send_a_desk_a_backlogs_first_burst_in_pieces_that_fit_one_remote_message()
    {
        // Measured: 2,000 admissions in one AdmitMany were 260 KB, over Akka.Remote's 128,000-byte frame, and were dropped.
        var desk = CreateTestProbe();
        var routing = new AdmissionRouting();
        routing.DeskFound(desk.Ref);
        var admits = Enumerable.Range(1, 2000)
            .Select(i => new Admit(new FileIdentity(0xfe00, (ulong)(3_650_000 + i), 0x81083f0), $"/var/spool/mailscanner/incoming/{3_650_000 + i}")).ToList();
        foreach (var admit in admits) routing.Seen(new Admitted(admit.Identity, "q", 1), desk.Ref.Path.Address);

        Assert.All(admits, admit => Assert.True(routing.Gather(admit, out _)));
        routing.SendGathered(TestActor);

        var serializer = new MailScanner.Actors.Cluster.ClusterProtocolSerializer((ExtendedActorSystem)Sys);
        var pieces = Enumerable.Range(0, 8).Select(_ => desk.ExpectMsg<AdmissionDeskProtocol.AdmitMany>()).ToList();
        desk.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
        Assert.Equal(admits.Select(a => a.Identity), pieces.SelectMany(p => p.Admits).Select(a => a.Identity));
        Assert.All(pieces, piece => Assert.True(serializer.ToBinary(piece).Length < CoordinatorOutboxSpecs.RemoteFrameSizeDefault));
    }

    [Fact]
    public void Should_admit_through_the_desk_of_the_node_where_the_shard_was_last_seen_and_send_each_coordinator_its_share_as_one()
    {
        using var bed = new GatewayTestbed();
        var (messages, coordinator, desk, watcher, admitted) = WatcherThatKnowsWhereAShardLives(bed);

        // The next one of the same shard goes through the desk of the node that answered, and comes back through it.
        var second = EnqueueInShardOf(bed, admitted.Identity);
        watcher.Tell(QueueWatcherProtocol.ScanQueue.Instance);
        messages.FishForMessage<Admit>(a => a.Identity == second.Identity);
        Assert.Equal(desk, messages.LastSender);
        messages.Reply(new Admitted(second.Identity, "2", 100));
        var enqueued = coordinator.FishForMessage<BatchCoordinatorProtocol.EnqueueMany>(many => many.Messages.Count > 0);
        Assert.Equal(second.Identity, enqueued.Messages.Single().Identity);
    }

    [Fact]
    public void Should_admit_again_at_once_what_was_sent_to_a_node_whose_coordinators_are_all_gone()
    {
        using var bed = new GatewayTestbed();
        var (messages, coordinator, desk, watcher, admitted) = WatcherThatKnowsWhereAShardLives(bed);
        var second = EnqueueInShardOf(bed, admitted.Identity);
        watcher.Tell(QueueWatcherProtocol.ScanQueue.Instance);
        messages.FishForMessage<Admit>(a => a.Identity == second.Identity);
        Assert.Equal(desk, messages.LastSender);

        // The node dies before its MessageActor answers: its coordinator (the only one there) ends.
        Sys.Stop(coordinator.Ref);

        // Admitted again straight away, through the region (the dead node's desk is forgotten), not after 30 s.
        messages.FishForMessage<Admit>(a => a.Identity == second.Identity, TimeSpan.FromSeconds(5));
        Assert.Equal(watcher, messages.LastSender);
    }

    [Fact]
    public void Should_send_an_admission_again_through_the_region_when_its_message_actor_does_not_answer_within_seconds()
    {
        using var bed = new GatewayTestbed();
        var (messages, coordinator, _, watcher, _) = WatcherThatKnowsWhereAShardLives(bed);
        var second = bed.Enqueue("its first admission is lost on the way");
        messages.FishForMessage<Admit>(a => a.Identity == second.Identity);

        // Not answered (a region that still routed it to a node just gone): sent again after seconds, not given up after 30.
        messages.FishForMessage<Admit>(a => a.Identity == second.Identity, TimeSpan.FromSeconds(10));
        Assert.Equal(watcher, messages.LastSender);
        messages.Reply(new Admitted(second.Identity, "2", 100));
        var enqueued = coordinator.FishForMessage<BatchCoordinatorProtocol.EnqueueMany>(many => many.Messages.Count > 0);
        Assert.Equal(second.Identity, enqueued.Messages.Single().Identity);
    }

    /// <summary>
    /// A clustered watcher with this node's desk beside it and one registered coordinator, whose first message went
    /// straight to the region (where its shard lives was not known yet) and was answered: from then on the watcher
    /// admits that shard's messages through the desk.
    /// </summary>
    private (TestProbe Messages, TestProbe Coordinator, IActorRef Desk, IActorRef Watcher, Admit FirstAdmitted) WatcherThatKnowsWhereAShardLives(GatewayTestbed bed)
    {
        var (journal, messages, coordinator) = (CreateTestProbe(), CreateTestProbe(), CreateTestProbe());
        // This node's desk, where the watcher looks for it beside the coordinator that registers.
        var desk = Sys.ActorOf(AdmissionDesk.PropsFor(messages.Ref), AdmissionDesk.Name);
        var watcher = Sys.ActorOf(QueueWatcher.PropsFor(bed.Settings().Queue, ZMailerFormat.Instance, messages.Ref, _ => [], 30,
            new PipelineCounters(), MessageJournalClient.For(journal.Ref, JournalSettings.For(bed.State)), recoverOrphanedClaims: true));
        journal.ExpectMsg<MessageJournalProtocol.GetInterrupted>();
        journal.Reply(new MessageJournalProtocol.Interrupted(new Dictionary<string, int>()));
        watcher.Tell(BatchCoordinatorProtocol.Register.Instance, coordinator.Ref);
        coordinator.ExpectMsg<BatchCoordinatorProtocol.Registered>();

        var first = bed.Enqueue("the first of its shard");
        var admitted = messages.FishForMessage<Admit>(a => a.Identity == first.Identity);
        Assert.Equal(watcher, messages.LastSender);
        messages.Reply(new Admitted(first.Identity, "1", 100));
        Assert.Equal(first.Identity, coordinator.FishForMessage<BatchCoordinatorProtocol.EnqueueMany>(_ => true).Messages.Single().Identity);
        return (messages, coordinator, desk, watcher, admitted);
    }

    /// <summary>
    /// A queue file whose identity falls in the same shard as <paramref name="identity"/>. Candidates are written beside
    /// the queue and only the one that fits is renamed into it (its inode, and so its name, kept), so that the watcher
    /// never sees the others.
    /// </summary>
    private static (string Path, FileIdentity Identity) EnqueueInShardOf(GatewayTestbed bed, FileIdentity identity)
    {
        var extractor = new MessageExtractor();
        var shard = extractor.ShardId(identity.Key, null);
        var candidates = Directory.CreateDirectory(Path.Combine(Path.GetDirectoryName(bed.Incoming)!, "candidates")).FullName;
        var envelope = new MailScanner.Actors.Queue.ZMailer.Envelope("alice@example.org", ["bob@example.com"], "mx.example.org [192.0.2.1]", []);
        for (var attempt = 0; attempt < 5000; attempt++)
        {
            var message = Encoding.UTF8.GetBytes($"From: alice@example.org\r\nTo: bob@example.com\r\nSubject: candidate {attempt}\r\n\r\nbody\r\n");
            var (path, candidate) = ZMailerQueueWriter.WriteDurably(candidates, ZMailerQueueFile.Format(envelope, message));
            if (extractor.ShardId(candidate.Key, null) != shard) continue; // kept, so that its inode is not reused
            var queued = Path.Combine(bed.Incoming, Path.GetFileName(path));
            File.Move(path, queued);
            return (queued, candidate);
        }
        throw new InvalidOperationException("no queue file fell into the shard in 5,000 tries");
    }
}
