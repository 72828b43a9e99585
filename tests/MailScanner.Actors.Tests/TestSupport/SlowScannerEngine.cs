using Akka.Actor;
using MailScanner.Actors.Scanning;
using MailScanner.Actors.Scanning.Engines;

namespace MailScanner.Actors.Tests.TestSupport;

/// <summary>
/// A scanner engine that answers "nothing found" after a random delay up to <c>maxDelay</c>, or never (null): messages
/// stay in flight as long as a test needs, without blocking a thread.
/// </summary>
public sealed class SlowScannerEngine : ReceiveActor, IWithTimers
{
    public ITimerScheduler Timers { get; set; } = null!;

    public SlowScannerEngine(TimeSpan? maxDelay)
    {
        Receive<ScannerEngine.Scan>(scan =>
        {
            if (maxDelay is not { } max) return;
            var delay = TimeSpan.FromTicks(Random.Shared.NextInt64(max.Ticks));
            Timers.StartSingleTimer(scan.MessageKey, new Answer(scan.MessageKey, Sender), delay);
        });
        Receive<Answer>(answer => answer.To.Tell(new ScannerEngine.Scanned(answer.MessageKey, ScanReport.Nothing("slow"))));
    }

    public static Props PropsFor(TimeSpan? maxDelay) => Props.Create(() => new SlowScannerEngine(maxDelay));

    private sealed record Answer(string MessageKey, IActorRef To);
}
