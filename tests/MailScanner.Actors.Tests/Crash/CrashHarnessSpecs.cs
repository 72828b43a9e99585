using MailScanner.Actors.CrashHarness;
using Xunit;
using Xunit.Abstractions;

namespace MailScanner.Actors.Tests.Crash;

/// <summary>
/// The short form of issue 4's crash test (the long form: <c>dotnet run --project tests/MailScanner.Actors.CrashHarness
/// -- --kills 100</c>). It runs alone, after the parallel specs: it keeps two gateway processes' worth of CPU busy,
/// and other specs' timing should not depend on it, nor its kill moments on theirs.
/// </summary>
[Collection(nameof(CrashHarnessSpecs))]
public sealed class CrashHarnessSpecs(ITestOutputHelper output)
{
    [Fact]
    public async Task Should_lose_and_duplicate_nothing_across_20_kills()
    {
        using var patience = new CancellationTokenSource(TimeSpan.FromMinutes(10));

        // Every third life killed after its first delivery (the standalone default is every second one) and half the
        // producer's default rate: a life meant to die while delivering waits out the gateway's start-up recovery
        // first (5-8 s measured on the loaded 2-core machine), and the short form has ~90 s.
        var options = new CrashHarnessOptions { Kills = 20, DeliveringKillEvery = 3, MessagesPerSecond = 25 };

        var report = await CrashRunner.RunAsync(options, output.WriteLine, patience.Token);

        output.WriteLine(report.Line);
        Console.WriteLine(report.Line);
        // Lost and duplicated seqs, leftovers (incoming, work, bad, temp files) and gateway problems, all in one message.
        Assert.True(report.Passed && report.Kills == 20, $"{report.Line}{Environment.NewLine}{report.Describe()}");
        output.WriteLine(report.Describe());
    }

    [Fact]
    public async Task Should_lose_and_duplicate_nothing_across_10_kills_on_a_postfix_queue()
    {
        using var patience = new CancellationTokenSource(TimeSpan.FromMinutes(5));

        // Postfix hold files written as cleanup writes them, short queue ids carrying the inode; the long form:
        // `--format postfix --kills 100`.
        var options = new CrashHarnessOptions { Format = HarnessQueue.Postfix, Kills = 10, DeliveringKillEvery = 3, MessagesPerSecond = 25 };

        var report = await CrashRunner.RunAsync(options, output.WriteLine, patience.Token);

        output.WriteLine(report.Line);
        Assert.True(report.Passed && report.Kills == 10, $"{report.Line}{Environment.NewLine}{report.Describe()}");
        output.WriteLine(report.Describe());
    }
}

[CollectionDefinition(nameof(CrashHarnessSpecs), DisableParallelization = true)]
public sealed class CrashHarnessCollection;
