using MailScanner.Actors.Cleaning;
using MailScanner.Actors.Scanning.Clamd;
using MailScanner.Actors.Scanning.Mime;

namespace MailScanner.Actors.Scanning.Engines;

/// <summary>
/// clamd as a scanner engine: a signature found is <see cref="VerdictKind.Infected"/>; content over clamd's
/// <c>StreamMaxLength</c> could not be scanned and is <see cref="VerdictKind.DangerousContent"/> (never clean);
/// a clamd <c>ERROR</c> reply means the scan did not complete and is thrown.
/// </summary>
/// <remarks>
/// <para>The whole message goes to clamd in one call, which is all that clean mail ever costs. clamd then says
/// what it found but not where, and "deliver cleaned" needs the part. So only when the whole message is infected,
/// each MIME leaf (as <see cref="MessageAnalyzer"/> names it, which is how <see cref="MessageCleaner"/> finds it
/// again) is decoded and scanned on its own, and every infected leaf becomes a finding that names it.</para>
/// <para>Cleaning must never deliver what clamd would still call infected. So the message as cleaning would
/// leave it (those parts replaced) is scanned once more; if clamd still finds something, or no single part was
/// infected (the signature only matches the message as a whole, a header, or MIME too broken to take apart), a
/// finding without a part name is added as well, and a message with such a finding is quarantined whole.</para>
/// </remarks>
public sealed class ClamdBackend : IScannerBackend
{
    /// <summary>Debian's clamd.conf StreamMaxLength (25M): clamd refuses a larger stream.</summary>
    public const long DefaultMaxSize = 25L * 1024 * 1024;

    private readonly ClamdClient _client;
    private readonly long _maxSize;

    /// <param name="maxSize">
    /// <c>scanners.clamd.max-size</c>, clamd's StreamMaxLength: a larger message is not sent whole (clamd would close
    /// the connection), but part by part (<see cref="ScanInPartsAsync"/>).
    /// </param>
    public ClamdBackend(ClamdClient client, long maxSize = DefaultMaxSize)
    {
        _client = client;
        _maxSize = maxSize;
    }

    public string Name => ClamdClient.Scanner;

    public async Task<ScanReport> ScanAsync(ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        if (content.Length > _maxSize) return await ScanInPartsAsync(content, cancellationToken).ConfigureAwait(false);
        var result = await _client.ScanAsync(content, cancellationToken).ConfigureAwait(false);
        if (result is not ClamdResult.Found found) return ToReport(result);
        return new ScanReport(ClamdClient.Scanner, await LocateAsync(content, found, cancellationToken).ConfigureAwait(false));
    }

    public Task PingAsync(CancellationToken cancellationToken) => _client.PingAsync(cancellationToken);

    /// <summary>The report for one clamd result; throws for <see cref="ClamdResult.Error"/> (nothing was concluded).</summary>
    public static ScanReport ToReport(ClamdResult result) => result switch
    {
        ClamdResult.Clean => ScanReport.Nothing(ClamdClient.Scanner),
        ClamdResult.Found found => new ScanReport(ClamdClient.Scanner, new[] { Infected(found, part: null) }),
        ClamdResult.TooLarge tooLarge => new ScanReport(ClamdClient.Scanner,
            new[] { new ScanFinding(VerdictKind.DangerousContent, $"too large for clamd to scan: {tooLarge.Detail} (clamd)") }),
        ClamdResult.Error error => throw new ScannerProtocolException(ClamdClient.Scanner, $"scan failed: {error.Message}"),
        _ => throw new ScannerProtocolException(ClamdClient.Scanner, $"unknown result {result}"),
    };

