using System.Globalization;
using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace MailScanner.Actors.Queue.Sendmail;

/// <summary>A claimed sendmail message: its <c>qf</c> lines other than headers, the headers only sendmail expands, and the message.</summary>
/// <param name="EnvelopeLines">The <c>qf</c>'s lines before its headers (version, times, flags, macros, sender, recipients), as read.</param>
/// <param name="MacroHeaders">Header lines holding unexpanded macros (<c>H?P?Return-Path: &lt;$g&gt;</c>): sendmail's, not the message's.</param>
/// <param name="Message">The expanded headers and the <c>df</c> body, as an RFC 5322 message (LF line ends).</param>
public sealed record SendmailQueuedMessage(
    ReadOnlyMemory<byte> EnvelopeLines, ReadOnlyMemory<byte> MacroHeaders, string Sender, IReadOnlyList<string> Recipients, byte[] Message);

/// <summary>
/// Sendmail's queue file pair as 8.17 writes it: <c>qf</c> holds one-letter lines (<c>V8</c>, <c>T</c>ime, <c>S&lt;sender&gt;</c>,
/// <c>R&lt;flags&gt;:&lt;recipient&gt;</c>, ...), then the headers as <c>H?flags?Name: value</c> with continuation lines as they
/// came, and ends with a line <c>.</c>; <c>df</c> holds the body. Lines end in LF.
/// </summary>
public static class SendmailQueueFile
{
    /// <summary>sendmail's MACROEXPAND byte: a header holding it is expanded by sendmail at delivery.</summary>
    private const byte MacroExpand = 0x81;

    public abstract record Result
    {
        public sealed record Read(SendmailQueuedMessage Message) : Result;

        public sealed record Malformed(string Reason) : Result;
    }

    public static Result Read(ReadOnlySpan<byte> qf, ReadOnlySpan<byte> df)
    {
        if (!qf.EndsWith("\n.\n"u8)) return new Result.Malformed("the qf file does not end with its '.' line (truncated?)");
        var lines = qf[..^2];
        string? sender = null;
        var recipients = new List<string>();
        var envelopeLength = -1;
        using var macroHeaders = new MemoryStream();
        using var message = new MemoryStream(lines.Length + df.Length);
        var inMacroHeader = false;
        var position = 0;
        while (position < lines.Length)
        {
            var end = lines[position..].IndexOf((byte)'\n');
            var line = lines.Slice(position, end + 1);
            position += line.Length;
            var text = line[..^1];
            if (envelopeLength < 0 && text.Length > 0 && text[0] != (byte)'H')
            {
                if (text[0] == (byte)'S') sender = Unbracket(text[1..]);
                else if (text[0] == (byte)'R') recipients.Add(Unbracket(RecipientAddress(text[1..])));
                continue;
            }
            if (envelopeLength < 0) envelopeLength = position - line.Length;
            if (text.Length > 0 && text[0] is (byte)' ' or (byte)'\t')
            {
                (inMacroHeader ? macroHeaders : message).Write(line);
                continue;
            }
            if (text.Length == 0 || text[0] != (byte)'H') return new Result.Malformed($"unexpected line after the qf headers: '{Printable(text)}'");
            var field = text[1..];
            if (field.Length > 0 && field[0] == (byte)'?')
            {
                var close = field[1..].IndexOf((byte)'?');
                if (close < 0) return new Result.Malformed($"a qf header's ?flags? is not closed: '{Printable(text)}'");
                field = field[(close + 2)..];
            }
            inMacroHeader = field.Contains(MacroExpand);
            if (inMacroHeader) macroHeaders.Write(line);
            else
            {
                message.Write(field);
                message.WriteByte((byte)'\n');
            }
        }
        if (envelopeLength < 0) envelopeLength = lines.Length;
        if (!qf.StartsWith("V"u8)) return new Result.Malformed("the qf file does not start with its version line");
        if (sender is null) return new Result.Malformed("the qf file has no sender (S) line");
        if (recipients.Count == 0) return new Result.Malformed("the qf file has no recipient (R) line");
        message.WriteByte((byte)'\n');
        message.Write(df);
        return new Result.Read(new SendmailQueuedMessage(qf[..envelopeLength].ToArray(), macroHeaders.ToArray(), sender, recipients, message.ToArray()));
    }

    /// <summary>The claimed envelope and sendmail's own headers around the new message's headers; the body is the <c>df</c>.</summary>
    public static (byte[] Qf, byte[] Df) Write(SendmailQueuedMessage claimed, ReadOnlySpan<byte> message) =>
        Write(claimed.EnvelopeLines.Span, claimed.MacroHeaders.Span, message);

