namespace MailScanner.Actors.Scanning.Engines;

/// <summary>How a <see cref="ScannerEngine"/> treats its daemon.</summary>
/// <param name="Timeout">How long one scan (or one probe) may take before it counts as failed.</param>
/// <param name="MaxConcurrent">Calls to the daemon at once; more scans wait in the engine, in arrival order.</param>
/// <param name="UnhealthyAfterFailures">Consecutive failed calls that mark the daemon unhealthy.</param>
/// <param name="ProbeMinBackoff">First wait before probing an unhealthy daemon with PING; doubled after each failed probe ...</param>
/// <param name="ProbeMaxBackoff">... up to this.</param>
public sealed record ScannerEngineSettings(
    TimeSpan Timeout,
    int MaxConcurrent,
    int UnhealthyAfterFailures,
    TimeSpan ProbeMinBackoff,
    TimeSpan ProbeMaxBackoff)
{
    public static readonly ScannerEngineSettings Default = new(
        Timeout: TimeSpan.FromSeconds(30),
        MaxConcurrent: 4,
        UnhealthyAfterFailures: 3,
        ProbeMinBackoff: TimeSpan.FromMilliseconds(500),
        ProbeMaxBackoff: TimeSpan.FromSeconds(30));

    /// <summary>Throws <see cref="ArgumentException"/> for values an engine cannot work with.</summary>
    public ScannerEngineSettings Validated()
    {
        if (Timeout <= TimeSpan.Zero) throw new ArgumentException("Timeout must be positive", nameof(Timeout));
        if (MaxConcurrent < 1) throw new ArgumentException("MaxConcurrent must be at least 1", nameof(MaxConcurrent));
        if (UnhealthyAfterFailures < 1)
            throw new ArgumentException("UnhealthyAfterFailures must be at least 1", nameof(UnhealthyAfterFailures));
        if (ProbeMinBackoff <= TimeSpan.Zero) throw new ArgumentException("ProbeMinBackoff must be positive", nameof(ProbeMinBackoff));
        if (ProbeMaxBackoff < ProbeMinBackoff)
            throw new ArgumentException("ProbeMaxBackoff must not be shorter than ProbeMinBackoff", nameof(ProbeMaxBackoff));
        return this;
    }
}
