using System.Text;
using MailScanner.Actors.Scanning;
using MailScanner.Actors.Scanning.Mime;
using MimeKit;

namespace MailScanner.Actors.Cleaning;

/// <summary>
/// MailScanner's "deliver cleaned": each infected or dangerous part is replaced by a short text warning that names it
/// and says why (never its bytes). Which part a finding means is described at <see cref="MessageCleaner"/>.
/// </summary>
internal static class DangerousPartReplacement
{
    /// <summary>Reason prefixes of findings that disarming answers; the part holding them is not replaced.</summary>
    private static readonly string[] HtmlReasons = ["html:", "phishing:"];

    /// <summary>
    /// Replaces in <paramref name="parsed"/> each part an infected or dangerous finding names by a warning, and says
    /// in <paramref name="changes"/> what was replaced and what could not be.
    /// </summary>
    public static void Apply(MimeMessage parsed, ReadOnlyMemory<byte> message, IReadOnlyList<ScanFinding> findings,
        AnalysisLimits limits, List<string> changes)
    {
        var dangerous = findings
            .Where(f => f.Kind is VerdictKind.Infected or VerdictKind.DangerousContent)
            .Where(f => !HtmlReasons.Any(p => f.Reason.StartsWith(p, StringComparison.Ordinal)))
            .ToList();
        if (dangerous.Count == 0) return;
        // Only findings without a MIME position need the parts looked up by name (built-in and clamd findings carry it).
        IReadOnlyList<AnalyzedPart>? parts = null;

        // Target entity → the findings that put it there, in the order first seen.
        var targets = new List<(MimeEntity Entity, List<ScanFinding> Findings)>();
        foreach (var finding in dangerous)
        {
            if (finding.PartName is null)
            {
                changes.Add($"not replaced: {finding} names no part; the message is only tagged");
                continue;
            }
            var paths = finding.MimePath is { } exact ? [exact] : MimePathsOf(finding.PartName, parts ??= MessageAnalyzer.Analyze(message, limits).Parts);
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
        // Short lines keep the warning readable in its raw form (7bit rather than quoted-printable).
        part.SetText("utf-8", WordWrap.AtSpaces(text, width: 76, firstColumn: 0, lineBreak: "\n") + "\n");
        part.ContentDisposition = new ContentDisposition(ContentDisposition.Attachment)
        {
            FileName = fileName is null ? "warning.txt" : $"{fileName}.txt",
        };
        part.ContentTransferEncoding = part.GetBestEncoding(EncodingConstraint.SevenBit);
        return part;
    }
}
