using System.Text;
using MailScanner.Actors.Scanning;
using MimeKit;

namespace MailScanner.Actors.Cleaning;

/// <summary>
/// The cleaner's fallback, and its fast path for mail that needs only its headers changed: the verdict and spam headers
/// and the subject tag written into the raw header block, without parsing MIME. Everything else is copied byte for byte.
/// </summary>
internal static class HeaderOnlyRewrite
{
    /// <summary>
    /// Adds the headers and the subject tag to the raw header block without parsing MIME, for a message MimeKit
    /// could not rewrite (<paramref name="why"/>). Nothing is replaced or disarmed. Never throws: if even this fails,
    /// the message is returned unchanged and Changes says so.
    /// </summary>
    public static CleanedMessage Clean(ReadOnlyMemory<byte> message, CleaningRequest request, string why)
    {
        var changes = new List<string> { $"message could not be rewritten as MIME ({MessageCleaner.OneLine(why)}); headers added by a header-only rewrite" };
        try
        {
            var bytes = message.Span;
            var newline = MessageCleaner.NewLineOf(bytes) == NewLineFormat.Dos ? "\r\n" : "\n";
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
                if (!continuation && MessageCleaner.OwnHeaders.FirstOrDefault(h => IsField(line, h)) is { } own)
                {
                    skipping = true;
                    removed[own] = removed.GetValueOrDefault(own) + 1;
                    continue;
                }
                kept.Add(line);
            }
            foreach (var (field, count) in removed) changes.Add($"removed {count} {field} header(s) already in the message");

            var tag = request.SubjectTag is null ? null : MessageCleaner.OneLine(request.SubjectTag).Trim();
            if (!string.IsNullOrEmpty(tag)) TagRawSubject(kept, tag, changes);

            var verdict = Verdict.Name(request.Verdict.Kind);
            kept.Add($"{MessageCleaner.VerdictHeader}: {verdict}");
            changes.Add($"added {MessageCleaner.VerdictHeader}: {verdict}");
            if (request.Spam is { } spam)
            {
                kept.Add($"{MessageCleaner.SpamScoreHeader}: {MessageCleaner.SpamScoreValue(spam)}");
                changes.Add($"added {MessageCleaner.SpamScoreHeader}: {MessageCleaner.SpamScoreValue(spam)}");
                if (MessageCleaner.SpamRulesValue(spam) is { } rules)
                {
                    kept.Add($"{MessageCleaner.SpamRulesHeader}: {WordWrap.AtSpaces(rules, width: 78, firstColumn: MessageCleaner.SpamRulesHeader.Length + 2, lineBreak: newline + "\t")}");
                    changes.Add($"added {MessageCleaner.SpamRulesHeader}: {rules}");
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
}
