namespace MailScanner.Actors.Scanning.Limits;

/// <summary>
/// The one ceiling on memory that decoding and unpacking may hold at once, across every message the gateway is
/// analysing (<c>mailscanner.limits.unpack-memory</c>). One per gateway (created with its message actors), so that 32
/// bombs arriving together share 256 MB instead of taking 100 MB each. A taker that finds it spent waits until others
/// give memory back; the budget is never exceeded.
/// </summary>
/// <remarks>
/// Takers hold what they took while they wait for more, so analyses could each wait for the others. A wait is
/// therefore bounded: it ends at once when every holder is waiting (nobody would give anything back), and after
/// <see cref="MaxWait"/> in any case. The analysis that gave up is postponed (<see cref="UnpackRefusal.GatewayMemoryBusy"/>):
/// its message is handed back to the queue and tried again later, never judged on a part it could not read for lack
/// of memory others held. Only a part larger than the whole budget is a finding.
/// </remarks>
public sealed class UnpackBudget
{
    /// <summary>How long one take may wait for others to give memory back before the part is given up.</summary>
    public static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(15);

    private readonly object _gate = new();
    private long _inUse;
    private long _peak;
    /// <summary>Accounts holding memory now, and how many of them are waiting for more.</summary>
    private int _holders, _waitingHolders;

    public UnpackBudget(long capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Capacity = capacity;
    }

    /// <summary>A budget nothing will ever wait on: for analyses outside a gateway (tools, specs, the cleaner's lookups).</summary>
    public static UnpackBudget Unbounded() => new(long.MaxValue);

    public long Capacity { get; }

    /// <summary>Bytes held right now.</summary>
    public long InUse
    {
        get { lock (_gate) return _inUse; }
    }

    /// <summary>The most ever held at once.</summary>
    public long Peak
    {
        get { lock (_gate) return _peak; }
    }

    /// <summary>Opens the account of one message's analysis, which may take at most <paramref name="perMessageLimit"/> bytes.</summary>
    public UnpackAccount Open(long perMessageLimit) => new(this, perMessageLimit);

    /// <summary>
    /// Takes <paramref name="bytes"/>, waiting up to <paramref name="maxWait"/> for them. A taker that already holds
    /// memory (<paramref name="holding"/>) does not wait when every other holder is waiting too: nobody would ever give
    /// anything back, so it gives up at once instead of after the wait.
    /// </summary>
    internal UnpackRefusal TryTake(long bytes, TimeSpan maxWait, bool holding)
    {
        if (bytes <= 0) return UnpackRefusal.None;
        if (bytes > Capacity) return UnpackRefusal.LargerThanGatewayMemory;
        lock (_gate)
        {
            if (_inUse + bytes > Capacity)
            {
                var deadline = Environment.TickCount64 + (long)maxWait.TotalMilliseconds;
                if (holding) _waitingHolders++;
                try
                {
                    while (_inUse + bytes > Capacity)
                    {
                        if (holding && _waitingHolders >= _holders) return UnpackRefusal.GatewayMemoryBusy;
                        var left = deadline - Environment.TickCount64;
                        if (left <= 0) return UnpackRefusal.GatewayMemoryBusy;
                        Monitor.Wait(_gate, TimeSpan.FromMilliseconds(Math.Min(left, 100)));
                    }
                }
                finally
                {
                    if (holding) _waitingHolders--;
                }
            }
            if (!holding) _holders++;
            _inUse += bytes;
            if (_inUse > _peak) _peak = _inUse;
            return UnpackRefusal.None;
        }
    }

    /// <summary>Gives <paramref name="bytes"/> back; <paramref name="releasesAll"/> when the giver now holds nothing.</summary>
    internal void Give(long bytes, bool releasesAll)
    {
        if (bytes <= 0) return;
        lock (_gate)
        {
            _inUse -= bytes;
            if (releasesAll) _holders--;
            Monitor.PulseAll(_gate);
        }
    }
}

/// <summary>Why an <see cref="UnpackAccount"/> refused to take more.</summary>
public enum UnpackRefusal
{
    None,
    /// <summary>The message's own <c>max-unpacked-bytes</c> would be passed.</summary>
    MessageLimit,
    /// <summary>More than the whole gateway-wide <c>unpack-memory</c>: this part can never be analysed.</summary>
    LargerThanGatewayMemory,
    /// <summary>Other messages hold the gateway-wide <c>unpack-memory</c>: the analysis is postponed, not judged.</summary>
    GatewayMemoryBusy,
}

/// <summary>
/// What one message's analysis holds of the <see cref="UnpackBudget"/>: every decoded or unpacked buffer is taken
/// here before it is allocated, and everything is given back when the analysis is disposed (its parts are no longer
/// read). Not thread-safe: one analysis runs on one thread.
/// </summary>
public sealed class UnpackAccount : IDisposable
{
    private readonly UnpackBudget _budget;
    private long _held;

    internal UnpackAccount(UnpackBudget budget, long perMessageLimit)
    {
        _budget = budget;
        Limit = perMessageLimit;
    }

    /// <summary>The message's limit (<c>max-unpacked-bytes</c>).</summary>
    public long Limit { get; }

    /// <summary>A take had to give up because others held the gateway's memory: the analysis is incomplete and must be tried again later.</summary>
    public bool Postponed { get; private set; }

    /// <summary>Bytes taken so far (and not given back).</summary>
    public long Held => _held;

    /// <summary>Bytes taken in total that count against <see cref="Limit"/>.</summary>
    public long Used { get; private set; }

    /// <summary>
    /// Takes <paramref name="bytes"/> for a buffer about to be allocated; says why not when it cannot.
    /// <paramref name="countsAgainstMessage"/> is false only for decoding the top-level message's own MIME parts, which
    /// is bounded by the message's size; what unpacking can multiply (archives, encoded blocks, embedded messages)
    /// counts against <see cref="Limit"/> too.
    /// </summary>
    public UnpackRefusal Take(long bytes, bool countsAgainstMessage = true)
    {
        if (bytes <= 0) return UnpackRefusal.None;
        if (countsAgainstMessage && Used + bytes > Limit) return UnpackRefusal.MessageLimit;
        var refusal = _budget.TryTake(bytes, UnpackBudget.MaxWait, holding: _held > 0);
        if (refusal != UnpackRefusal.None)
        {
            if (refusal == UnpackRefusal.GatewayMemoryBusy) Postponed = true;
            return refusal;
        }
        _held += bytes;
        if (countsAgainstMessage) Used += bytes;
        return UnpackRefusal.None;
    }

    /// <summary>Gives back a buffer that was replaced by a larger one (its bytes no longer count against the message either).</summary>
    public void GiveBack(long bytes)
    {
        bytes = Math.Min(bytes, _held);
        if (bytes <= 0) return;
        _held -= bytes;
        Used = Math.Max(0, Used - bytes);
        _budget.Give(bytes, releasesAll: _held == 0);
    }

    public void Dispose()
    {
        _budget.Give(_held, releasesAll: true);
        _held = 0;
    }
}
