using Akka.Actor;

namespace MailScanner.Actors.Queue;

/// <summary>
/// The bookkeeping of the <see cref="QueueWatcher"/>'s stop (<see cref="QueueWatcherProtocol.Stop"/>): who waits for the
/// answer, what became of each message in flight, and the answer once the stop has ended.
/// </summary>
internal sealed class StopInProgress(TimeSpan gracePeriod, int inFlightAtStart)
{
    private readonly List<IActorRef> _requesters = new();
    private int _finished, _handedBack, _leftClaimed;

    public TimeSpan GracePeriod { get; } = gracePeriod;
    public int InFlightAtStart { get; } = inFlightAtStart;

    /// <summary>Set when the grace period has passed and the messages still in flight were told to let go.</summary>
    public bool LettingGo { get; set; }

    /// <summary>The answer, once the stop has ended.</summary>
    public QueueWatcherProtocol.Stopped? Outcome { get; private set; }

    /// <summary>Someone who asked for the stop: answered when it ends (at once when it already has).</summary>
    public void AnswerWhenEnded(IActorRef requester)
    {
        if (Outcome is { } stopped) requester.Tell(stopped);
        else _requesters.Add(requester);
    }

    public void Count(MessageOutcome outcome)
    {
        switch (outcome)
        {
            case MessageOutcome.Finished: _finished++; break;
            case MessageOutcome.HandedBack: _handedBack++; break;
            default: _leftClaimed++; break;
        }
    }

    /// <summary>Ends the stop, counting <paramref name="stillClaimed"/> messages as left claimed; <see cref="AnswerRequesters"/> tells.</summary>
    public QueueWatcherProtocol.Stopped End(int stillClaimed) =>
        Outcome ??= new QueueWatcherProtocol.Stopped(_finished, _handedBack, _leftClaimed + stillClaimed);

    public void AnswerRequesters()
    {
        if (Outcome is not { } stopped) throw new InvalidOperationException("the stop has not ended");
        foreach (var requester in _requesters) requester.Tell(stopped);
    }

    /// <summary>What became of one message in flight during the stop.</summary>
    public enum MessageOutcome { Finished, HandedBack, LeftClaimed }
}
