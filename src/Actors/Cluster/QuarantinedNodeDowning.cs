using Akka.Actor;
using Akka.Cluster;
using Akka.Event;
using Akka.Remote;

namespace MailScanner.Actors.Cluster;

/// <summary>
/// Downs this node when another node reports that it has quarantined it. A node the others downed and removed while it
/// could not hear them (a frozen virtual machine, a long pause, a partition) is quarantined by them: they will never
/// talk to it again, and it may not learn from their gossip that it was downed. On thawing it sees every other node as
/// unreachable, and Akka.NET's split-brain resolver, which does not act on quarantine (akkadotnet/akka.net#8482), can
/// then down the others from its side and form a cluster of its own: a second queue watcher and a second journal on
/// the same queue. Seen here: a node frozen with SIGSTOP until the others removed it did exactly that in two runs of
/// four (both while another test suite loaded the machine). The quarantine notice comes at its first contact after thawing, well before its resolver can decide, so
/// downing itself then stops it first; it exits 3 and its service manager starts it afresh, to rejoin.
/// </summary>
/// <remarks>
/// Only a notice from a node this node still counts as a member is obeyed: one this node has downed, or that is
/// exiting or already removed, speaks for no cluster. Seen in the crash harness: a node that had just rejoined was
/// downed by the leader the moment another node was killed, and as it went it quarantined the leader; obeyed, that
/// notice downed the leader too, and no node was left to deliver anything. The frozen node is not misled by this:
/// when the notice comes it has had no gossip since it froze, so the others are still members (unreachable) there.
/// </remarks>
public sealed class QuarantinedNodeDowning : ReceiveActor
{
    public const string Name = "quarantined-node-downing";

    public QuarantinedNodeDowning()
    {
        var log = Context.GetLogger();
        var cluster = Akka.Cluster.Cluster.Get(Context.System);
        Receive<ThisActorSystemQuarantinedEvent>(quarantined =>
        {
            // A removed member is no longer among the members at all.
            var remote = cluster.State.Members.FirstOrDefault(m => m.Address.Equals(quarantined.RemoteAddress));
            if (remote is null || remote.Status is MemberStatus.Down or MemberStatus.Exiting)
            {
                log.Warning("Node {Remote} has quarantined this node {Local}, but it is {Status} here, not a member that speaks for the cluster: ignored",
                    quarantined.RemoteAddress, quarantined.LocalAddress, remote is null ? "no member" : remote.Status.ToString().ToLowerInvariant());
                return;
            }
            log.Error("Node {Remote} has quarantined this node {Local}: the others removed it from the cluster while it could not " +
                      "hear them, and will never talk to it again; it downs itself so that it stops and is started afresh",
                quarantined.RemoteAddress, quarantined.LocalAddress);
            cluster.Down(cluster.SelfAddress);
        });
    }

    protected override void PreStart() => Context.System.EventStream.Subscribe(Self, typeof(ThisActorSystemQuarantinedEvent));

    public static Props Props() => Akka.Actor.Props.Create(() => new QuarantinedNodeDowning());
}
