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
    HtmlSettings? DisarmHtml);

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
/// </remarks>
public static class MessageCleaner
{
    public const string VerdictHeader = "X-MailScanner-Actors";
    public const string SpamScoreHeader = "X-MailScanner-Actors-SpamScore";
    public const string SpamRulesHeader = "X-MailScanner-Actors-SpamRules";

    /// <summary>Headers only this gateway may set: any copy already in the message is forged and removed.</summary>
    private static readonly string[] OwnHeaders = [VerdictHeader, SpamScoreHeader, SpamRulesHeader];

    /// <summary>Reason prefixes of findings that disarming answers; the part holding them is not replaced.</summary>
    private static readonly string[] HtmlReasons = ["html:", "phishing:"];

    /// <summary>
    /// The message to deliver: <see cref="Clean"/> when parts must be replaced or active HTML disarmed, otherwise only
    /// the headers rewritten. Parsing and re-writing MIME costs more than the rest of a message's handling, and most
    /// mail needs only its headers changed.
    /// </summary>
    public static CleanedMessage CleanAsNeeded(ReadOnlyMemory<byte> message, CleaningRequest request, bool hasActiveHtml) =>
        request.ReplaceDangerousParts || hasActiveHtml
            ? Clean(message, request)
            : CleanRaw(message, request, "nothing to rewrite but headers");

