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
            // Most mail passes here, so the header lines stay where they are in the message: only a line that is
            // changed (the subject) or added becomes text. Bytes are Latin-1 both ways, so 8-bit junk survives untouched.
            // Sized for every line and the few added, so the list is allocated once.
            var kept = new List<HeaderLine>(bytes[..headerEnd].Count((byte)'\n') + 5);
            var skipping = false;
            List<(string Field, int Count)>? removed = null;
            // As the header block split at each line feed: a block that ended in one would end in an empty line.
            for (var at = 0; headerEnd > 0 && at <= headerEnd;)
            {
                var lf = bytes[at..headerEnd].IndexOf((byte)'\n');
                var next = lf < 0 ? headerEnd : at + lf;
                var line = bytes[at..next].TrimEnd((byte)'\r');
                var header = new HeaderLine(at, line.Length, null);
                at = next + 1;
                var continuation = line.Length > 0 && line[0] is (byte)' ' or (byte)'\t';
                if (continuation && skipping) continue;
                skipping = false;
                if (!continuation && OwnHeaderOf(line) is { } own)
                {
                    skipping = true;
                    removed ??= [];
                    // A loop, not FindIndex with a lambda: capturing `own` allocated a closure for every header line.
                    var seen = IndexOf(removed, own);
                    if (seen < 0) removed.Add((own, 1));
                    else removed[seen] = (own, removed[seen].Count + 1);
                    continue;
                }
                kept.Add(header);
            }
            foreach (var (field, count) in removed ?? []) changes.Add($"removed {count} {field} header(s) already in the message");

            var tag = request.SubjectTag is null ? null : MessageCleaner.OneLine(request.SubjectTag).Trim();
            if (!string.IsNullOrEmpty(tag)) TagRawSubject(kept, bytes, tag, changes);

            var verdict = Verdict.Name(request.Verdict.Kind);
            kept.Add(HeaderLine.Of($"{MessageCleaner.VerdictHeader}: {verdict}"));
            changes.Add($"added {MessageCleaner.VerdictHeader}: {verdict}");
            if (request.Spam is { } spam)
            {
                kept.Add(HeaderLine.Of($"{MessageCleaner.SpamScoreHeader}: {MessageCleaner.SpamScoreValue(spam)}"));
                changes.Add($"added {MessageCleaner.SpamScoreHeader}: {MessageCleaner.SpamScoreValue(spam)}");
                if (MessageCleaner.SpamRulesValue(spam) is { } rules)
                {
                    kept.Add(HeaderLine.Of($"{MessageCleaner.SpamRulesHeader}: {WordWrap.AtSpaces(rules, width: 78, firstColumn: MessageCleaner.SpamRulesHeader.Length + 2, lineBreak: newline + "\t")}"));
                    changes.Add($"added {MessageCleaner.SpamRulesHeader}: {rules}");
                }
            }
            if (request.ReplaceDangerousParts && request.Findings.Any(f => f.Kind is VerdictKind.Infected or VerdictKind.DangerousContent))
                changes.Add("not replaced: dangerous parts cannot be cut out of a message that cannot be parsed");

            // Each line ends as the message's first line does; the blank line and the body follow as they are.
            var end = Encoding.ASCII.GetBytes(newline);
            var rest = bodyStart < 0 ? end : bytes[bodyStart..];
            var output = new byte[kept.Sum(l => l.ByteCount + end.Length) + rest.Length];
            var written = 0;
            foreach (var line in kept)
            {
                written += line.Text is null
                    ? Copy(bytes.Slice(line.Start, line.Length), output, written)
                    : Encoding.Latin1.GetBytes(line.Text, output.AsSpan(written));
                written += Copy(end, output, written);
            }
            Copy(rest, output, written);
            return new CleanedMessage(output, changes);
        }
        catch (Exception e)
        {
            changes.Add($"headers not added either ({e.GetType().Name}: {e.Message}); message passed on unchanged");
            return new CleanedMessage(message.ToArray(), changes);
        }
    }

    /// <summary>One header line of the output: a range of the message (its line break left out), or new text.</summary>
    private readonly record struct HeaderLine(int Start, int Length, string? Text)
    {
        public static HeaderLine Of(string text) => new(0, 0, text);

        public int ByteCount => Text is null ? Length : Encoding.Latin1.GetByteCount(Text);
    }

    private static int IndexOf(List<(string Field, int Count)> removed, string field)
    {
        for (var i = 0; i < removed.Count; i++)
            if (removed[i].Field == field) return i;
        return -1;
    }

    private static int Copy(ReadOnlySpan<byte> from, byte[] to, int at)
    {
        from.CopyTo(to.AsSpan(at));
        return from.Length;
    }

    /// <summary>Which of the gateway's own headers <paramref name="line"/> starts, as it spells it; null for none.</summary>
    private static string? OwnHeaderOf(ReadOnlySpan<byte> line)
    {
        foreach (var field in MessageCleaner.OwnHeaders)
            if (IsField(line, field)) return field;
        return null;
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

    /// <summary>
    /// The line starts the header <paramref name="field"/>: its name in any case of ASCII letters, then blanks and a
    /// colon. Field names are ASCII and no other Latin-1 character folds to an ASCII letter, so comparing bytes
    /// agrees with comparing the line's Latin-1 text.
    /// </summary>
    private static bool IsField(ReadOnlySpan<byte> line, string field) =>
        line.Length > field.Length && Ascii.EqualsIgnoreCase(line[..field.Length], field)
        && line[field.Length..].TrimStart(" \t"u8) is [(byte)':', ..];

    private static void TagRawSubject(List<HeaderLine> lines, ReadOnlySpan<byte> bytes, string tag, List<string> changes)
    {
        var at = -1;
        for (var i = 0; i < lines.Count && at < 0; i++)
            if (lines[i].Text is null && IsField(bytes.Slice(lines[i].Start, lines[i].Length), "Subject")) at = i;
        if (at < 0)
        {
            lines.Add(HeaderLine.Of($"Subject: {tag}"));
            changes.Add($"subject tagged {tag}");
            return;
        }
        var subject = Encoding.Latin1.GetString(bytes.Slice(lines[at].Start, lines[at].Length));
        var colon = subject.IndexOf(':');
        var value = subject[(colon + 1)..].TrimStart();
        if (value.StartsWith(tag, StringComparison.Ordinal))
        {
            changes.Add($"subject already tagged {tag}");
            return;
        }
        // A tag in front of an encoded word is plain text followed by that encoded word: both still decode.
        var tagBytes = Encoding.UTF8.GetBytes(tag);
        var tagText = tag.All(char.IsAscii) ? tag : $"=?utf-8?B?{Convert.ToBase64String(tagBytes)}?=";
        lines[at] = HeaderLine.Of(value.Length == 0 ? $"Subject: {tagText}" : $"Subject: {tagText} {value}");
        changes.Add($"subject tagged {tag}");
    }
}
