using Akka.Actor;
using Akka.Cluster;
using Akka.Remote;
using Akka.TestKit.Xunit2;
using MailScanner.Actors.Cluster;
using Xunit;

namespace MailScanner.Actors.Tests.Cluster;

/// <summary>
/// Which quarantine notices down this node: one from a member of the cluster does (the frozen node's case, run with real
/// processes in <c>ClusterProcessSpecs</c>); one from a node this node does not count as a member does not.
/// </summary>
public sealed class QuarantinedNodeDowningSpecs() : TestKit("""
    akka.actor.provider = cluster
    akka.remote.dot-netty.tcp.hostname = "127.0.0.1"
    akka.remote.dot-netty.tcp.port = 0
    akka.loglevel = INFO
    """)
{
    [Fact]
    public void Should_ignore_a_quarantine_notice_from_a_node_that_is_not_a_member_here_and_stay_up()
    {
        var cluster = UpWithDowning();
        // A node that went away (downed here, then removed) and quarantined this one as it went.
        var gone = new Address("akka.tcp", Sys.Name, "127.0.0.1", 1);

        EventFilter.Warning(contains: "but it is no member here").ExpectOne(TimeSpan.FromSeconds(10),
            () => Sys.EventStream.Publish(new ThisActorSystemQuarantinedEvent(cluster.SelfAddress, gone)));

        Assert.Equal(MemberStatus.Up, cluster.SelfMember.Status);
        Assert.False(Sys.WhenTerminated.IsCompleted);
    }

    [Fact]
    public void Should_down_this_node_on_a_quarantine_notice_from_a_member()
    {
        var cluster = UpWithDowning();

        // The only member here is this node itself: the notice stands for one from a member that removed it.
        EventFilter.Error(contains: "has quarantined this node").ExpectOne(TimeSpan.FromSeconds(10),
            () => Sys.EventStream.Publish(new ThisActorSystemQuarantinedEvent(cluster.SelfAddress, cluster.SelfAddress)));

        AwaitCondition(() => cluster.IsTerminated || cluster.SelfMember.Status is MemberStatus.Down or MemberStatus.Removed, TimeSpan.FromSeconds(20));
    }

    /// <summary>
    /// This node Up as a cluster of one, with the actor under test started and subscribed (it answers an Identify only
    /// after its PreStart, where it subscribes to the notices).
    /// </summary>
    private Akka.Cluster.Cluster UpWithDowning()
    {
        var cluster = Akka.Cluster.Cluster.Get(Sys);
        cluster.Join(cluster.SelfAddress);
        AwaitCondition(() => cluster.SelfMember.Status == MemberStatus.Up, TimeSpan.FromSeconds(20));
        var downing = Sys.ActorOf(QuarantinedNodeDowning.Props(), QuarantinedNodeDowning.Name);
        downing.Tell(new Identify(null));
        ExpectMsg<ActorIdentity>();
        return cluster;
    }
}
