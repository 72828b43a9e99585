using System.Diagnostics;
using System.Globalization;

namespace MailScanner.Actors.CrashHarness;

/// <summary>
/// The MTA side: writes numbered messages into the incoming queue at a steady rate, whether the gateway is up,
/// starting or just killed, the way ZMailer's router queue is written (temp file in the queue directory, write,
/// fsync, rename to its own inode number without replacing anything).
/// </summary>
internal sealed class Producer(string incoming, double messagesPerSecond, int infectedEvery)
{
    private Task? _loop;
    private int _produced;
    private volatile int _stopAt = int.MaxValue;

    /// <summary>Messages completely queued so far: sequence numbers 0 .. Produced-1.</summary>
    public int Produced => Volatile.Read(ref _produced);

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
                Write(Produced);
                Volatile.Write(ref _produced, Produced + 1);
            }
        }
        while (Produced < _stopAt && await tick.WaitForNextTickAsync(cancel));
    }

    private void Write(int seq)
    {
        var temp = Path.Combine(incoming, string.Create(CultureInfo.InvariantCulture, $"tf-harness-{seq}"));
        using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
        {
            file.Write(HarnessMessage.Create(seq, infectedEvery));
            file.Flush(flushToDisk: true);
        }
        Libc.RenameNoReplace(temp, Path.Combine(incoming, Libc.Inode(temp).ToString(CultureInfo.InvariantCulture)));
    }
}
