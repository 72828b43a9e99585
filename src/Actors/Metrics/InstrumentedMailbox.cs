using System.Collections.Concurrent;
using System.Diagnostics;
using Akka.Actor;
using Akka.Configuration;
using Akka.Dispatch;
using Akka.Dispatch.MessageQueues;

namespace MailScanner.Actors.Metrics;

/// <summary>
/// The unbounded mailbox every actor gets while metrics are on (Akka's default one and the deque-based one that stashing
/// actors need): it stamps each message as it is enqueued and, when the actor takes it, records how long it waited
/// (<c>akka_messages_latency_milliseconds</c>), counts it (<c>akka_messages_recv_msgs_total</c>) and keeps the depth of all
/// mailboxes of the actor's type (<c>akka_actor_mailbox_depth_msgs</c>). Akka.NET has no hook for this short of a mailbox.
/// Measured cost: see bench/README.md (metrics on against off).
/// </summary>
public sealed class InstrumentedMailbox(Akka.Actor.Settings settings, Config config)
    : MailboxType(settings, config), IProducesMessageQueue<InstrumentedMessageQueue>
{
    /// <summary>What makes every actor of a system use this mailbox.</summary>
    public static readonly string Hocon = $$"""
        akka.actor.default-mailbox.mailbox-type = "{{typeof(InstrumentedMailbox).AssemblyQualifiedName}}"
        akka.actor.mailbox.unbounded-deque-based.mailbox-type = "{{typeof(InstrumentedMailbox).AssemblyQualifiedName}}"
        """;

    public override IMessageQueue Create(IActorRef owner, ActorSystem system)
    {
        var metrics = ActorSystemMetrics.For(system);
        var actorType = (owner as ActorRefWithCell)?.Underlying.Props.Type ?? typeof(ActorBase);
        return new InstrumentedMessageQueue(metrics, metrics.CountersFor(actorType));
    }
}

/// <summary>
/// A FIFO of (message, enqueue time) with a prepend stack for unstashed messages, as Akka's own
/// <c>DequeWrapperMessageQueue</c> does; <see cref="EnqueueFirst"/> is only ever called from the owning actor's thread.
/// </summary>
public sealed class InstrumentedMessageQueue : IMessageQueue, IUnboundedDequeBasedMessageQueueSemantics
{
    private readonly ConcurrentQueue<(Envelope Envelope, long EnqueuedAt)> _queue = new();
    private readonly Stack<Envelope> _prepended = new();
    private readonly ActorSystemMetrics _metrics;
    private readonly ActorTypeCounters _counters;

    internal InstrumentedMessageQueue(ActorSystemMetrics metrics, ActorTypeCounters counters)
    {
        _metrics = metrics;
        _counters = counters;
    }

    public bool HasMessages => _prepended.Count > 0 || !_queue.IsEmpty;
    public int Count => _queue.Count + _prepended.Count;

    public void Enqueue(IActorRef receiver, Envelope envelope)
    {
        _queue.Enqueue((envelope, Stopwatch.GetTimestamp()));
        Interlocked.Increment(ref _counters.MailboxDepth);
    }

    public void EnqueueFirst(Envelope envelope)
    {
        _prepended.Push(envelope);
        Interlocked.Increment(ref _counters.MailboxDepth);
    }

    public bool TryDequeue(out Envelope envelope)
    {
        // Unstashed messages were received (and counted) once already.
        if (_prepended.Count > 0)
        {
            envelope = _prepended.Pop();
            Interlocked.Decrement(ref _counters.MailboxDepth);
            return true;
        }
        if (!_queue.TryDequeue(out var entry))
        {
            envelope = default;
            return false;
        }
        envelope = entry.Envelope;
        Interlocked.Decrement(ref _counters.MailboxDepth);
        _metrics.MessageTaken(_counters, Stopwatch.GetElapsedTime(entry.EnqueuedAt).TotalMilliseconds);
        return true;
    }

    public void CleanUp(IActorRef owner, IMessageQueue deadletters)
    {
        while (TryDequeueUncounted(out var envelope)) deadletters.Enqueue(owner, envelope);
    }

    private bool TryDequeueUncounted(out Envelope envelope)
    {
        if (_prepended.Count > 0) envelope = _prepended.Pop();
        else if (_queue.TryDequeue(out var entry)) envelope = entry.Envelope;
        else
        {
            envelope = default;
            return false;
        }
        Interlocked.Decrement(ref _counters.MailboxDepth);
        return true;
    }
}
