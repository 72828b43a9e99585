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

    /// <summary>spamc's default: spamd takes seconds over a large message, and spam is not large.</summary>
    public const long DefaultMaxSize = 500 * 1024;

    private readonly SpamdClient _client;

    public SpamdBackend(SpamdClient client, double highSpamScore = DefaultHighSpamScore, long maxSize = DefaultMaxSize)
    {
        _client = client;
        HighSpamScore = highSpamScore;
        MaxSize = maxSize;
    }

    public double HighSpamScore { get; }

    /// <summary>Larger messages are scored on their first <see cref="MaxSize"/> bytes, cut at a line end.</summary>
    public long MaxSize { get; }

    public string Name => SpamdClient.Scanner;

    public async Task<ScanReport> ScanAsync(ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        var scored = Truncated(content, MaxSize);
        var score = await _client.SymbolsAsync(scored, cancellationToken).ConfigureAwait(false);
        if (scored.Length < content.Length) score = score with { Truncated = (scored.Length, content.Length) };
        return ToReport(score, HighSpamScore);
    }

    /// <summary>
    /// The first <paramref name="maxSize"/> bytes at most, ending at a line end so that no header or line is cut in
    /// two (a header block longer than that is cut at one of its line ends too: the headers spamd sees are whole).
    /// </summary>
    public static ReadOnlyMemory<byte> Truncated(ReadOnlyMemory<byte> message, long maxSize)
    {
        if (message.Length <= maxSize) return message;
        var head = message.Span[..(int)maxSize];
        var lineEnd = head.LastIndexOf((byte)'\n');
        return message[..(lineEnd >= 0 ? lineEnd + 1 : head.Length)];
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
