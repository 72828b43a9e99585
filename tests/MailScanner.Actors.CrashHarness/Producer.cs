using System.Diagnostics;

namespace MailScanner.Actors.CrashHarness;

/// <summary>
/// The MTA side: writes numbered messages into the incoming queue at a steady rate, whether the gateway is up,
/// starting or just killed, the way the MTA writes its queue (<see cref="HarnessQueue.Write"/>: ZMailer's router
/// queue, Postfix's hold queue; each durably, under a temp name, then renamed to its queue name without replacing).
/// </summary>
internal sealed class Producer(HarnessQueue queue, double messagesPerSecond, int infectedEvery)
{
    private Task? _loop;
    private int _produced;
    private volatile int _stopAt = int.MaxValue;

    /// <summary>Messages completely queued so far: sequence numbers 0 .. Produced-1.</summary>
    public int Produced => Volatile.Read(ref _produced);

    /// <summary>Writes no more than <paramref name="count"/> messages, however long the run goes on.</summary>
    public void Limit(int count) => _stopAt = count;

    public void Start(CancellationToken cancel) => _loop = Task.Run(() => RunAsync(cancel), CancellationToken.None);

    /// <summary>
    /// Stops after the message being written, but not before <paramref name="atLeast"/> messages are queued
    /// (at the same rate); returns how many were queued in all.
    /// </summary>
    public async Task<int> StopAsync(int atLeast)
    {
        _stopAt = Math.Max(atLeast, 0);
        if (_loop is not null) await _loop; // rethrows a write failure: a run whose producer failed proves nothing
        return Produced;
    }

    private async Task RunAsync(CancellationToken cancel)
    {
        var clock = Stopwatch.StartNew();
        using var tick = new PeriodicTimer(TimeSpan.FromMilliseconds(10));
        do
        {
            // Catch up to the schedule: a slow fsync delays messages but never lowers the rate.
            var due = (long)(clock.Elapsed.TotalSeconds * messagesPerSecond) + 1;
            while (Produced < due && Produced < _stopAt)
            {
                queue.Write(Produced, infectedEvery);
                Volatile.Write(ref _produced, Produced + 1);
            }
        }
        while (Produced < _stopAt && await tick.WaitForNextTickAsync(cancel));
    }
}
