namespace MailScanner.Actors.Metrics;

/// <summary>
/// The last few items of a stream (finished messages, message latencies) for the status page: a fixed ring, so it never
/// grows whatever the traffic. A lock is fine here: it is taken once per finished message and held for one array store.
/// </summary>
internal sealed class RecentRing<T>(int capacity)
{
    private readonly T[] _ring = new T[capacity];
    private readonly Lock _lock = new();
    private int _next, _count;

    public void Add(T item)
    {
        lock (_lock)
        {
            _ring[_next] = item;
            _next = (_next + 1) % _ring.Length;
            _count = Math.Min(_count + 1, _ring.Length);
        }
    }

    /// <summary>Newest first.</summary>
    public T[] Snapshot()
    {
        lock (_lock)
        {
            var items = new T[_count];
            for (var i = 1; i <= _count; i++) items[i - 1] = _ring[(_next - i + _ring.Length) % _ring.Length];
            return items;
        }
    }
}
