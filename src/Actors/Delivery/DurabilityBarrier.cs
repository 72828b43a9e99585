using MailScanner.Actors.Identity;
using Microsoft.Win32.SafeHandles;

namespace MailScanner.Actors.Delivery;

/// <summary>
/// Group commit for the file systems a delivery touches. Each writer asks "make what I wrote durable"; one round of
/// syncfs (one call per distinct file system) then answers every request made before it started. Under load, hundreds
/// of messages share one flush instead of paying an fsync each — that is how the gateway beats a serial
/// write-fsync-rename loop.
/// </summary>
/// <remarks>
/// <para>
/// The gateway gives one barrier to everything on a delivery's path: the outgoing queue, the quarantine, the work area
/// (where the claimed originals are unlinked) and the SQLite journal's state directory, which runs in
/// <c>synchronous=NORMAL</c> and is made durable by these rounds instead of by an fsync of its own (see
/// <see cref="ExactlyOnceDelivery"/> for the ordering). Directories on one file system share one syncfs.
/// </para>
/// <para>
/// Like PostgreSQL's commit_delay, a round waits a moment after its first request so that the writers busy
/// alongside it can join: measured here, flushing at once averaged 2 messages per syncfs, and each extra
/// flush also stalls every unlink, rename and close on the file system while it runs. And like commit_siblings, it
/// waits only when the round before it answered at least <see cref="GatherSiblings"/> requests: on a quiet gateway
/// nobody would join, and each message passes four barriers, so the wait would be four gather delays on every
/// message's latency for nothing. Under load the round before is always a full one.
/// </para>
/// </remarks>
public sealed class DurabilityBarrier : IDisposable
{
    private readonly IReadOnlyList<SafeFileHandle> _fileSystems;
    private readonly object _gate = new();
    private List<TaskCompletionSource> _waiting = new();
    private readonly Thread _flusher;
    private bool _stopping;

    /// <summary>How many requests the previous round must have answered for the next one to wait for company.</summary>
    public const int GatherSiblings = 4;

    private readonly TimeSpan _gatherDelay;
    private readonly Action? _beforeFlush;
    private int _previousRoundSize;

    public DurabilityBarrier(string directoryOnFileSystem, TimeSpan? gatherDelay = null)
        : this([directoryOnFileSystem], gatherDelay)
    {
    }

    /// <param name="directories">Every directory whose writes this barrier must make durable; one syncfs per file system among them.</param>
    /// <param name="beforeFlush">
    /// Specs only: runs on the flushing thread once a round's requests are taken and before it flushes, so a power-cut
    /// recorder can keep exactly the state that round makes durable.
    /// </param>
    public DurabilityBarrier(IEnumerable<string> directories, TimeSpan? gatherDelay = null, Action? beforeFlush = null)
    {
        _gatherDelay = gatherDelay ?? TimeSpan.FromMilliseconds(1);
        _beforeFlush = beforeFlush;
        var distinct = directories.Select(ExistingAncestor).Distinct().ToList();
        var handles = new List<SafeFileHandle>();
        foreach (var byDevice in distinct.GroupBy(NativeFile.DeviceOf)) handles.Add(NativeFile.OpenDirectory(byDevice.First()));
        _fileSystems = handles;
        _flusher = new Thread(FlushLoop) { IsBackground = true, Name = $"durability-barrier {string.Join(", ", distinct)}" };
        _flusher.Start();
    }

    /// <summary>The directory itself, or (one not made yet, as the quarantine before its first entry) the nearest that exists: on the same file system unless a mount comes between.</summary>
    private static string ExistingAncestor(string directory)
    {
        var path = Path.GetFullPath(directory);
        while (!Directory.Exists(path) && Path.GetDirectoryName(path) is { } parent) path = parent;
        return path;
    }

    /// <summary>Completes once a flush that started after this call has finished: everything written before it is on disk.</summary>
    public Task WhenDurableAsync()
    {
        var waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            if (_stopping) throw new ObjectDisposedException(nameof(DurabilityBarrier));
            _waiting.Add(waiter);
            Monitor.Pulse(_gate);
        }
        return waiter.Task;
    }

    private void FlushLoop()
    {
        while (true)
        {
            List<TaskCompletionSource> round;
            lock (_gate)
            {
                while (_waiting.Count == 0 && !_stopping) Monitor.Wait(_gate);
                if (_waiting.Count == 0) return;
            }
            if (_gatherDelay > TimeSpan.Zero && _previousRoundSize >= GatherSiblings) Thread.Sleep(_gatherDelay);
            lock (_gate)
            {
                round = _waiting;
                _waiting = new List<TaskCompletionSource>();
            }
            _previousRoundSize = round.Count;
            try
            {
                _beforeFlush?.Invoke();
                foreach (var fileSystem in _fileSystems) NativeFile.SyncFileSystem(fileSystem);
                foreach (var waiter in round) waiter.TrySetResult();
            }
            catch (Exception e)
            {
                foreach (var waiter in round) waiter.TrySetException(e);
            }
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _stopping = true;
            Monitor.PulseAll(_gate);
        }
        _flusher.Join();
        foreach (var fileSystem in _fileSystems) fileSystem.Dispose();
    }
}
