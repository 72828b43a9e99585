using System.Text;

namespace MailScanner.Actors.Scanning.Mime;

/// <summary>One file written into a text as a uuencoded or yEnc block: where its encoded lines are in the text.</summary>
internal sealed record EncodedBlock(string Kind, string? FileName, int Start, int Length);

/// <summary>
/// Files hidden in the text of a message as uuencoded (<c>begin 644 name</c> ... <c>end</c>) or yEnc
/// (<c>=ybegin ... name=</c> ... <c>=yend</c>) blocks, which mail programs still open as attachments
/// (MailScanner: "Find UU-Encoded Files"). Found by their marker lines and decoded here; a block without its end line
/// is decoded as far as it goes.
/// </summary>
internal static class EncodedBlocks
{
    /// <summary>Whether <paramref name="text"/> may hold a block: the cheap test before <see cref="Find"/>.</summary>
    public static bool MayContain(ReadOnlySpan<byte> text) =>
        StartsLine(text, "begin "u8) || StartsLine(text, "=ybegin "u8);

    private static bool StartsLine(ReadOnlySpan<byte> text, ReadOnlySpan<byte> marker)
    {
        if (text.StartsWith(marker)) return true;
        var at = 0;
        while (true)
        {
            var found = text[at..].IndexOf(marker);
            if (found < 0) return false;
            var index = at + found;
            if (index > 0 && text[index - 1] == '\n') return true;
            at = index + 1;
        }
    }

    /// <summary>Every block in <paramref name="text"/>, in order.</summary>
    public static List<EncodedBlock> Find(ReadOnlySpan<byte> text)
    {
        var blocks = new List<EncodedBlock>();
        var at = 0;
        while (at < text.Length)
        {
            var line = Line(text, at, out var next);
            if (line.StartsWith("begin "u8) && UuHeader(line) is { } uuName)
            {
                var end = EndOf(text, next, static l => l.SequenceEqual("end"u8));
                blocks.Add(new EncodedBlock("uuencoded", uuName, next, end - next));
                at = end;
                continue;
            }
            if (line.StartsWith("=ybegin "u8))
            {
                var end = EndOf(text, next, static l => l.StartsWith("=yend"u8));
                blocks.Add(new EncodedBlock("yEnc", YencName(line), next, end - next));
                at = end;
                continue;
            }
            at = next;
        }
        return blocks;
    }

    /// <summary>The largest number of bytes the block can decode to (what must be taken from the budget first).</summary>
    public static int MaxDecodedLength(EncodedBlock block) => block.Length;

    /// <summary>Decodes a block into <paramref name="output"/> (at least <see cref="MaxDecodedLength"/> long); the length written.</summary>
    public static int Decode(ReadOnlySpan<byte> text, EncodedBlock block, Span<byte> output) =>
        block.Kind == "yEnc" ? DecodeYenc(text.Slice(block.Start, block.Length), output) : DecodeUu(text.Slice(block.Start, block.Length), output);

    private static int DecodeUu(ReadOnlySpan<byte> body, Span<byte> output)
    {
        var written = 0;
        var at = 0;
        while (at < body.Length)
        {
            var line = Line(body, at, out var next);
            at = next;
            if (line.IsEmpty) continue;
            var count = (line[0] - 0x20) & 0x3F;
            if (count == 0) continue; // the "`" line before "end"
            var i = 1;
            while (count > 0 && i < line.Length)
            {
                int c0 = Sextet(line, i), c1 = Sextet(line, i + 1), c2 = Sextet(line, i + 2), c3 = Sextet(line, i + 3);
                var three = (c0 << 18) | (c1 << 12) | (c2 << 6) | c3;
                for (var shift = 16; shift >= 0 && count > 0 && written < output.Length; shift -= 8, count--) output[written++] = (byte)(three >> shift);
                i += 4;
            }
        }
        return written;
    }

    private static int Sextet(ReadOnlySpan<byte> line, int at) => at < line.Length ? (line[at] - 0x20) & 0x3F : 0;

    private static int DecodeYenc(ReadOnlySpan<byte> body, Span<byte> output)
    {
        var written = 0;
        var at = 0;
        while (at < body.Length)
        {
            var line = Line(body, at, out var next);
            at = next;
            if (line.StartsWith("=ypart "u8)) continue;
            for (var i = 0; i < line.Length && written < output.Length; i++)
            {
                var b = line[i];
                if (b == '=' && i + 1 < line.Length) b = (byte)(line[++i] - 64);
                output[written++] = (byte)(b - 42);
            }
        }
        return written;
    }

    /// <summary>"begin 644 name": an octal mode and a name.</summary>
    private static string? UuHeader(ReadOnlySpan<byte> line)
    {
        var rest = line[6..];
        var space = rest.IndexOf((byte)' ');
        if (space is < 3 or > 4) return null;
        foreach (var b in rest[..space]) if (b is < (byte)'0' or > (byte)'7') return null;
        var name = Encoding.Latin1.GetString(rest[(space + 1)..]).Trim();
        return name.Length == 0 ? null : name;
    }

    private static string? YencName(ReadOnlySpan<byte> line)
    {
        var at = line.IndexOf(" name="u8);
        if (at < 0) return null;
        var name = Encoding.Latin1.GetString(line[(at + 6)..]).Trim();
        return name.Length == 0 ? null : name;
    }

    /// <summary>Where the line after the block's end line starts (or the text's end).</summary>
    private static int EndOf(ReadOnlySpan<byte> text, int from, Func<ReadOnlySpan<byte>, bool> isEnd)
    {
        var at = from;
        while (at < text.Length)
        {
            var line = Line(text, at, out var next);
            if (isEnd(line)) return at;
            at = next;
        }
        return text.Length;
    }

    /// <summary>The line at <paramref name="at"/> without its line end, and where the next one starts.</summary>
    private static ReadOnlySpan<byte> Line(ReadOnlySpan<byte> text, int at, out int next)
    {
        var lf = text[at..].IndexOf((byte)'\n');
        var end = lf < 0 ? text.Length : at + lf;
        var line = text[at..end];
        if (line.Length > 0 && line[^1] == '\r') line = line[..^1];
        next = lf < 0 ? text.Length : end + 1;
        return line;
    }
}
