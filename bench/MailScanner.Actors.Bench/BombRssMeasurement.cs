using MailScanner.Actors.Tests.TestSupport;

namespace MailScanner.Actors.Bench;

internal sealed record BombRssResult(int Messages, double IdleMegabytes, double PeakMegabytes, double Seconds, string Stop);

/// <summary>
/// (h) Memory under attack: the gateway (defaults, built-in rules) idles, then 32 messages of issue 16's hostile
/// corpus (the bombs first, then the EICAR carriers, as many rounds as it takes; <c>tests/.../HostileCorpus.cs</c>,
/// compiled in) are written to its queue at once. Idle RSS is VmRSS after a quiet moment; the peak is VmHWM once all
/// are through. Targets: peak under 500 MB, and never above unpack-memory (256 MB) + idle + 150 MB.
/// </summary>
internal sealed class BombRssMeasurement(BenchWorkspace workspace, string gatewayDll, BenchOptions options)
{
    public const int Bombs = 32;
    public const double UnpackMemoryMegabytes = 256;

    public async Task<BombRssResult> RunAsync(CancellationToken cancel)
    {
        var area = workspace.NewArea("bombs");
        try
        {
            var directories = GatewayDirectories.CreateUnder(area);
            var corpus = HostileCorpus.All();
            var messages = Enumerable.Range(0, Bombs)
                .Select(i => new QueueMessage(i, "sender@attacker.example", ["victim@example.org"], corpus[i % corpus.Count].Message))
                .ToList();
            await using var gateway = GatewayProcess.Start(gatewayDll, directories, options.Coordinators, area);
            // Started and quiet: one message through, then a moment for the runtime to settle.
            var writer = new ZMailerQueueWriter(directories.Incoming, durable: true);
            writer.Write(QueueMessage.Small(Bombs));
            await QueueProgress.WaitUntilDrainedAsync(gateway, directories, 1, options.StallTimeout, null, cancel);
            await Task.Delay(TimeSpan.FromSeconds(3), cancel);
            var idleKb = gateway.CurrentRssKb() ?? throw new BenchFailure("could not read VmRSS from /proc: the gateway is gone");

            var clock = System.Diagnostics.Stopwatch.StartNew();
            foreach (var message in messages) writer.Write(message);
            await QueueProgress.WaitUntilDrainedAsync(gateway, directories, Bombs + 1, options.StallTimeout, null, cancel);
            var seconds = clock.Elapsed.TotalSeconds;
            var peakKb = gateway.PeakRssKb() ?? throw new BenchFailure("could not read VmHWM from /proc: the gateway is gone");
            var stop = await gateway.StopAsync();
            return new BombRssResult(Bombs, idleKb / 1024.0, peakKb / 1024.0, seconds, stop);
        }
        finally
        {
            workspace.Release(area);
        }
    }
}
