namespace MailScanner.Actors.Scanning.Engines;

/// <summary>
/// One scanner daemon as a <see cref="ScannerEngine"/> sees it. <see cref="ScanAsync"/> either returns a complete
/// report or throws (connection failure, protocol error, cancellation): a report is never made up for content
/// that was not scanned.
/// </summary>
public interface IScannerBackend
{
    /// <summary>The scanner's name in reports and logs (<c>clamd</c>, <c>spamd</c>).</summary>
    string Name { get; }

    Task<ScanReport> ScanAsync(ReadOnlyMemory<byte> content, CancellationToken cancellationToken);

    /// <summary>Completes when the daemon answers its liveness probe; throws otherwise.</summary>
    Task PingAsync(CancellationToken cancellationToken);
}
