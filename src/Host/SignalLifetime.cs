using System.Runtime.InteropServices;
using Microsoft.Extensions.Hosting;
using Serilog;

namespace MailScanner.Actors.Host;

/// <summary>
/// The host's lifetime: the first SIGTERM or SIGINT stops the host (and with it Akka's coordinated shutdown, in which
/// the messages in flight get the grace period); a second one, while that stop is under way, ends the process at once.
/// That is as safe as a crash: claims left in the work area are resumed at the next start, and the journal keeps a
/// recorded delivery from being repeated.
/// </summary>
/// <remarks>
/// In place of the generic host's console lifetime, whose handlers keep the thread that dispatches signals busy until
/// the stop is over, so that a second signal would never be seen.
/// </remarks>
internal sealed partial class SignalLifetime(IHostApplicationLifetime lifetime) : IHostLifetime, IDisposable
{
    private const int SigInt = 2, SigTerm = 15;

    private PosixSignalRegistration[] _registrations = [];
    private int _received;

    public Task WaitForStartAsync(CancellationToken cancellationToken)
    {
        _registrations =
        [
            PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal),
            PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal),
        ];
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Exit code of a stop cut short by a second signal: 128 + the signal's number, as a shell reports a death by it.</summary>
    public static int ExitCodeFor(PosixSignal signal) => 128 + (signal == PosixSignal.SIGINT ? SigInt : SigTerm);

    private void OnSignal(PosixSignalContext context)
    {
        context.Cancel = true;
        if (Interlocked.Increment(ref _received) == 1)
        {
            // Off the signal thread: whatever runs on ApplicationStopping must not keep the next signal waiting.
            ThreadPool.QueueUserWorkItem(_ => lifetime.StopApplication());
            return;
        }
        Log.Warning("Second {Signal}: stopping at once; messages still in flight stay claimed in the work area and are resumed at the next start",
            context.Signal);
        Log.CloseAndFlush();
        // _exit, not Environment.Exit: that would run the process-exit handlers, and Akka's waits for the very stop
        // this signal is meant to cut short.
        ExitNow(ExitCodeFor(context.Signal));
    }

    [LibraryImport("libc", EntryPoint = "_exit")]
    private static partial void ExitNow(int status);

    public void Dispose()
    {
        foreach (var registration in _registrations) registration.Dispose();
    }
}
