using MailScanner.Actors.Identity;

namespace MailScanner.Actors.Queue;

/// <summary>
/// When a message handed back after a failed stage may be admitted again: 1 s, 2 s, 4 s ... up to 5 minutes
/// (<c>retry-backoff-min</c>, <c>-max</c>) between attempts at a message whose processing keeps failing.
/// </summary>
internal sealed class RetryBackoff(TimeSpan min, TimeSpan max)
{
    private readonly Dictionary<FileIdentity, (DateTime NotBefore, int Attempts)> _retries = new();

    /// <summary>One more failed attempt at <paramref name="identity"/>: the wait before the next one doubles.</summary>
    public void Failed(FileIdentity identity, DateTime nowUtc)
    {
        var attempts = _retries.TryGetValue(identity, out var previous) ? previous.Attempts + 1 : 1;
        var doubled = min.Ticks * Math.Pow(2, Math.Min(attempts - 1, 30));
        var wait = TimeSpan.FromTicks((long)Math.Min(max.Ticks, doubled));
        _retries[identity] = (nowUtc + wait, attempts);
    }

    /// <summary>The message is done with (finished, or gone): its next failure starts from the shortest wait.</summary>
    public void Forget(FileIdentity identity) => _retries.Remove(identity);

    public bool MustWait(FileIdentity identity, DateTime nowUtc) =>
        _retries.TryGetValue(identity, out var retry) && retry.NotBefore > nowUtc;
}
