using System.Globalization;
using System.Text;

namespace MailScanner.Actors.Queue.Exim;

/// <summary>
/// A message as Exim keeps it on its spool: <c>&lt;id&gt;-H</c> (envelope, options, headers) and <c>&lt;id&gt;-D</c>
/// (the body), each starting with its own name. Written by the same Exim release that reads it (the spec calls the
/// format internal), so the reader is strict about the structure and lenient about option lines it does not know.
/// </summary>
/// <param name="EnvelopePart">The <c>-H</c> file up to its header lines: carried over byte for byte into the outgoing <c>-H</c>.</param>
/// <param name="Message">The live header lines (those Exim has not marked deleted) and the body, as an RFC 5322 message (LF line ends).</param>
public sealed record EximSpoolMessage(string Id, ReadOnlyMemory<byte> EnvelopePart, string Sender, IReadOnlyList<string> Recipients, byte[] Message);

/// <summary>Reads a <c>-H</c>/<c>-D</c> pair; never throws for bad input.</summary>
public static class EximSpoolReader
{
    public abstract record Result
    {
        public sealed record Read(EximSpoolMessage Message) : Result;
        public sealed record Malformed(string Reason) : Result;
    }

    public static Result Read(ReadOnlySpan<byte> header, ReadOnlySpan<byte> data)
    {
        var h = new LineReader(header);
        if (!h.TryLine(out var first) || !EximMessageId.TryFromFileName(first, 'H', out var id))
            return Bad($"the -H file does not start with its own name (<id>-H)");
        if (!h.TryLine(out _)) return Bad("the -H file ends after its first line");
        if (!h.TryLine(out var senderLine) || senderLine.Length < 2 || senderLine[0] != '<' || senderLine[^1] != '>')
            return Bad("the -H file has no <sender> line");
        if (!h.TryLine(out _)) return Bad("the -H file has no time line");
        string line;
        while (true)
        {
            if (!h.TryLine(out line)) return Bad("the -H file ends in its option lines");
            if (line.Length == 0 || line[0] != '-') break;
            if (line.StartsWith("-spool_file_wireformat", StringComparison.Ordinal))
                return Bad("its -D file is in wire format (spool_wireformat), which the gateway does not read");
            // ACL variables: "-aclc NAME LENGTH" (or -aclm, or the older -acl N LENGTH), then LENGTH bytes and a newline.
            if (line.StartsWith("-acl", StringComparison.Ordinal) || line.StartsWith("--acl", StringComparison.Ordinal))
            {
                var lengthText = line[(line.LastIndexOf(' ') + 1)..];
                if (!int.TryParse(lengthText, NumberStyles.None, CultureInfo.InvariantCulture, out var length) || !h.TrySkip(length + 1))
                    return Bad($"the -H file has a broken ACL variable line '{line}'");
            }
        }
        if (!SkipTree(ref h, line, out var treeProblem)) return Bad(treeProblem);
        if (!h.TryLine(out var countLine) || !int.TryParse(countLine, NumberStyles.None, CultureInfo.InvariantCulture, out var count))
            return Bad("the -H file has no recipient count");
        var recipients = new List<string>(count);
        for (var i = 0; i < count; i++)
        {
            if (!h.TryLine(out var recipient)) return Bad($"the -H file ends after {i} of its {count} recipients");
            recipients.Add(AddressOf(recipient));
        }
        if (!h.TryLine(out var blank) || blank.Length != 0) return Bad("the -H file has no blank line after its recipients");
        var envelopeLength = h.Position;

        var message = new List<byte>(header.Length + data.Length);
        while (!h.AtEnd)
        {
            if (!h.TryHeader(out var flag, out var text)) return Bad($"the -H file has a broken header line at byte {h.Position}");
            if (flag != '*') message.AddRange(text.ToArray());
        }
        var d = new LineReader(data);
        if (!d.TryLine(out var dataName) || dataName != id + "-D") return Bad($"the -D file does not start with its own name ({id}-D)");
        message.Add((byte)'\n');
        message.AddRange(data[d.Position..].ToArray());
        return new Result.Read(new EximSpoolMessage(id, header[..envelopeLength].ToArray(), senderLine[1..^1], recipients, message.ToArray()));
    }

