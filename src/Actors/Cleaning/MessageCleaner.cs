using System.Globalization;
using System.Text;
using MailScanner.Actors.Scanning;
using MailScanner.Actors.Scanning.Mime;
using MailScanner.Actors.Scanning.Rules;
using MimeKit;

namespace MailScanner.Actors.Cleaning;

/// <summary>What to do to one message before it is delivered.</summary>
/// <param name="Verdict">The message's verdict; its name goes into the <c>X-MailScanner-Actors</c> header.</param>
/// <param name="Findings">Every finding of every scanner; those of kind Infected or DangerousContent that name a part
/// cause that part to be replaced when <paramref name="ReplaceDangerousParts"/> is set.</param>
/// <param name="Spam">The spam scanner's score, written as <c>X-MailScanner-Actors-SpamScore</c> and <c>-SpamRules</c>; null for none.</param>
/// <param name="ReplaceDangerousParts">Replace each infected or dangerous part by a short text warning (MailScanner's "deliver cleaned").</param>
/// <param name="SubjectTag">Prefixed to the Subject once (<c>{Virus?}</c>, <c>{Spam?}</c>); null for none.</param>
/// <param name="DisarmHtml">When set, every <c>text/html</c> part is disarmed with these settings (<see cref="HtmlDisarm"/>).</param>
public sealed record CleaningRequest(
    Verdict Verdict,
    IReadOnlyList<ScanFinding> Findings,
    SpamScore? Spam,
    bool ReplaceDangerousParts,
    string? SubjectTag,
    HtmlSettings? DisarmHtml)
{
    /// <summary>The limits the message was analysed with: the cleaner parses it the same way, so MIME positions agree.</summary>
    public AnalysisLimits Limits { get; init; } = AnalysisLimits.Default;
}

/// <summary>The cleaned RFC 5322 message and what was done to it, one readable line per change.</summary>
public sealed record CleanedMessage(byte[] Message, IReadOnlyList<string> Changes);

/// <summary>
/// Turns a scanned message into the one that is delivered, as MailScanner does: infected and banned parts replaced
/// by a short warning, verdict and spam headers set (replacing any the sender forged), the subject tagged, active
/// HTML disarmed. Pure: bytes in, bytes out, no I/O, and it never throws. What it does not touch is written back
/// byte for byte (MimeKit keeps the raw form of every header and part it was not asked to change).
/// </summary>
/// <remarks>
/// <para>Which part a finding means: the finding's <see cref="ScanFinding.PartName"/> is looked up among the parts
/// <see cref="MessageAnalyzer"/> reports, whose <see cref="AnalyzedPart.MimePath"/> says where the part is (a finding
/// that carries its <see cref="ScanFinding.MimePath"/> says so itself, and only that part is replaced). A finding
/// inside an archive replaces the MIME part holding the archive; a finding anywhere inside a forwarded message
/// (<c>message/rfc822</c>) replaces the whole forwarded message, since its parts cannot be trusted one by one.</para>
/// <para>A finding without a part name (a virus clamd finds in the whole message but in no single part; a limit of the analysis) cannot say what
/// to cut out, so the structure is left alone and the message is only tagged; the same goes for a part name that
/// matches nothing. Each such case is listed in <see cref="CleanedMessage.Changes"/> as "not replaced: ...", so the
/// caller can see that the dangerous content is still there (the original is in quarantine either way).</para>
/// <para>Findings about HTML (<c>html:</c>, <c>phishing:</c>) are answered by disarming, not by removing the text.</para>
/// <para>When MimeKit cannot parse or write the message, the headers and subject tag are added by rewriting only the
/// raw header block; nothing is replaced then, and Changes says so.</para>
/// <para>Beside it: <see cref="DangerousPartReplacement"/> (which part a finding means, and its warning) and
/// <see cref="HeaderOnlyRewrite"/> (the fallback).</para>
/// </remarks>
public static class MessageCleaner
{
    public const string VerdictHeader = "X-MailScanner-Actors";
    public const string SpamScoreHeader = "X-MailScanner-Actors-SpamScore";
    public const string SpamRulesHeader = "X-MailScanner-Actors-SpamRules";

