using System.Collections.Concurrent;
using Microsoft.Win32.SafeHandles;

namespace MailScanner.Actors.Messages;

/// <summary>
/// Closes the descriptors of deleted originals on a thread of its own. Closing the last reference to an
/// unlinked file is when the kernel frees its blocks, and on a file system mounted with <c>discard</c> that
/// waits for the device (measured here: a third of all the gateway's thread switches). The message is already
/// gone from every directory by then, so nothing waits for it but the inode number's reuse.
/// </summary>
public sealed class DeferredCloser : IDisposable
{
    // Bounded so that a slow device cannot make us hoard descriptors: when full, the caller closes itself.
    private readonly BlockingCollection<SafeFileHandle> _pending = new(boundedCapacity: 1024);
    private readonly Thread _closer;

    public DeferredCloser()
    {
        _closer = new Thread(CloseLoop) { IsBackground = true, Name = "deferred-closer" };
        _closer.Start();
    }

    public void Close(SafeFileHandle handle)
    {
        if (!_pending.IsAddingCompleted && _pending.TryAdd(handle)) return;
        handle.Dispose();
    }

    private void CloseLoop()
    {
        foreach (var handle in _pending.GetConsumingEnumerable()) handle.Dispose();
    }

    public void Dispose()
    {
        _pending.CompleteAdding();
        _closer.Join();
        _pending.Dispose();
    }
}
