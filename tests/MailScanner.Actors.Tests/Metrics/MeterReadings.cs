using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace MailScanner.Actors.Tests.Metrics;

/// <summary>
/// What the instruments of some meters (one gateway's, never another's: they are picked by instance, not by name) have
/// recorded, read the way an exporter reads them: counters add up, histograms count their observations, observable
/// instruments report their current value when read.
/// </summary>
public sealed class MeterReadings : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<string, double> _values = new();
    private readonly ConcurrentDictionary<string, long> _observations = new();

    public MeterReadings(params Meter[] meters)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (meters.Contains(instrument.Meter)) listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Record(i, v, tags));
        _listener.SetMeasurementEventCallback<int>((i, v, tags, _) => Record(i, v, tags));
        _listener.SetMeasurementEventCallback<double>((i, v, tags, _) => Record(i, v, tags));
        _listener.Start();
    }

    /// <summary>A counter's total, a gauge's or observable counter's current value; 0 when nothing was recorded under those labels.</summary>
    public double Value(string instrument, params (string Key, string Value)[] labels)
    {
        _listener.RecordObservableInstruments();
        return _values.GetValueOrDefault(Key(instrument, labels.Select(l => new KeyValuePair<string, object?>(l.Key, l.Value))));
    }

    /// <summary>How many measurements a histogram took under those labels.</summary>
    public long Observations(string instrument, params (string Key, string Value)[] labels) =>
        _observations.GetValueOrDefault(Key(instrument, labels.Select(l => new KeyValuePair<string, object?>(l.Key, l.Value))));

    /// <summary>Every label set an instrument was recorded with: cardinality must stay bounded.</summary>
    public IReadOnlyList<string> Series(string instrument)
    {
        _listener.RecordObservableInstruments();
        return _values.Keys.Concat(_observations.Keys).Where(k => k.StartsWith(instrument + "{", StringComparison.Ordinal)).Distinct().ToList();
    }

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var key = Key(instrument.Name, tags.ToArray());
        switch (instrument)
        {
            case Histogram<double> or Histogram<long>:
                _observations.AddOrUpdate(key, 1, (_, n) => n + 1);
                _values.AddOrUpdate(key, value, (_, sum) => sum + value);
                break;
            case Counter<long> or Counter<double> or UpDownCounter<long>:
                _values.AddOrUpdate(key, value, (_, total) => total + value);
                break;
            default: // observable: the value is the current reading
                _values[key] = value;
                break;
        }
    }

    private static string Key(string instrument, IEnumerable<KeyValuePair<string, object?>> tags) =>
        instrument + "{" + string.Join(",", tags.OrderBy(t => t.Key, StringComparer.Ordinal).Select(t => $"{t.Key}={t.Value}")) + "}";

    public void Dispose() => _listener.Dispose();
}
