using Akka.Actor;

namespace MailScanner.Actors.Cluster;

/// <summary>
/// How a node ends when the cluster, not the operator, stopped it. A node the others downed (it was unreachable to them
/// for longer than the split-brain resolver waits, or it was on the minority side of a partition) shuts its actor system
/// down; so does one that could not join through its seed nodes. Such a stop must not look like a clean one: with exit
/// code 0 a service manager (systemd's <c>Restart=on-failure</c>) would leave the node down for good, and the cluster one
/// node short. Akka gives each reason its own non-zero code (3 for downing); the gateway exits with it.
/// </summary>
public static class ClusterExit
{
    /// <summary>
    /// What stopped this node and why, in an operator's words (it follows "mailscanner-actors" in the log), or null when
    /// the stop was an ordinary one (a signal, leaving the cluster) that exits 0.
    /// </summary>
    public static string? Describe(CoordinatedShutdown.Reason? reason) => reason switch
    {
        null => null,
        { ExitCode: 0 } => null,
        CoordinatedShutdown.ClusterDowningReason =>
            "stopped by the cluster: the other nodes downed this one (it was unreachable to them, or on the minority side of a network partition); " +
            "they have taken its queue watcher and its messages over, and it must be started again to rejoin",
        CoordinatedShutdown.ClusterJoinUnsuccessfulReason =>
            "stopped by the cluster: this node could not join the cluster through its seed nodes (mailscanner.cluster.seed-nodes) in time",
        _ => $"stopped: its actor system was shut down ({reason.GetType().Name})",
    };
}
