using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace MailScanner.Actors.Metrics;

/// <summary>
/// The <c>stage</c> label of <c>mailscanner_stage_latency_seconds</c>: claim, rules, each scanner daemon by its engine
/// name, clean, deliver. A fixed, small set; the tag is built once per stage, not per message.
/// </summary>
public sealed class PipelineStage
{
    private static readonly ConcurrentDictionary<string, PipelineStage> Scanners = new();

    public static readonly PipelineStage Claim = new("claim");
    public static readonly PipelineStage Rules = new("rules");
    public static readonly PipelineStage Clean = new("clean");
    public static readonly PipelineStage Deliver = new("deliver");

    /// <summary>A scanner daemon's stage, named after its engine (clamd, spamd).</summary>
    public static PipelineStage Scanner(string engine) => Scanners.GetOrAdd(engine, name => new PipelineStage(name));

    private PipelineStage(string name)
    {
        Name = name;
        Tag = new KeyValuePair<string, object?>("stage", name);
    }

    public string Name { get; }
    internal KeyValuePair<string, object?> Tag { get; }

    public override string ToString() => Name;
}

/// <summary>Records the time since it was made when disposed; a struct, so timing a stage allocates nothing.</summary>
internal readonly struct StageTiming(Histogram<double> histogram, KeyValuePair<string, object?> tag, long startedAt) : IDisposable
{
    public void Dispose() => histogram.Record(Stopwatch.GetElapsedTime(startedAt).TotalSeconds, tag);
}
