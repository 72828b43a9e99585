using Akka.Actor;
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
public sealed class QuarantinedNodeDowning : ReceiveActor
{
    public const string Name = "quarantined-node-downing";

    public QuarantinedNodeDowning()
    {
        var log = Context.GetLogger();
        var cluster = Akka.Cluster.Cluster.Get(Context.System);
        Receive<ThisActorSystemQuarantinedEvent>(quarantined =>
        {
            log.Error("Node {Remote} has quarantined this node {Local}: the others removed it from the cluster while it could not " +
                      "hear them, and will never talk to it again; it downs itself so that it stops and is started afresh",
                quarantined.RemoteAddress, quarantined.LocalAddress);
            cluster.Down(cluster.SelfAddress);
        });
    }

    protected override void PreStart() => Context.System.EventStream.Subscribe(Self, typeof(ThisActorSystemQuarantinedEvent));

    public static Props Props() => Akka.Actor.Props.Create(() => new QuarantinedNodeDowning());
}
