using System.Runtime.InteropServices;
using Serilog;

namespace MailScanner.Actors.Host;

/// <summary>
/// The first SIGTERM or SIGINT is the generic host's: its console lifetime stops the host, which runs Akka's coordinated
/// shutdown (the messages in flight get the grace period). A second one, while that stop is under way, ends the process
/// at once. That is as safe as a crash: claims left in the work area are resumed at the next start, and the journal keeps
/// a recorded delivery from being repeated.
/// </summary>
internal sealed partial class StopSignals : IDisposable
{
    private const int SigInt = 2, SigTerm = 15;

    private readonly PosixSignalRegistration[] _registrations;
    private int _received;

    public StopSignals() =>
        _registrations =
        [
            PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal),
            PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal),
        ];

    /// <summary>Exit code of a stop cut short by a second signal: 128 + the signal's number, as a shell reports a death by it.</summary>
    public static int ExitCodeFor(PosixSignal signal) => 128 + (signal == PosixSignal.SIGINT ? SigInt : SigTerm);

    private void OnSignal(PosixSignalContext context)
    {
        if (Interlocked.Increment(ref _received) == 1) return;
        context.Cancel = true;
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