    /// <summary>
    /// The findings for a message clamd found infected as a whole: one per infected MIME leaf, plus one for the
    /// whole message unless replacing those leaves leaves nothing clamd finds.
    /// </summary>
    private async Task<IReadOnlyList<ScanFinding>> LocateAsync(ReadOnlyMemory<byte> message, ClamdResult.Found whole,
        CancellationToken cancellationToken)
    {
        var findings = new List<ScanFinding>();
        // Parsed as the cleaner parses it, so that the names and positions found here are the ones it replaces.
        var analysis = MessageAnalyzer.Analyze(message, AnalysisLimits.Default);
        foreach (var part in analysis.Parts)
        {
            if (part.Source != PartSource.MimePart) continue; // clamd unpacks archives itself: the leaf holding one is scanned
            var result = await _client.ScanAsync(part.Content, cancellationToken).ConfigureAwait(false);
            switch (result)
            {
                case ClamdResult.Found found:
                    findings.Add(Infected(found, part));
                    break;
                case ClamdResult.Error error:
                    throw new ScannerProtocolException(ClamdClient.Scanner, $"scan of {part.PartName} failed: {error.Message}");
                // Clean: not this part. TooLarge: not known; the residue scan below still sees that part.
            }
        }
        if (findings.Count == 0 || !await ResidueIsCleanAsync(message, findings, cancellationToken).ConfigureAwait(false))
            findings.Add(Infected(whole, part: null));
        return findings;
    }

    /// <summary>
    /// A message larger than clamd takes: each MIME leaf is decoded and scanned on its own; a leaf that is itself
    /// larger than <c>max-size</c> is not scanned and is named in a "not scanned by clamd: too large" finding
    /// (dangerous content: the policy decides, and a cleaned copy replaces that part). The headers and MIME structure
    /// are left to the built-in rules.
    /// </summary>
    private async Task<ScanReport> ScanInPartsAsync(ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
    {
        var findings = new List<ScanFinding>();
        var analysis = MessageAnalyzer.Analyze(message, AnalysisLimits.Default);
        foreach (var part in analysis.Parts.Where(p => p.Source == PartSource.MimePart))
        {
            var result = part.Content.Length > _maxSize
                ? new ClamdResult.TooLarge($"{part.Content.Length} bytes, more than max-size {_maxSize}")
                : await _client.ScanAsync(part.Content, cancellationToken).ConfigureAwait(false);
            switch (result)
            {
                case ClamdResult.Found found:
                    findings.Add(Infected(found, part));
                    break;
                case ClamdResult.TooLarge tooLarge:
                    findings.Add(new ScanFinding(VerdictKind.DangerousContent, $"not scanned by clamd: too large ({tooLarge.Detail}) (clamd)", part.PartName)
                    {
                        MimePath = part.MimePath,
                    });
                    break;
                case ClamdResult.Error error:
                    throw new ScannerProtocolException(ClamdClient.Scanner, $"scan of {part.PartName} failed: {error.Message}");
            }
        }
        return new ScanReport(ClamdClient.Scanner, findings);
    }

    /// <summary>Whether clamd finds nothing in the message once the parts of <paramref name="findings"/> are replaced.</summary>
    private async Task<bool> ResidueIsCleanAsync(ReadOnlyMemory<byte> message, IReadOnlyList<ScanFinding> findings,
        CancellationToken cancellationToken)
    {
        var request = new CleaningRequest(Verdict.Of(findings), findings, Spam: null, ReplaceDangerousParts: true,
            SubjectTag: null, DisarmHtml: null);
        var residue = MessageCleaner.Clean(message, request);
        if (residue.Changes.Any(change => change.StartsWith("not replaced", StringComparison.Ordinal))) return false;
        var result = await _client.ScanAsync(residue.Message, cancellationToken).ConfigureAwait(false);
        return result switch
        {
            ClamdResult.Clean => true,
            ClamdResult.Error error => throw new ScannerProtocolException(ClamdClient.Scanner, $"scan of the cleaned message failed: {error.Message}"),
            _ => false,
        };
    }

    private static ScanFinding Infected(ClamdResult.Found found, AnalyzedPart? part) =>
        new(VerdictKind.Infected, $"virus {found.Signature} (clamd)", part?.PartName) { MimePath = part?.MimePath };
}
