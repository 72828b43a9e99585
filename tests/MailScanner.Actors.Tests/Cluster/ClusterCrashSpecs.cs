using MailScanner.Actors.CrashHarness;
using MailScanner.Actors.Tests.Crash;
using Xunit;
using Xunit.Abstractions;

namespace MailScanner.Actors.Tests.Cluster;

/// <summary>
/// The crash harness's runs on PostgreSQL (<see cref="FleetRunner"/>), short forms of issue 15's: real gateway processes
/// on one ext4 queue that a concurrent producer keeps filling and a private PostgreSQL journal, then the census of every
/// message. The long form: <c>dotnet run --project tests/MailScanner.Actors.CrashHarness -- --cluster 3 --messages 10000 --kills 5</c>.
/// They run alone, after the parallel specs, like the other crash runs: three gateways keep the machine busy.
/// </summary>
[Collection(nameof(CrashHarnessSpecs))]
public sealed class ClusterCrashSpecs(ITestOutputHelper output)
{
    [Fact]
    public async Task Should_lose_and_duplicate_nothing_when_a_node_of_three_is_killed_twice_and_the_others_take_its_work_over()
    {
        using var patience = new CancellationTokenSource(TimeSpan.FromMinutes(8));
        // The first kill takes the node running the watcher and the journal, the second another one.
        var options = new CrashHarnessOptions { ClusterNodes = 3, Messages = 600, Kills = 2, MessagesPerSecond = 20 };

        var report = await Run(options, patience.Token);

        Assert.True(report.Passed && report.Kills == 2 && report.Takeovers == 2, $"{report.Line}{Environment.NewLine}{report.Describe()}");
        Assert.Equal(2, report.Events.Count(e => e.Contains("downed by the others after", StringComparison.Ordinal)));
        Assert.Single(report.Events, e => e.Contains("(running the watcher and the journal) SIGKILLed", StringComparison.Ordinal) &&
                                          e.Contains("watcher started on n", StringComparison.Ordinal));
    }

    /// <param name="clusterNodes">3: a cluster sharing the journal; 0: one gateway on its own with the PostgreSQL journal.</param>
    [Theory]
    [InlineData(3)]
    [InlineData(0)]
    public async Task Should_lose_and_duplicate_nothing_and_resume_by_itself_when_PostgreSQL_is_stopped_for_10_seconds(int clusterNodes)
    {
        using var patience = new CancellationTokenSource(TimeSpan.FromMinutes(6));
        var options = new CrashHarnessOptions
        {
            ClusterNodes = clusterNodes, PostgreSql = true, Messages = 750, Kills = 0, MessagesPerSecond = 25, PostgresOutage = TimeSpan.FromSeconds(10),
        };

        var report = await Run(options, patience.Token);

        // Passed includes: deliveries went on after the server came back, and the log said both what happened and that it is over.
        Assert.True(report.Passed, $"{report.Line}{Environment.NewLine}{report.Describe()}");
        Assert.Contains(report.Events, e => e.StartsWith("PostgreSQL stopped at", StringComparison.Ordinal) && e.Contains("deliveries went on", StringComparison.Ordinal));
        Assert.Contains(report.Events, e => e.Contains("[WRN] The message journal (postgresql://127.0.0.1:", StringComparison.Ordinal) &&
                                            e.Contains(") is unavailable: messages cannot be written there", StringComparison.Ordinal));
        Assert.Contains(report.Events, e => e.Contains("[INF] The message journal (postgresql://127.0.0.1:", StringComparison.Ordinal) &&
                                            e.Contains(") is available again after", StringComparison.Ordinal));
    }

    private async Task<CrashReport> Run(CrashHarnessOptions options, CancellationToken cancel)
    {
        var report = await FleetRunner.RunAsync(options, output.WriteLine, cancel);
        output.WriteLine(report.Describe());
        output.WriteLine(report.Line);
        return report;
    }
}
