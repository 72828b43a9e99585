using MailScanner.Actors.Queue;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using MailScanner.Actors.Policy;
using MailScanner.Actors.Scanning;
using Microsoft.Win32.SafeHandles;

namespace MailScanner.Actors.Metrics;

/// <summary>
/// Running totals and timings of what the pipeline does, for this gateway. Actors only ever add; readers (tests, the
/// bench, the Prometheus endpoint, the status page) take snapshots. The totals are plain Interlocked counters that the
/// meter's observable instruments read at scrape time, so the hot path stays free of locks; only the latency
/// histograms are recorded as they happen (a no-op while nothing listens).
/// </summary>
/// <remarks>
/// Each instance has a meter of its own name: specs run several gateways in one process, and an OpenTelemetry provider
/// picks meters by name, so a shared name would mix one gateway's traffic into another's endpoint.
/// </remarks>
public sealed class PipelineCounters : IDisposable
{
    public const string MeterNamePrefix = "MailScanner.Actors.Pipeline";
    private static int s_instances;

    private long _admitted, _delivered, _quarantined, _deleted, _absorbed, _refused, _failed, _letGo, _batches;
    private long _stageCommandsFromThisNode, _stageCommandsFromAnotherNode;
    private readonly long[] _verdicts = new long[Enum.GetValues<VerdictKind>().Length];
    private readonly long[] _outcomes = new long[OutcomeNames.Length];
    private readonly ConcurrentDictionary<string, int> _scannersUp = new();
    private readonly RecentRing<RecentOutcome> _recent = new(capacity: 20);
    private readonly RecentRing<double> _latencies = new(capacity: 512);
    private long _queueDepth = -1, _queueOldestAgeMs = -1, _journalRecoveryMs = -1;

    private readonly Histogram<double> _messageLatency, _stageLatency, _scannerCall, _journalWrite;
    private readonly Histogram<long> _batchSize;
    /// <summary>Per engine, from its first report on: a series at 0 exists before the first error, so rate() and alerts see it.</summary>
    private readonly ConcurrentDictionary<string, StrongBox<long>> _scannerErrors = new();

