using Akka.Actor;
using MailScanner.Actors.Batching;

namespace MailScanner.Actors.Queue;

/// <summary>
/// What the <see cref="QueueWatcher"/> has assigned to each batch coordinator and not yet sent. The watcher gathers
/// its assignments while it works through its mailbox (a burst of Admitted answers) and then sends each coordinator
/// one <see cref="BatchCoordinatorProtocol.EnqueueMany"/>: in a cluster, one remote message for a burst rather than an
/// Enqueue per message and a Flush to every coordinator of every node.
/// </summary>
/// <remarks>
/// A flush (nothing more is coming, do not wait for the batch to fill) goes only to the coordinators given messages
/// since their last flush: the others have nothing forming that waits for it.
/// </remarks>
internal sealed class CoordinatorOutbox
{
    private readonly Dictionary<IActorRef, Pending> _pending = new();
    /// <summary>Given messages since their last flush.</summary>
    private readonly HashSet<IActorRef> _unflushed = new();

    /// <returns>True when the outbox was empty: the caller arranges for <see cref="SendAll"/>.</returns>
    public bool Add(IActorRef coordinator, BatchCoordinatorProtocol.Enqueue enqueue)
    {
        var wasEmpty = _pending.Count == 0;
        PendingFor(coordinator).Messages.Add(enqueue);
        _unflushed.Add(coordinator);
        return wasEmpty;
    }

    /// <summary>Nothing more is coming: every coordinator given messages since its last flush is flushed with the next send.</summary>
    /// <returns>True when the outbox was empty and now holds a flush: the caller arranges for <see cref="SendAll"/>.</returns>
    public bool FlushAll()
    {
        if (_unflushed.Count == 0) return false;
        var wasEmpty = _pending.Count == 0;
        foreach (var coordinator in _unflushed) PendingFor(coordinator).Flush = true;
        _unflushed.Clear();
        return wasEmpty;
    }

    public void SendAll(IActorRef sender)
    {
        foreach (var (coordinator, pending) in _pending)
        {
            if (pending.Messages.Count == 0) coordinator.Tell(BatchCoordinatorProtocol.Flush.Instance, sender);
            else
            {
                var chunks = BurstChunks.Of(pending.Messages).ToList();
                // The flush after the last piece: the coordinator then holds all of them.
                for (var i = 0; i < chunks.Count; i++)
                    coordinator.Tell(new BatchCoordinatorProtocol.EnqueueMany(chunks[i], pending.Flush && i == chunks.Count - 1), sender);
            }
        }
        _pending.Clear();
    }

    /// <summary>The coordinator is gone, or is about to be given all its messages again: nothing pending is sent to it.</summary>
    public void Forget(IActorRef coordinator)
    {
        _pending.Remove(coordinator);
        _unflushed.Remove(coordinator);
    }

    private Pending PendingFor(IActorRef coordinator)
    {
        if (!_pending.TryGetValue(coordinator, out var pending)) _pending[coordinator] = pending = new Pending();
        return pending;
    }

    private sealed class Pending
    {
        public List<BatchCoordinatorProtocol.Enqueue> Messages { get; } = [];
        public bool Flush { get; set; }
    }
}
