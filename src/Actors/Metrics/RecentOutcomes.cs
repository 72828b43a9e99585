namespace MailScanner.Actors.Metrics;

/// <summary>
/// The last few finished messages, for the status page: a fixed ring, so it never grows whatever the traffic. A lock
/// is fine here, it is taken once per finished message and held for one array store.
/// </summary>
internal sealed class RecentOutcomes(int capacity)
{
    private readonly RecentOutcome[] _ring = new RecentOutcome[capacity];
    private readonly Lock _lock = new();
    private int _next, _count;

    public void Add(RecentOutcome outcome)
    {
        lock (_lock)
        {
            _ring[_next] = outcome;
            _next = (_next + 1) % _ring.Length;
            _count = Math.Min(_count + 1, _ring.Length);
        }
    }

    /// <summary>Newest first.</summary>
    public IReadOnlyList<RecentOutcome> Snapshot()
    {
        lock (_lock)
        {
            var list = new List<RecentOutcome>(_count);
            for (var i = 1; i <= _count; i++) list.Add(_ring[(_next - i + _ring.Length) % _ring.Length]);
            return list;
        }
    }
}

/// <summary>The last few hundred message latencies (seconds), for the status page's percentiles; a fixed ring.</summary>
internal sealed class RecentLatencies(int capacity)
{
    private readonly double[] _ring = new double[capacity];
    private readonly Lock _lock = new();
    private int _next, _count;

    public void Add(double seconds)
    {
        lock (_lock)
        {
            _ring[_next] = seconds;
            _next = (_next + 1) % _ring.Length;
            _count = Math.Min(_count + 1, _ring.Length);
        }
    }

    public double? Percentile(double p)
    {
        double[] sorted;
        lock (_lock)
        {
            if (_count == 0) return null;
            sorted = _ring[.._count];
        }
        Array.Sort(sorted);
        return sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];
    }
}
