using Akka.Actor;
using MailScanner.Actors.Cluster;
using Xunit;

namespace MailScanner.Actors.Tests.Cluster;

/// <summary>Which stops of the actor system end the process non-zero, and what the operator reads about them.</summary>
public sealed class ClusterExitSpecs
{
    [Fact]
    public void Should_treat_a_stop_by_signal_or_by_leaving_as_an_ordinary_exit_0()
    {
        Assert.Null(ClusterExit.Describe(null));
        Assert.Null(ClusterExit.Describe(CoordinatedShutdown.ClrExitReason.Instance));
        Assert.Null(ClusterExit.Describe(CoordinatedShutdown.ClusterLeavingReason.Instance));
        Assert.Null(ClusterExit.Describe(CoordinatedShutdown.ActorSystemTerminateReason.Instance));
    }

    [Fact]
    public void Should_name_downing_and_a_failed_join_with_their_own_non_zero_exit_codes()
    {
        Assert.Equal(3, CoordinatedShutdown.ClusterDowningReason.Instance.ExitCode);
        Assert.StartsWith("stopped by the cluster: the other nodes downed this one", ClusterExit.Describe(CoordinatedShutdown.ClusterDowningReason.Instance), StringComparison.Ordinal);
        Assert.Equal(4, CoordinatedShutdown.ClusterJoinUnsuccessfulReason.Instance.ExitCode);
        Assert.Contains("mailscanner.cluster.seed-nodes", ClusterExit.Describe(CoordinatedShutdown.ClusterJoinUnsuccessfulReason.Instance), StringComparison.Ordinal);
    }

    [Fact]
    public void Should_not_pass_off_a_stop_for_an_unknown_reason_as_a_clean_one()
    {
        Assert.Equal(1, CoordinatedShutdown.UnknownReason.Instance.ExitCode);
        Assert.Equal("stopped: its actor system was shut down (UnknownReason)", ClusterExit.Describe(CoordinatedShutdown.UnknownReason.Instance));
    }
}