    /// <summary>Cleans <paramref name="message"/> (the RFC 5322 message, without any queue-file envelope).</summary>
    public static CleanedMessage Clean(ReadOnlyMemory<byte> message, CleaningRequest request)
    {
        try
        {
            return CleanMime(message, request);
        }
        catch (Exception e)
        {
            return CleanRaw(message, request, $"{e.GetType().Name}: {e.Message}");
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // The MimeKit rewrite.

    private static CleanedMessage CleanMime(ReadOnlyMemory<byte> message, CleaningRequest request)
    {
        var changes = new List<string>();
        var limits = AnalysisLimits.Default;
        MimeMessage parsed;
        using var stream = ReadOnlyStreams.Over(message);
        // Parsed exactly as MessageAnalyzer parses it, so that its MIME positions name the same entities here.
        var options = ParserOptions.Default.Clone();
        options.MaxMimeDepth = limits.MaxMimeDepth + 1;
        parsed = new MimeParser(options, stream, persistent: true).ParseMessage();

        if (request.ReplaceDangerousParts) ReplaceParts(parsed, message, request.Findings, limits, changes);
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
    private static NewLineFormat NewLineOf(ReadOnlySpan<byte> message)
    {
        var lf = message.IndexOf((byte)'\n');
        return lf > 0 && message[lf - 1] == '\r' ? NewLineFormat.Dos : NewLineFormat.Unix;
    }

    // --- Replacing infected and dangerous parts ---

    private static void ReplaceParts(MimeMessage parsed, ReadOnlyMemory<byte> message, IReadOnlyList<ScanFinding> findings,
        AnalysisLimits limits, List<string> changes)
    {
        var dangerous = findings
            .Where(f => f.Kind is VerdictKind.Infected or VerdictKind.DangerousContent)
            .Where(f => !HtmlReasons.Any(p => f.Reason.StartsWith(p, StringComparison.Ordinal)))
            .ToList();
        if (dangerous.Count == 0) return;
        var parts = MessageAnalyzer.Analyze(message, limits).Parts;

        // Target entity → the findings that put it there, in the order first seen.
        var targets = new List<(MimeEntity Entity, List<ScanFinding> Findings)>();
        foreach (var finding in dangerous)
        {
            if (finding.PartName is null)
            {
                changes.Add($"not replaced: {finding} names no part; the message is only tagged");
                continue;
            }
            var paths = finding.MimePath is { } exact ? [exact] : MimePathsOf(finding.PartName, parts);
            var entities = paths.Select(p => TargetAt(parsed, p)).OfType<MimeEntity>().Distinct().ToList();
            if (entities.Count == 0)
            {
                changes.Add($"not replaced: no MIME part found for {finding}");
                continue;
            }
            foreach (var entity in entities)
            {
                var index = targets.FindIndex(t => ReferenceEquals(t.Entity, entity));
                if (index < 0) targets.Add((entity, [finding]));
                else targets[index].Findings.Add(finding);
            }
        }
        foreach (var (entity, reasons) in targets)
        {
            var fileName = FileNameOf(entity);
            var reason = string.Join("; ", reasons.Select(r => r.ToString()));
            var warning = Warning(fileName, reason);
            if (Replace(parsed, entity, warning))
                changes.Add($"replaced {fileName ?? "an unnamed part"} ({reason})");
            else
                changes.Add($"not replaced: {fileName ?? "an unnamed part"} could not be located in the MIME tree ({reason})");
        }
    }

    /// <summary>
    /// The MIME positions of the parts a finding names: the analysed parts with exactly that name (an archive member
    /// carries the position of the MIME part holding its archive); failing that, the part the named thing is inside
    /// (<c>a.zip/deeper/x</c> beyond an analysis limit); failing that, any part that shares its first name segment
    /// (a finding about <c>fwd.eml/part 2.1</c>, which is not a leaf, still points into the forwarded message).
    /// </summary>
    private static IReadOnlyList<string> MimePathsOf(string partName, IReadOnlyList<AnalyzedPart> parts)
    {
        var exact = parts.Where(p => p.PartName == partName).Select(p => p.MimePath).Distinct().ToList();
        if (exact.Count > 0) return exact;
        var container = parts.Where(p => partName.StartsWith(p.PartName + "/", StringComparison.Ordinal))
            .OrderByDescending(p => p.PartName.Length).Select(p => p.MimePath).Take(1).ToList();
        if (container.Count > 0) return container;
        var slash = partName.IndexOf('/');
        if (slash <= 0) return [];
        var first = partName[..(slash + 1)];
        // Only useful when that first segment is a forwarded message: TargetAt then stops at it.
        return parts.Where(p => p.Source == PartSource.MimePart && p.PartName.StartsWith(first, StringComparison.Ordinal))
            .Select(p => p.MimePath).Take(1).ToList();
    }

    /// <summary>
    /// The entity to replace for an IMAP position: the leaf at that position, or the first attached message
    /// (<c>message/rfc822</c>) on the way to it. Null when the position does not exist.
    /// </summary>
    private static MimeEntity? TargetAt(MimeMessage message, string mimePath)
    {
        if (message.Body is not { } entity || PartPosition.Indexes(mimePath) is not { } indexes) return null;
        if (entity is not Multipart) // a single-part message: its body is part 1 (an attached message's inside is 1.x)
            return indexes[0] == 1 && (indexes.Length == 1 || entity is MessagePart) ? entity : null;
        foreach (var index in indexes)
        {
            if (entity is not Multipart multipart || index > multipart.Count) return null;
            entity = multipart[index - 1];
            if (entity is MessagePart) return entity;
        }
        return entity is Multipart ? null : entity;
    }

    private static bool Replace(MimeMessage message, MimeEntity target, MimeEntity replacement)
    {
        if (ReferenceEquals(message.Body, target))
        {
            message.Body = replacement;
            return true;
        }
        return message.Body is Multipart root && Replace(root, target, replacement, depth: 0);
    }

    private static bool Replace(Multipart multipart, MimeEntity target, MimeEntity replacement, int depth)
    {
        if (depth > 1000) return false;
        for (var i = 0; i < multipart.Count; i++)
        {
            if (ReferenceEquals(multipart[i], target))
            {
                multipart[i] = replacement;
                return true;
            }
            if (multipart[i] is Multipart inner && Replace(inner, target, replacement, depth + 1)) return true;
        }
        return false;
    }

    private static string? FileNameOf(MimeEntity entity)
    {
        string? name;
        try
        {
            name = entity.ContentDisposition?.FileName ?? entity.ContentType.Name;
        }
        catch (Exception e) when (e is FormatException or ArgumentException or NotSupportedException)
        {
            return null;
        }
        return PrintableText.OfName(name);
    }

    /// <summary>The text part that stands in for a removed one. Only the name and the reason: never its bytes.</summary>
    private static TextPart Warning(string? fileName, string reason)
    {
        var text = $"MailScanner.Actors removed the attachment \"{fileName ?? "unnamed"}\" from this message: {reason}. " +
                   "The original is kept in quarantine.";
        var part = new TextPart("plain");
        part.SetText("utf-8", Wrap(text) + "\n");
        part.ContentDisposition = new ContentDisposition(ContentDisposition.Attachment)
        {
            FileName = fileName is null ? "warning.txt" : $"{fileName}.txt",
        };
        part.ContentTransferEncoding = part.GetBestEncoding(EncodingConstraint.SevenBit);
        return part;
    }

    /// <summary>Short lines keep the warning readable in its raw form (7bit rather than quoted-printable).</summary>
    private static string Wrap(string text, int width = 76)
    {
        var b = new StringBuilder(text.Length + 16);
        var column = 0;
        foreach (var word in text.Split(' '))
        {
            if (column > 0 && column + 1 + word.Length > width)
            {
                b.Append('\n');
                column = 0;
            }
            else if (column > 0)
            {
                b.Append(' ');
                column++;
            }
            b.Append(word);
            column += word.Length;
        }
        return b.ToString();
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
            // As part.Text, without its second pass through stream filters (see MessageAnalyzer.HtmlText).
            using var decoded = new MemoryStream();
            part.Content?.DecodeTo(decoded);
            original = MessageAnalyzer.HtmlText(part, decoded.ToArray());
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
        $"{spam.Score.ToString("0.0", CultureInfo.InvariantCulture)} / {spam.Threshold.ToString("0.0", CultureInfo.InvariantCulture)}";

    private static string? SpamRulesValue(SpamScore spam)
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

    private static string OneLine(string value) => value.Replace('\r', ' ').Replace('\n', ' ');

    // ---------------------------------------------------------------------------------------------------------
    // The fallback: header-only rewrite of the raw bytes.

    /// <summary>
    /// Adds the headers and the subject tag to the raw header block without parsing MIME, for a message MimeKit
    /// could not rewrite (<paramref name="why"/>). Nothing is replaced or disarmed. Never throws: if even this fails,
    /// the message is returned unchanged and Changes says so.
    /// </summary>
    internal static CleanedMessage CleanRaw(ReadOnlyMemory<byte> message, CleaningRequest request, string why)
    {
        var changes = new List<string> { $"message could not be rewritten as MIME ({OneLine(why)}); headers added by a header-only rewrite" };
        try
        {
            var bytes = message.Span;
            var newline = NewLineOf(bytes) == NewLineFormat.Dos ? "\r\n" : "\n";
            var (headerEnd, bodyStart) = HeaderBlock(bytes);
            // Latin-1 maps every byte to one char and back: 8-bit junk in the headers survives untouched.
            var lines = SplitHeaderLines(Encoding.Latin1.GetString(bytes[..headerEnd]));

            var kept = new List<string>();
            var skipping = false;
            var removed = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
            foreach (var line in lines)
            {
                var continuation = line.Length > 0 && line[0] is ' ' or '\t';
                if (continuation && skipping) continue;
                skipping = false;
                if (!continuation && OwnHeaders.FirstOrDefault(h => IsField(line, h)) is { } own)
                {
                    skipping = true;
                    removed[own] = removed.GetValueOrDefault(own) + 1;
                    continue;
                }
                kept.Add(line);
            }
            foreach (var (field, count) in removed) changes.Add($"removed {count} {field} header(s) already in the message");

            var tag = request.SubjectTag is null ? null : OneLine(request.SubjectTag).Trim();
            if (!string.IsNullOrEmpty(tag)) TagRawSubject(kept, tag, changes);

            var verdict = Verdict.Name(request.Verdict.Kind);
            kept.Add($"{VerdictHeader}: {verdict}");
            changes.Add($"added {VerdictHeader}: {verdict}");
            if (request.Spam is { } spam)
            {
                kept.Add($"{SpamScoreHeader}: {SpamScoreValue(spam)}");
                changes.Add($"added {SpamScoreHeader}: {SpamScoreValue(spam)}");
                if (SpamRulesValue(spam) is { } rules)
                {
                    kept.Add($"{SpamRulesHeader}: {Fold(rules, SpamRulesHeader.Length + 2, newline)}");
                    changes.Add($"added {SpamRulesHeader}: {rules}");
                }
            }
            if (request.ReplaceDangerousParts && request.Findings.Any(f => f.Kind is VerdictKind.Infected or VerdictKind.DangerousContent))
                changes.Add("not replaced: dangerous parts cannot be cut out of a message that cannot be parsed");

            var output = new MemoryStream(message.Length + 512);
            foreach (var line in kept)
            {
                output.Write(Encoding.Latin1.GetBytes(line));
                output.Write(Encoding.ASCII.GetBytes(newline));
            }
            if (bodyStart < 0) output.Write(Encoding.ASCII.GetBytes(newline)); // headers only: end the block
            else output.Write(bytes[bodyStart..]);
            return new CleanedMessage(output.ToArray(), changes);
        }
        catch (Exception e)
        {
            changes.Add($"headers not added either ({e.GetType().Name}: {e.Message}); message passed on unchanged");
            return new CleanedMessage(message.ToArray(), changes);
        }
    }

    /// <summary>
    /// Where the header block ends (before the line break ending its last line) and where the separator line starts
    /// (the blank line and the body after it are copied as they are); -1 when there is no blank line.
    /// </summary>
    private static (int HeaderEnd, int BodyStart) HeaderBlock(ReadOnlySpan<byte> bytes)
    {
        // A message that starts with a blank line has no headers at all.
        if (bytes.StartsWith("\r\n"u8) || bytes.StartsWith("\n"u8)) return (0, 0);
        for (var i = 0; i < bytes.Length; i++)
        {
            if (bytes[i] != '\n') continue;
            var next = i + 1;
            if (next < bytes.Length && bytes[next] == '\n') return (LineEnd(bytes, i), next);
            if (next + 1 < bytes.Length && bytes[next] == '\r' && bytes[next + 1] == '\n') return (LineEnd(bytes, i), next);
        }
        // No blank line: all of it is headers (a trailing line break is dropped; each header line gets its own).
        var end = bytes.Length;
        if (end > 0 && bytes[end - 1] == '\n') end = LineEnd(bytes, end - 1);
        return (end, -1);
    }

    private static int LineEnd(ReadOnlySpan<byte> bytes, int lf) => lf > 0 && bytes[lf - 1] == '\r' ? lf - 1 : lf;

    private static List<string> SplitHeaderLines(string block) =>
        block.Length == 0 ? [] : block.Split('\n').Select(l => l.TrimEnd('\r')).ToList();

    private static bool IsField(string line, string field) =>
        line.Length > field.Length && line.StartsWith(field, StringComparison.OrdinalIgnoreCase)
        && line.AsSpan(field.Length).TrimStart([' ', '\t']) is [':', ..];

    private static void TagRawSubject(List<string> lines, string tag, List<string> changes)
    {
        var at = lines.FindIndex(l => IsField(l, "Subject"));
        if (at < 0)
        {
            lines.Add($"Subject: {tag}");
            changes.Add($"subject tagged {tag}");
            return;
        }
        var colon = lines[at].IndexOf(':');
        var value = lines[at][(colon + 1)..].TrimStart();
        if (value.StartsWith(tag, StringComparison.Ordinal))
        {
            changes.Add($"subject already tagged {tag}");
            return;
        }
        // A tag in front of an encoded word is plain text followed by that encoded word: both still decode.
        var tagBytes = Encoding.UTF8.GetBytes(tag);
        var tagText = tag.All(char.IsAscii) ? tag : $"=?utf-8?B?{Convert.ToBase64String(tagBytes)}?=";
        lines[at] = value.Length == 0 ? $"Subject: {tagText}" : $"Subject: {tagText} {value}";
        changes.Add($"subject tagged {tag}");
    }

    /// <summary>Folds a comma-separated value at its spaces so that no line passes 78 characters.</summary>
    private static string Fold(string value, int used, string newline)
    {
        var b = new StringBuilder();
        var column = used;
        foreach (var word in value.Split(' '))
        {
            if (b.Length > 0)
            {
                if (column + 1 + word.Length > 78)
                {
                    b.Append(newline).Append('\t');
                    column = 1;
                }
                else
                {
                    b.Append(' ');
                    column++;
                }
            }
            b.Append(word);
            column += word.Length;
        }
        return b.ToString();
    }
}
