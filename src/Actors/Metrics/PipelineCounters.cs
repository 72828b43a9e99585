namespace MailScanner.Actors.Metrics;

/// <summary>
/// Running totals of message outcomes for this node. Actors only ever add; readers (tests, the bench,
/// later the metrics exporter) take snapshots. Plain Interlocked counters keep the hot path free of locks.
/// </summary>
public sealed class PipelineCounters
{
    private long _admitted, _delivered, _quarantined, _deleted, _absorbed, _refused, _failed, _batches;

    public long Admitted => Interlocked.Read(ref _admitted);
    public long Delivered => Interlocked.Read(ref _delivered);
    public long Quarantined => Interlocked.Read(ref _quarantined);
    public long Deleted => Interlocked.Read(ref _deleted);
    /// <summary>Commands acknowledged without effect because their file was already gone (the seed's repeated deletes).</summary>
    public long Absorbed => Interlocked.Read(ref _absorbed);
    /// <summary>Entries moved aside (or left in place) as malformed.</summary>
    public long Refused => Interlocked.Read(ref _refused);
    /// <summary>Processing attempts that failed and released the message back to the incoming queue.</summary>
    public long Failed => Interlocked.Read(ref _failed);
    public long Batches => Interlocked.Read(ref _batches);

    internal void CountAdmitted() => Interlocked.Increment(ref _admitted);
    internal void CountDelivered() => Interlocked.Increment(ref _delivered);
    internal void CountQuarantined() => Interlocked.Increment(ref _quarantined);
    internal void CountDeleted() => Interlocked.Increment(ref _deleted);
    internal void CountAbsorbed() => Interlocked.Increment(ref _absorbed);
    internal void CountRefused() => Interlocked.Increment(ref _refused);
    internal void CountFailed() => Interlocked.Increment(ref _failed);
    internal void CountBatch() => Interlocked.Increment(ref _batches);

    public override string ToString() =>
        $"admitted={Admitted} delivered={Delivered} quarantined={Quarantined} deleted={Deleted} absorbed={Absorbed} refused={Refused} failed={Failed} batches={Batches}";
}
