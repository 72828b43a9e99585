using MailScanner.Actors.Scanning;
using MailScanner.Actors.Scanning.Engines;

namespace MailScanner.Actors.Tests.TestSupport;

/// <summary>Never answers a message containing "STUCK" (until cancelled); answers everything else, and PING, at once.</summary>
public sealed class StuckOnOneMessageBackend : IScannerBackend
{
    public string Name => "stuck";

    public async Task<ScanReport> ScanAsync(ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        if (content.Span.IndexOf("STUCK"u8) >= 0) await Task.Delay(Timeout.Infinite, cancellationToken);
        return ScanReport.Nothing(Name);
    }

    public Task PingAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
