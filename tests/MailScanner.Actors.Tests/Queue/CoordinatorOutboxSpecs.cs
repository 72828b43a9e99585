using Akka.Actor;
using Akka.TestKit.Xunit2;
using MailScanner.Actors.Batching;
using MailScanner.Actors.Cluster;
using MailScanner.Actors.Identity;
using MailScanner.Actors.Queue;
using Xunit;

namespace MailScanner.Actors.Tests.Queue;

public sealed class CoordinatorOutboxSpecs : TestKit
{
    private static BatchCoordinatorProtocol.Enqueue Message(ulong inode) => new(new FileIdentity(1, inode, 0), inode.ToString(), 100);

    [Fact]
    public void Should_send_each_coordinator_its_share_as_one_message_and_flush_only_those_given_messages()
    {
        var (busy, other, idle) = (CreateTestProbe(), CreateTestProbe(), CreateTestProbe());
        var outbox = new CoordinatorOutbox();

        Assert.True(outbox.Add(busy.Ref, Message(1)));
        Assert.False(outbox.Add(busy.Ref, Message(2)));
        Assert.False(outbox.Add(other.Ref, Message(3)));
        outbox.FlushAll();
        outbox.SendAll(TestActor);

        var many = busy.ExpectMsg<BatchCoordinatorProtocol.EnqueueMany>();
        Assert.Equal([1UL, 2UL], many.Messages.Select(m => m.Identity.Inode));
        Assert.True(many.Flush);
        Assert.True(other.ExpectMsg<BatchCoordinatorProtocol.EnqueueMany>().Flush);
        idle.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public void Should_flush_a_coordinator_whose_messages_went_before_nothing_more_was_coming()
    {
        var coordinator = CreateTestProbe();
        var outbox = new CoordinatorOutbox();

        outbox.Add(coordinator.Ref, Message(1));
        outbox.SendAll(TestActor);
        Assert.False(coordinator.ExpectMsg<BatchCoordinatorProtocol.EnqueueMany>().Flush);

        Assert.True(outbox.FlushAll()); // empty before: the caller must arrange a send
        outbox.SendAll(TestActor);
        coordinator.ExpectMsg<BatchCoordinatorProtocol.Flush>();

        Assert.False(outbox.FlushAll()); // flushed already: nothing to send
        outbox.SendAll(TestActor);
        coordinator.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public void Should_send_nothing_to_a_coordinator_it_was_told_to_forget()
    {
        var coordinator = CreateTestProbe();
        var outbox = new CoordinatorOutbox();

        outbox.Add(coordinator.Ref, Message(1));
        outbox.Forget(coordinator.Ref);
        outbox.FlushAll();
        outbox.SendAll(TestActor);

        coordinator.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public void Should_cut_a_large_share_into_pieces_that_fit_one_remote_message_and_flush_after_the_last()
    {
        var coordinator = CreateTestProbe();
        var outbox = new CoordinatorOutbox();
        for (var inode = 1UL; inode <= 2000; inode++) outbox.Add(coordinator.Ref, Message(inode));
        outbox.FlushAll();
        outbox.SendAll(TestActor);

        var serializer = new ClusterProtocolSerializer((ExtendedActorSystem)Sys);
        var pieces = Enumerable.Range(0, 8).Select(_ => coordinator.ExpectMsg<BatchCoordinatorProtocol.EnqueueMany>()).ToList();
        coordinator.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
        Assert.Equal(Enumerable.Range(1, 2000).Select(i => (ulong)i), pieces.SelectMany(p => p.Messages).Select(m => m.Identity.Inode));
        Assert.All(pieces, piece => Assert.True(serializer.ToBinary(piece).Length < RemoteFrameSizeDefault));
        Assert.Equal([false, false, false, false, false, false, false, true], pieces.Select(p => p.Flush));
    }

    /// <summary>Akka.Remote's default maximum frame size: a message over it is dropped.</summary>
    internal const int RemoteFrameSizeDefault = 128_000;
}