    /// <summary>Headers only this gateway may set: any copy already in the message is forged and removed.</summary>
    internal static readonly string[] OwnHeaders = [VerdictHeader, SpamScoreHeader, SpamRulesHeader];

    /// <summary>
    /// The message to deliver: <see cref="Clean"/> when parts must be replaced or active HTML disarmed, otherwise only
    /// the headers rewritten. Parsing and re-writing MIME costs more than the rest of a message's handling, and most
    /// mail needs only its headers changed.
    /// </summary>
    /// <remarks><paramref name="parsed"/>, when given, is the message as the rules parsed it: rewritten without parsing it again.</remarks>
    public static CleanedMessage CleanAsNeeded(ReadOnlyMemory<byte> message, CleaningRequest request, bool hasActiveHtml,
        ParsedMessage? parsed = null) =>
        request.ReplaceDangerousParts || hasActiveHtml
            ? Clean(message, request, parsed)
            : HeaderOnlyRewrite.Clean(message, request, "nothing to rewrite but headers");

    /// <summary>Cleans <paramref name="message"/> (the RFC 5322 message, without any queue-file envelope).</summary>
    /// <param name="parsed">The message's MIME tree as <see cref="MessageAnalyzer"/> parsed these bytes, if at hand; it is taken and changed.</param>
    public static CleanedMessage Clean(ReadOnlyMemory<byte> message, CleaningRequest request, ParsedMessage? parsed = null)
    {
        try
        {
            return CleanMime(message, request, parsed);
        }
        catch (Exception e)
        {
            return HeaderOnlyRewrite.Clean(message, request, $"{e.GetType().Name}: {e.Message}");
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // The MimeKit rewrite.

    private static CleanedMessage CleanMime(ReadOnlyMemory<byte> message, CleaningRequest request, ParsedMessage? analyzed)
    {
        var changes = new List<string>();
        var limits = request.Limits;
        using var stream = ReadOnlyStreams.Over(message);
        // Parsed exactly as MessageAnalyzer parses it, so that its MIME positions name the same entities here; the
        // analyzer's own tree when it hands it over.
        var parsed = analyzed?.Take(message, limits.MaxMimeDepth)
                     ?? new MimeParser(MessageAnalyzer.ParserOptionsFor(limits.MaxMimeDepth), stream, persistent: true).ParseMessage();

        if (request.ReplaceDangerousParts) DangerousPartReplacement.Apply(parsed, message, request.Findings, limits, changes);
        if (request.DisarmHtml is { } html && parsed.Body is { } body)
            Disarm(body, PartPosition.OfBody(body, PartPosition.TopLevel), html, changes, depth: 0);
        SetHeaders(parsed.Headers, request, changes);
        TagSubject(parsed, request.SubjectTag, changes);

        var format = FormatOptions.Default.Clone();
        format.NewLineFormat = NewLineOf(message.Span);
        using var output = new MemoryStream(message.Length + 512);
        parsed.WriteTo(format, output);
        return new CleanedMessage(output.ToArray(), changes);
    }

    /// <summary>Write new lines the way the message already does, so that untouched lines stay byte-identical.</summary>
    internal static NewLineFormat NewLineOf(ReadOnlySpan<byte> message)
    {
        var lf = message.IndexOf((byte)'\n');
        return lf > 0 && message[lf - 1] == '\r' ? NewLineFormat.Dos : NewLineFormat.Unix;
    }

    // --- HTML ---

    /// <summary>Disarms every text/html part under <paramref name="entity"/>, attached messages included.</summary>
    private static void Disarm(MimeEntity entity, string position, HtmlSettings settings, List<string> changes, int depth)
    {
        if (depth > 200) return;
        switch (entity)
        {
            case Multipart multipart:
                for (var i = 0; i < multipart.Count; i++)
                    Disarm(multipart[i], PartPosition.Child(position, i + 1), settings, changes, depth + 1);
                break;
            case MessagePart { Message.Body: { } body }:
                Disarm(body, PartPosition.OfBody(body, position), settings, changes, depth + 1);
                break;
            case TextPart { IsHtml: true } html:
                DisarmPart(html, PartPosition.Shown(position), settings, changes);
                break;
        }
    }

    private static void DisarmPart(TextPart part, string position, HtmlSettings settings, List<string> changes)
    {
        string original;
        try
        {
            // As part.Text, without its second pass through stream filters (see HtmlPartText.Decode).
            using var decoded = new MemoryStream();
            part.Content?.DecodeTo(decoded);
            original = HtmlPartText.Decode(part, decoded.ToArray());
        }
        catch (Exception e) when (e is IOException or FormatException or NotSupportedException or ArgumentException)
        {
            changes.Add($"not disarmed: HTML in part {position} cannot be decoded ({e.Message})");
            return;
        }
        var (disarmed, removed) = HtmlDisarm.Disarm(original, settings);
        if (removed.Count == 0) return;
        var charset = part.ContentType.Charset;
        try
        {
            part.SetText(string.IsNullOrEmpty(charset) ? "utf-8" : charset, disarmed);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException)
        {
            part.SetText("utf-8", disarmed); // a charset .NET cannot write: the text stays right, the label changes
        }
        // 7bit was true of the old text; the new one is checked again (it may hold what the old charset encoded).
        if (part.ContentTransferEncoding is ContentEncoding.Default or ContentEncoding.SevenBit)
            part.ContentTransferEncoding = part.GetBestEncoding(EncodingConstraint.SevenBit);
        var name = PrintableText.OfName(part.FileName) is { } fileName ? $"{fileName} (part {position})" : $"part {position}";
        foreach (var description in removed.Select(r => r.Description).Distinct())
            changes.Add($"disarmed HTML in {name}: {description}");
    }

    // --- Headers and subject ---

    private static void SetHeaders(HeaderList headers, CleaningRequest request, List<string> changes)
    {
        foreach (var field in OwnHeaders)
        {
            var forged = headers.Count(h => h.Field.Equals(field, StringComparison.OrdinalIgnoreCase));
            if (forged == 0) continue;
            while (headers.Remove(field)) { }
            changes.Add($"removed {forged} {field} header(s) already in the message");
        }
        var verdict = Verdict.Name(request.Verdict.Kind);
        headers.Add(VerdictHeader, verdict);
        changes.Add($"added {VerdictHeader}: {verdict}");
        if (request.Spam is not { } spam) return;
        var score = SpamScoreValue(spam);
        headers.Add(SpamScoreHeader, score);
        changes.Add($"added {SpamScoreHeader}: {score}");
        if (SpamRulesValue(spam) is { } rules)
        {
            headers.Add(SpamRulesHeader, rules); // MimeKit folds a long value at its spaces
            changes.Add($"added {SpamRulesHeader}: {rules}");
        }
    }

    internal static string SpamScoreValue(SpamScore spam) =>
        $"{spam.Score.ToString("0.0", CultureInfo.InvariantCulture)} / {spam.Threshold.ToString("0.0", CultureInfo.InvariantCulture)}" +
        (spam.Truncated is { } cut ? string.Create(CultureInfo.InvariantCulture, $" (first {cut.ScoredBytes} of {cut.MessageBytes} bytes scored)") : "");

    internal static string? SpamRulesValue(SpamScore spam)
    {
        var rules = spam.Rules.Select(r => OneLine(r).Trim()).Where(r => r.Length > 0).ToList();
        return rules.Count == 0 ? null : string.Join(", ", rules);
    }

    private static void TagSubject(MimeMessage message, string? tag, List<string> changes)
    {
        tag = tag is null ? null : OneLine(tag).Trim();
        if (string.IsNullOrEmpty(tag)) return;
        var subject = message.Subject;
        if (subject is not null && subject.TrimStart().StartsWith(tag, StringComparison.Ordinal))
        {
            changes.Add($"subject already tagged {tag}");
            return;
        }
        // The Subject property decodes encoded words and encodes the new value again where it needs to.
        message.Subject = string.IsNullOrWhiteSpace(subject) ? tag : $"{tag} {subject.TrimStart()}";
        changes.Add($"subject tagged {tag}");
    }

    internal static string OneLine(string value) => value.Replace('\r', ' ').Replace('\n', ' ');

    /// <summary>The header-only rewrite on its own (<see cref="HeaderOnlyRewrite"/>), for the specs.</summary>
    internal static CleanedMessage CleanRaw(ReadOnlyMemory<byte> message, CleaningRequest request, string why) =>
        HeaderOnlyRewrite.Clean(message, request, why);
}
