using MailScanner.Actors.Scanning.Clamd;

namespace MailScanner.Actors.Scanning.Engines;

/// <summary>
/// clamd as a scanner engine: a signature found is <see cref="VerdictKind.Infected"/>; content over clamd's
/// <c>StreamMaxLength</c> could not be scanned and is <see cref="VerdictKind.DangerousContent"/> (never clean);
/// a clamd <c>ERROR</c> reply means the scan did not complete and is thrown.
/// </summary>
public sealed class ClamdBackend : IScannerBackend
{
    private readonly ClamdClient _client;

    public ClamdBackend(ClamdClient client) => _client = client;

    public string Name => ClamdClient.Scanner;

    public async Task<ScanReport> ScanAsync(ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        var result = await _client.ScanAsync(content, cancellationToken).ConfigureAwait(false);
        return ToReport(result);
    }

    public Task PingAsync(CancellationToken cancellationToken) => _client.PingAsync(cancellationToken);

    /// <summary>The report for one clamd result; throws for <see cref="ClamdResult.Error"/> (nothing was concluded).</summary>
    public static ScanReport ToReport(ClamdResult result) => result switch
    {
        ClamdResult.Clean => ScanReport.Nothing(ClamdClient.Scanner),
        ClamdResult.Found found => new ScanReport(ClamdClient.Scanner,
            new[] { new ScanFinding(VerdictKind.Infected, $"virus {found.Signature} (clamd)") }),
        ClamdResult.TooLarge tooLarge => new ScanReport(ClamdClient.Scanner,
            new[] { new ScanFinding(VerdictKind.DangerousContent, $"too large for clamd to scan: {tooLarge.Detail} (clamd)") }),
        ClamdResult.Error error => throw new ScannerProtocolException(ClamdClient.Scanner, $"scan failed: {error.Message}"),
        _ => throw new ScannerProtocolException(ClamdClient.Scanner, $"unknown result {result}"),
    };
}
