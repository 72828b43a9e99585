using MailScanner.Actors.Scanning;

namespace MailScanner.Actors.Metrics;

/// <summary>
/// What the status page shows, read from the same counters as <c>/metrics</c>: totals by outcome and verdict, the queue,
/// latency percentiles, scanner health and the last outcomes (queue id, verdict, action, time; no content, and the
/// addresses only when <paramref name="showAddresses"/>).
/// The page computes rates from two successive snapshots.
/// </summary>
public sealed class StatusSnapshot(PipelineCounters counters, ActorSystemMetrics? actors, bool showAddresses = false)
{
    public StatusData Take()
    {
        var queue = counters.Queue;
        return new StatusData(
            DateTimeOffset.UtcNow,
            PipelineCounters.OutcomeNames.ToDictionary(name => name, counters.Outcome),
            Enum.GetValues<VerdictKind>().ToDictionary(PipelineCounters.VerdictLabel, counters.VerdictCount),
            counters.Absorbed,
            queue?.Depth,
            queue?.OldestAge.TotalSeconds,
            counters.LatencyPercentile(0.5),
            counters.LatencyPercentile(0.95),
            counters.LatencyPercentile(0.99),
            counters.ScannersUp,
            actors?.LiveActors(typeof(Messages.MessageActor)),
            showAddresses ? counters.Recent : counters.Recent.Select(r => r.WithoutAddresses()).ToList());
    }
}

public sealed record StatusData(
    DateTimeOffset At,
    IReadOnlyDictionary<string, long> Outcomes,
    IReadOnlyDictionary<string, long> Verdicts,
    long DeletesAbsorbed,
    long? QueueDepth,
    double? QueueOldestAgeSeconds,
    double? LatencyP50Seconds,
    double? LatencyP95Seconds,
    double? LatencyP99Seconds,
    IReadOnlyDictionary<string, bool> ScannersUp,
    long? MessagesInFlight,
    IReadOnlyList<RecentOutcome> Recent);
