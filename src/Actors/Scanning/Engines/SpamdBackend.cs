using System.Globalization;
using MailScanner.Actors.Scanning.Spamd;

namespace MailScanner.Actors.Scanning.Engines;

/// <summary>
/// spamd as a scanner engine. A score at or over spamd's own threshold is <see cref="VerdictKind.Spam"/>, and at or
/// over <see cref="HighSpamScore"/> as well it is <see cref="VerdictKind.HighSpam"/> (MailScanner's "High
/// SpamAssassin Score"). The report always carries the <see cref="SpamScore"/>, for the score header.
/// </summary>
public sealed class SpamdBackend : IScannerBackend
{
    /// <summary>MailScanner's default "High SpamAssassin Score".</summary>
    public const double DefaultHighSpamScore = 20.0;

    private readonly SpamdClient _client;

    public SpamdBackend(SpamdClient client, double highSpamScore = DefaultHighSpamScore)
    {
        _client = client;
        HighSpamScore = highSpamScore;
    }

    public double HighSpamScore { get; }

    public string Name => SpamdClient.Scanner;

    public async Task<ScanReport> ScanAsync(ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        var score = await _client.SymbolsAsync(content, cancellationToken).ConfigureAwait(false);
        return ToReport(score, HighSpamScore);
    }

    public Task PingAsync(CancellationToken cancellationToken) => _client.PingAsync(cancellationToken);

    public static ScanReport ToReport(SpamScore score, double highSpamScore)
    {
        if (score.Score < score.Threshold) return new ScanReport(SpamdClient.Scanner, Array.Empty<ScanFinding>(), score);
        var kind = score.Score >= highSpamScore ? VerdictKind.HighSpam : VerdictKind.Spam;
        var reason = string.Create(CultureInfo.InvariantCulture,
            $"{Verdict.Name(kind)} score {score.Score:0.0#} >= {(kind == VerdictKind.HighSpam ? highSpamScore : score.Threshold):0.0#} ({string.Join(",", score.Rules)}) (spamd)");
        return new ScanReport(SpamdClient.Scanner, new[] { new ScanFinding(kind, reason) }, score);
    }
}