    private static Result Bad(string reason) => new Result.Malformed(reason);

    /// <summary>The non-recipients tree: "XX" when empty, else nodes "ab address" whose a/b (Y or N) say a left/right subtree follows.</summary>
    private static bool SkipTree(ref LineReader reader, string first, out string problem)
    {
        problem = "";
        if (first == "XX") return true;
        var pending = 1;
        var line = first;
        while (true)
        {
            if (line.Length < 3 || line[0] is not ('Y' or 'N') || line[1] is not ('Y' or 'N') || line[2] != ' ')
            {
                problem = $"the -H file has a broken non-recipients line '{line}'";
                return false;
            }
            pending += (line[0] == 'Y' ? 1 : 0) + (line[1] == 'Y' ? 1 : 0) - 1;
            if (pending == 0) return true;
            if (!reader.TryLine(out line))
            {
                problem = "the -H file ends in its non-recipients tree";
                return false;
            }
        }
    }

    /// <summary>
    /// A recipient line is the address alone, or (with DSN data, an errors address or a parent) the address followed by
    /// length-counted fields and <c>#flags</c>: bit 1 an errors address ("... ERRORS LEN,PNO"), bit 2 an original
    /// recipient ("... ORCPT LEN,DSNFLAGS"), read from the end as Exim's own spool_in does.
    /// </summary>
    internal static string AddressOf(string line)
    {
        var hash = line.LastIndexOf('#');
        if (hash < 0 || hash == line.Length - 1 || !int.TryParse(line.AsSpan(hash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var flags))
            return line;
        var end = hash;
        if ((flags & 1) != 0 && !SkipCountedField(line, ref end)) return line;
        if ((flags & 2) != 0 && !SkipCountedField(line, ref end)) return line;
        return line[..end];
    }

    /// <summary>Moves <paramref name="end"/> before " FIELD LEN,N"; false when the line is not shaped so.</summary>
    private static bool SkipCountedField(string line, ref int end)
    {
        var space = line.LastIndexOf(' ', end - 1);
        if (space < 0) return false;
        var counts = line.AsSpan(space + 1, end - space - 1);
        var comma = counts.IndexOf(',');
        if (comma < 0 || !int.TryParse(counts[..comma], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var length)) return false;
        var fieldStart = space - length;
        if (length < 0 || fieldStart < 1 || line[fieldStart - 1] != ' ') return false;
        end = fieldStart - 1;
        return true;
    }

    private ref struct LineReader(ReadOnlySpan<byte> content)
    {
        private readonly ReadOnlySpan<byte> _content = content;

        public int Position { get; private set; }

        public readonly bool AtEnd => Position >= _content.Length;

        public bool TryLine(out string line)
        {
            line = "";
            var rest = _content[Position..];
            var newline = rest.IndexOf((byte)'\n');
            if (newline < 0) return false;
            line = Encoding.UTF8.GetString(rest[..newline]);
            Position += newline + 1;
            return true;
        }

        public bool TrySkip(int count)
        {
            if (count < 0 || Position + count > _content.Length) return false;
            Position += count;
            return true;
        }

        /// <summary>"NNNf TEXT": at least three digits, a flag character, a space, then NNN bytes of header text (newlines included).</summary>
        public bool TryHeader(out char flag, out ReadOnlySpan<byte> text)
        {
            flag = ' ';
            text = default;
            var rest = _content[Position..];
            var digits = 0;
            while (digits < rest.Length && digits < 7 && char.IsAsciiDigit((char)rest[digits])) digits++;
            if (digits < 3 || rest.Length < digits + 2 || rest[digits + 1] != (byte)' ') return false;
            var length = int.Parse(Encoding.ASCII.GetString(rest[..digits]), NumberStyles.None, CultureInfo.InvariantCulture);
            flag = (char)rest[digits];
            var start = digits + 2;
            if (length == 0 || rest.Length < start + length || rest[start + length - 1] != (byte)'\n') return false;
            text = rest.Slice(start, length);
            Position += start + length;
            return true;
        }
    }
}
