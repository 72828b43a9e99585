namespace MailScanner.Actors.Scanning.Engines;

/// <summary>Whether a <see cref="ScannerEngine"/> currently sends work to its daemon.</summary>
public abstract record ScannerHealth
{
    private ScannerHealth() { }

    public static readonly ScannerHealth Up = new Healthy();

    /// <summary>Scans are sent to the daemon.</summary>
    public sealed record Healthy : ScannerHealth
    {
        public override string ToString() => "healthy";
    }

    /// <summary>
    /// Consecutive calls failed: scans are answered <see cref="ScannerEngine.Unavailable"/> at once while the daemon
    /// is probed with PING (with exponential back-off) until it answers.
    /// </summary>
    public sealed record Unhealthy(DateTimeOffset Since, string Reason, int FailedProbes) : ScannerHealth
    {
        public override string ToString() => $"unhealthy since {Since:u} ({Reason}; {FailedProbes} failed probes)";
    }
}