    public PipelineCounters()
    {
        var n = Interlocked.Increment(ref s_instances);
        Meter = new Meter(n == 1 ? MeterNamePrefix : $"{MeterNamePrefix}.{n}");

        Meter.CreateObservableCounter("mailscanner.messages", ObserveOutcomes,
            description: "Messages finished, by outcome: delivered, quarantined, deleted (by policy), handed_back (to the incoming queue, retried later), unprocessable, set_aside (malformed)");
        Meter.CreateObservableCounter("mailscanner.verdicts", ObserveVerdicts, description: "Verdicts of finished messages");
        Meter.CreateObservableCounter("mailscanner.deletes_absorbed", () => Absorbed,
            description: "Commands acknowledged without effect because their file was already gone or handed back (repeated deletes that did no harm)");
        Meter.CreateObservableCounter("mailscanner.batches", () => Batches, description: "Batches formed by the coordinators");
        Meter.CreateObservableCounter("mailscanner.stage_commands", () => new[]
            {
                new Measurement<long>(StageCommandsFromThisNode, new KeyValuePair<string, object?>("from", "this_node")),
                new Measurement<long>(StageCommandsFromAnotherNode, new KeyValuePair<string, object?>("from", "another_node")),
            },
            description: "Scan, Clean, Deliver and Delete commands taken by this node's MessageActors, by where their coordinator runs (clustered, another node's cost serialization both ways)");
        Meter.CreateObservableGauge("mailscanner.queue_depth", () => Observed(Volatile.Read(ref _queueDepth)),
            description: "Queue files waiting in the incoming queue or claimed and in process");
        Meter.CreateObservableGauge("mailscanner.queue_oldest_age", () => ObservedMilliseconds(Volatile.Read(ref _queueOldestAgeMs)), unit: "s",
            description: "Age of the oldest queue file waiting or in process (0 when the queue is empty)");
        Meter.CreateObservableGauge("mailscanner.scanner_up", ObserveScanners, description: "1 while a scanner daemon answers, 0 while it is unhealthy");
        Meter.CreateObservableGauge("mailscanner.journal_recovery", () => ObservedMilliseconds(Volatile.Read(ref _journalRecoveryMs)), unit: "s",
            description: "How long the message journal took to recover at its last start");

        _messageLatency = Meter.CreateHistogram("mailscanner.message.latency", unit: "s",
            description: "From a queue file's appearance (its modification time) to its delivered copy's rename into the outgoing queue",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = SecondsBuckets });
        _stageLatency = Meter.CreateHistogram("mailscanner.stage.latency", unit: "s",
            description: "Time one message spends in one stage: claim, rules, each scanner daemon, clean, deliver",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = SecondsBuckets });
        _scannerCall = Meter.CreateHistogram("mailscanner.scanner.call", unit: "s", description: "One call to a scanner daemon, answered or failed",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = SecondsBuckets });
        _journalWrite = Meter.CreateHistogram("mailscanner.journal.write", unit: "s", description: "One group-committed write of the message journal",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = SecondsBuckets });
        _batchSize = Meter.CreateHistogram("mailscanner.batch_size", description: "Messages per batch",
            advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = [1, 2, 5, 10, 20, 30, 50, 100, 200, 500] });
        Meter.CreateObservableCounter("mailscanner.scanner.errors", () => _scannerErrors.Select(e =>
                new Measurement<long>(Interlocked.Read(ref e.Value.Value), new KeyValuePair<string, object?>("engine", e.Key))),
            description: "Scanner daemon calls that failed or timed out");
    }

    private static readonly double[] SecondsBuckets =
        [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

    /// <summary>The labels of <c>mailscanner_messages_total{outcome}</c>: a fixed set, so the series never grow.</summary>
    public static readonly string[] OutcomeNames = ["delivered", "quarantined", "deleted", "handed_back", "unprocessable", "set_aside"];

    /// <summary>This gateway's instruments; an OpenTelemetry provider adds it by <see cref="Meter.Name"/>.</summary>
    public Meter Meter { get; }

    public long Admitted => Interlocked.Read(ref _admitted);
    /// <summary>Copies written to the outgoing queue (a message delivered cleaned counts here and in <see cref="Quarantined"/>).</summary>
    public long Delivered => Interlocked.Read(ref _delivered);
    /// <summary>Copies written to the quarantine.</summary>
    public long Quarantined => Interlocked.Read(ref _quarantined);
    /// <summary>Originals removed after their message was safely written.</summary>
    public long Deleted => Interlocked.Read(ref _deleted);
    /// <summary>Commands acknowledged without effect because their file was already gone (the seed's repeated deletes).</summary>
    public long Absorbed => Interlocked.Read(ref _absorbed);
    /// <summary>Entries moved aside (or left in place) as malformed.</summary>
    public long Refused => Interlocked.Read(ref _refused);
    /// <summary>Processing attempts that failed and released the message back to the incoming queue.</summary>
    public long Failed => Interlocked.Read(ref _failed);
    /// <summary>Messages handed back untouched because the gateway was stopping.</summary>
    public long LetGo => Interlocked.Read(ref _letGo);
    public long Batches => Interlocked.Read(ref _batches);
    /// <summary>Scan, Clean, Deliver and Delete commands this node's MessageActors took from a coordinator on this node (one set aside and taken up again counts again).</summary>
    public long StageCommandsFromThisNode => Interlocked.Read(ref _stageCommandsFromThisNode);
    /// <summary>The same, from a coordinator on another node of the cluster: each came, and is answered, over the network.</summary>
    public long StageCommandsFromAnotherNode => Interlocked.Read(ref _stageCommandsFromAnotherNode);

    /// <summary>Finished messages by outcome, in the order of <see cref="OutcomeNames"/>.</summary>
    public long Outcome(string name) => name switch
    {
        "handed_back" => Failed + LetGo,
        "set_aside" => Refused,
        _ => Interlocked.Read(ref _outcomes[Array.IndexOf(OutcomeNames, name)]),
    };

    public long VerdictCount(VerdictKind kind) => Interlocked.Read(ref _verdicts[(int)kind]);

    /// <summary>The last finished messages, newest first (queue id, verdict, action, time; no content, no addresses).</summary>
    public IReadOnlyList<RecentOutcome> Recent => _recent.Snapshot();

    internal void CountAdmitted() => Interlocked.Increment(ref _admitted);
    internal void CountQuarantined() => Interlocked.Increment(ref _quarantined);
    internal void CountDeleted() => Interlocked.Increment(ref _deleted);
    internal void CountAbsorbed() => Interlocked.Increment(ref _absorbed);
    internal void CountRefused() => Interlocked.Increment(ref _refused);
    internal void CountFailed() => Interlocked.Increment(ref _failed);
    internal void CountLetGo() => Interlocked.Increment(ref _letGo);
    internal void CountBatch() => Interlocked.Increment(ref _batches);

    internal void CountStageCommand(bool fromAnotherNode) =>
        Interlocked.Increment(ref fromAnotherNode ? ref _stageCommandsFromAnotherNode : ref _stageCommandsFromThisNode);

    /// <summary>A delivered copy was renamed into the outgoing queue; its latency runs from the original's modification time.</summary>
    internal void CountDelivered(SafeFileHandle? original = null)
    {
        Interlocked.Increment(ref _delivered);
        if (original is null || !_messageLatency.Enabled) return;
        var seconds = Math.Max(0, (DateTime.UtcNow - File.GetLastWriteTimeUtc(original)).TotalSeconds);
        _messageLatency.Record(seconds);
        _latencies.Add(seconds);
    }

    /// <summary>Percentiles (0..1) of the last few hundred messages' latency, in seconds, for the status page; null before any.</summary>
    public double? LatencyPercentile(double p)
    {
        var sorted = _latencies.Snapshot();
        if (sorted.Length == 0) return null;
        Array.Sort(sorted);
        return sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];
    }

    internal void CountBatch(int messages)
    {
        CountBatch();
        _batchSize.Record(messages);
    }

    /// <summary>One message is finished and its original deleted: its outcome and verdict, once. Returns the outcome's label.</summary>
    internal string CountFinished(string queueId, VerdictKind verdict, MessageAction action, QueueEnvelope? envelope = null)
    {
        var outcome = verdict == VerdictKind.Unprocessable ? 4 : action switch
        {
            MessageAction.Quarantine => 1,
            MessageAction.Delete => 2,
            _ => 0,
        };
        Interlocked.Increment(ref _outcomes[outcome]);
        Interlocked.Increment(ref _verdicts[(int)verdict]);
        _recent.Add(new RecentOutcome(queueId, VerdictLabel(verdict), MessageActionNames.Name(action), DateTimeOffset.UtcNow,
            envelope?.Sender, envelope?.Recipients));
        return OutcomeNames[outcome];
    }

    /// <summary>Times one stage of one message until disposed: <c>using (counters.Time(PipelineStage.Clean)) ...</c>.</summary>
    internal StageTiming Time(PipelineStage stage) => new(_stageLatency, stage.Tag, Stopwatch.GetTimestamp());

    /// <summary>A stage that began at <paramref name="startedAt"/> (<see cref="Stopwatch.GetTimestamp"/>) has ended.</summary>
    internal void StageEnded(PipelineStage stage, long startedAt) =>
        _stageLatency.Record(Stopwatch.GetElapsedTime(startedAt).TotalSeconds, stage.Tag);

    /// <summary>A call to a scanner daemon that began at <paramref name="startedAt"/> ended, answered or not.</summary>
    internal void ScannerCallEnded(string engine, long startedAt, bool failed)
    {
        var seconds = Stopwatch.GetElapsedTime(startedAt).TotalSeconds;
        var tag = new KeyValuePair<string, object?>("engine", engine);
        _scannerCall.Record(seconds, tag);
        _stageLatency.Record(seconds, PipelineStage.Scanner(engine).Tag);
        if (failed) Interlocked.Increment(ref _scannerErrors.GetOrAdd(engine, _ => new StrongBox<long>()).Value);
    }

    internal void ScannerHealthChanged(string engine, bool up)
    {
        _scannersUp[engine] = up ? 1 : 0;
        _scannerErrors.GetOrAdd(engine, _ => new StrongBox<long>());
    }

    /// <summary>Whether each scanner engine answers, as last reported by the engine itself.</summary>
    public IReadOnlyDictionary<string, bool> ScannersUp => _scannersUp.ToDictionary(e => e.Key, e => e.Value == 1);

    internal void JournalWritten(long startedAt) => _journalWrite.Record(Stopwatch.GetElapsedTime(startedAt).TotalSeconds);

    internal void JournalRecovered(TimeSpan took) => Volatile.Write(ref _journalRecoveryMs, (long)took.TotalMilliseconds);

    internal void QueueSampled(int depth, TimeSpan oldestAge)
    {
        Volatile.Write(ref _queueDepth, depth);
        Volatile.Write(ref _queueOldestAgeMs, (long)oldestAge.TotalMilliseconds);
    }

    /// <summary>The last sample of the queue: files waiting or in process, and the oldest one's age; null before the first.</summary>
    public (long Depth, TimeSpan OldestAge)? Queue =>
        Volatile.Read(ref _queueDepth) is >= 0 and var depth ? (depth, TimeSpan.FromMilliseconds(Volatile.Read(ref _queueOldestAgeMs))) : null;

    public static string VerdictLabel(VerdictKind kind) => kind switch
    {
        VerdictKind.HighSpam => "high_spam",
        VerdictKind.DangerousContent => "dangerous_content",
        _ => kind.ToString().ToLowerInvariant(),
    };

    private IEnumerable<Measurement<long>> ObserveOutcomes() =>
        OutcomeNames.Select(name => new Measurement<long>(Outcome(name), new KeyValuePair<string, object?>("outcome", name)));

    private IEnumerable<Measurement<long>> ObserveVerdicts() =>
        Enum.GetValues<VerdictKind>().Select(kind => new Measurement<long>(VerdictCount(kind), new KeyValuePair<string, object?>("verdict", VerdictLabel(kind))));

    private IEnumerable<Measurement<int>> ObserveScanners() =>
        _scannersUp.Select(e => new Measurement<int>(e.Value, new KeyValuePair<string, object?>("engine", e.Key)));

    private static IEnumerable<Measurement<long>> Observed(long value) =>
        value < 0 ? [] : [new Measurement<long>(value)];

    private static IEnumerable<Measurement<double>> ObservedMilliseconds(long value) =>
        value < 0 ? [] : [new Measurement<double>(value / 1000.0)];

    public void Dispose() => Meter.Dispose();

    public override string ToString() =>
        $"admitted={Admitted} delivered={Delivered} quarantined={Quarantined} deleted={Deleted} absorbed={Absorbed} refused={Refused} failed={Failed} batches={Batches}";
}

/// <summary>One finished message as the status page lists it; the addresses only when the operator turned them on.</summary>
public sealed record RecentOutcome(string QueueId, string Verdict, string Action, DateTimeOffset At, string? From = null, IReadOnlyList<string>? To = null)
{
    public RecentOutcome WithoutAddresses() => this with { From = null, To = null };
}
