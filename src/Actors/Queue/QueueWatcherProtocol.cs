namespace MailScanner.Actors.Queue;

/// <summary>What the gateway (and the specs) say to the <see cref="QueueWatcher"/>, and what it answers.</summary>
public static class QueueWatcherProtocol
{
    /// <summary>List the queue now (the periodic timer and inotify send this too).</summary>
    public sealed record ScanQueue
    {
        public static readonly ScanQueue Instance = new();
    }

    public sealed record GetStatus
    {
        public static readonly GetStatus Instance = new();
    }

    /// <param name="Coordinators">The batch coordinators it hands messages to: its children on one node, every registered one in a cluster.</param>
    public sealed record Status(int Candidates, int Admitting, int InFlight, int Coordinators = 0);

    /// <summary>
    /// The gateway is stopping (sent by its coordinated-shutdown task): admit nothing more, give the messages in flight
    /// <paramref name="GracePeriod"/> to finish, then have the rest let go of their files, and answer
    /// <see cref="Stopped"/> by <paramref name="GracePeriod"/> + <paramref name="LetGoAllowance"/> at the latest.
    /// </summary>
    public sealed record Stop(TimeSpan GracePeriod, TimeSpan LetGoAllowance);

    /// <param name="Finished">Delivered, quarantined or deleted during the stop (or refused as malformed).</param>
    /// <param name="HandedBack">Back in the incoming queue, untouched, to be processed again.</param>
    /// <param name="LeftClaimed">Still in the work area when the stop ended: the next start resumes them.</param>
    public sealed record Stopped(int Finished, int HandedBack, int LeftClaimed);
}