    /// <summary>
    /// A new message as sendmail queues one received locally, with each recipient its own original recipient, and a
    /// <c>Received:</c> line naming its id as sendmail adds one: it also makes each qf, and so <see cref="IdFor"/>, unique.
    /// </summary>
    public static (byte[] Qf, byte[] Df) WriteNew(string id, QueueEnvelope envelope, DateTimeOffset now, ReadOnlySpan<byte> message)
    {
        var lines = new StringBuilder();
        lines.Append(CultureInfo.InvariantCulture, $"V8\nT{now.ToUnixTimeSeconds()}\nK0\nN0\nP30000\nFs\n$_localhost\n$rlocal\nS<{envelope.Sender}>\n");
        foreach (var recipient in envelope.Recipients) lines.Append(CultureInfo.InvariantCulture, $"rRFC822; {recipient}\nRPFD:<{recipient}>\n");
        var received = Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture,
            $"Received: by localhost (mailscanner-actors enqueue) id {id};\n\t{now.UtcDateTime:ddd, d MMM yyyy HH:mm:ss} +0000\n"));
        return Write(Encoding.UTF8.GetBytes(lines.ToString()), [], [.. received, .. message]);
    }

    /// <summary>
    /// A sendmail-like queue id (<c>YMDhms</c> in base 60, two sequence characters, six digits) for a message composed
    /// from <paramref name="claimedQf"/>: the same for the same claimed file, so a repeated write after a crash names the
    /// same files. The time is the qf's <c>T</c> line's.
    /// </summary>
    public static string IdFor(ReadOnlySpan<byte> claimedQf)
    {
        var time = DateTimeOffset.UnixEpoch;
        foreach (var line in Encoding.ASCII.GetString(claimedQf).Split('\n'))
            if (line.StartsWith('T') && long.TryParse(line.AsSpan(1), CultureInfo.InvariantCulture, out var seconds))
            {
                time = DateTimeOffset.FromUnixTimeSeconds(seconds);
                break;
            }
        var hash = BinaryPrimitives.ReadUInt64LittleEndian(SHA256.HashData(claimedQf));
        return IdOf(time, (int)(hash % 3600), (int)(hash / 3600 % 1_000_000));
    }

    public static string IdOf(DateTimeOffset time, int sequence, int number)
    {
        var utc = time.UtcDateTime;
        return string.Concat(
            new[] { utc.Year - 1900, utc.Month - 1, utc.Day, utc.Hour, utc.Minute, utc.Second, sequence / 60, sequence % 60 }.Select(v => Base60[v % 60]))
            + number.ToString("D6", CultureInfo.InvariantCulture);
    }

    private const string Base60 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwx";

    private static (byte[] Qf, byte[] Df) Write(ReadOnlySpan<byte> envelopeLines, ReadOnlySpan<byte> macroHeaders, ReadOnlySpan<byte> message)
    {
        var text = message.IndexOf((byte)'\r') < 0 ? message.ToArray() : WithoutCarriageReturns(message);
        var split = text.AsSpan().IndexOf("\n\n"u8);
        var headerSection = split < 0 ? text.AsSpan() : text.AsSpan(0, split + 1);
        var body = split < 0 ? ReadOnlySpan<byte>.Empty : text.AsSpan(split + 2);
        using var qf = new MemoryStream(envelopeLines.Length + macroHeaders.Length + headerSection.Length + 64);
        qf.Write(envelopeLines);
        qf.Write(macroHeaders);
        while (!headerSection.IsEmpty)
        {
            var end = headerSection.IndexOf((byte)'\n');
            var line = end < 0 ? headerSection : headerSection[..(end + 1)];
            if (line[0] is not ((byte)' ' or (byte)'\t')) qf.Write("H??"u8);
            qf.Write(line);
            if (end < 0) qf.WriteByte((byte)'\n');
            headerSection = headerSection[line.Length..];
        }
        qf.Write(".\n"u8);
        return (qf.ToArray(), body.ToArray());
    }

    private static byte[] WithoutCarriageReturns(ReadOnlySpan<byte> message)
    {
        var output = new byte[message.Length];
        var length = 0;
        for (var i = 0; i < message.Length; i++)
            if (!(message[i] == (byte)'\r' && i + 1 < message.Length && message[i + 1] == (byte)'\n'))
                output[length++] = message[i];
        return output[..length];
    }

    /// <summary><c>R</c> lines carry flags up to a colon (<c>RPFD:&lt;a@b&gt;</c>); very old files have none.</summary>
    private static ReadOnlySpan<byte> RecipientAddress(ReadOnlySpan<byte> value)
    {
        var colon = value.IndexOf((byte)':');
        return colon >= 0 && value[..colon].IndexOfAnyExceptInRange((byte)'A', (byte)'Z') < 0 ? value[(colon + 1)..] : value;
    }

    private static string Unbracket(ReadOnlySpan<byte> address)
    {
        var text = Encoding.UTF8.GetString(address).Trim();
        return text.Length >= 2 && text[0] == '<' && text[^1] == '>' ? text[1..^1] : text;
    }

    private static string Printable(ReadOnlySpan<byte> text) => Encoding.UTF8.GetString(text[..Math.Min(text.Length, 80)]);
}
