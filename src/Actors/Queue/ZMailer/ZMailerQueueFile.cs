using System.Text;
using System.Text.Unicode;

namespace MailScanner.Actors.Queue.ZMailer;

/// <summary>
/// The ZMailer queue file format: envelope lines (<c>from</c>, <c>to</c>, <c>rcvdfrom</c>, others), a line
/// <c>env-end</c>, then the RFC 5322 message as raw bytes. Files in <c>router/</c> are named by their inode number.
/// </summary>
public static class ZMailerQueueFile
{
    /// <summary>Longer envelope lines mean the file is not an envelope at all (or is hostile); refuse rather than buffer.</summary>
    public const int MaxEnvelopeLineLength = 8192;

    /// <summary>An inode number is a 64-bit unsigned integer: at most 20 decimal digits.</summary>
    private const int MaxQueueFileNameLength = 20;

    private const string FromKeyword = "from";
    private const string ToKeyword = "to";
    private const string ReceivedFromKeyword = "rcvdfrom";
    private const string EnvelopeEnd = "env-end";

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>
    /// True for a message file (all ASCII digits, as ZMailer names it after its inode). Everything else in
    /// <c>router/</c> is an MTA temp file still being written and must be left alone.
    /// </summary>
    public static bool IsQueueFileName(string name) =>
        name.Length is > 0 and <= MaxQueueFileNameLength && name.AsSpan().IndexOfAnyExceptInRange('0', '9') < 0;

    /// <summary>Reads the envelope of a queue file. Never throws: anything unreadable is <see cref="ZMailerParseResult.Malformed"/>.</summary>
    public static ZMailerParseResult Parse(ReadOnlySpan<byte> content)
    {
        if (content.IsEmpty) return new ZMailerParseResult.Malformed("empty file");

        string? sender = null;
        string? receivedFrom = null;
        var recipients = new List<string>();
        var otherLines = new List<string>();
        var position = 0;

        while (position < content.Length)
        {
            var rest = content[position..];
            var window = rest[..Math.Min(rest.Length, MaxEnvelopeLineLength + 2)]; // room for the line's "\r\n"
            var newline = window.IndexOf((byte)'\n');
            var lineBytes = newline < 0 ? window : window[..newline];
            if (lineBytes.EndsWith("\r"u8)) lineBytes = lineBytes[..^1];

            // Garbage is named as garbage before it is blamed on a missing newline or an over-long line.
            if (HasControlCharacter(lineBytes)) return new ZMailerParseResult.Malformed($"binary data in envelope at byte {position}");
            if (lineBytes.Length > MaxEnvelopeLineLength || (newline < 0 && window.Length < rest.Length))
                return new ZMailerParseResult.Malformed($"envelope line too long at byte {position} (limit {MaxEnvelopeLineLength})");
            if (!Utf8.IsValid(lineBytes)) return new ZMailerParseResult.Malformed($"binary data in envelope at byte {position} (not UTF-8)");
            if (newline < 0) return new ZMailerParseResult.Malformed("no env-end line");

            var line = StrictUtf8.GetString(lineBytes);
            position += newline + 1;

            if (line == EnvelopeEnd)
            {
                if (sender is null) return new ZMailerParseResult.Malformed("no from line");
                if (recipients.Count == 0) return new ZMailerParseResult.Malformed("no recipients");
                return new ZMailerParseResult.Parsed(new Envelope(sender, recipients, receivedFrom, otherLines), position);
            }
            if (line.Length == 0) return new ZMailerParseResult.Malformed("empty line in envelope (a message without an envelope?)");

            if (TryValueOf(line, FromKeyword, out var fromValue))
            {
                if (sender is not null) return new ZMailerParseResult.Malformed("more than one from line");
                if (!TryBareAddress(fromValue, out sender)) return new ZMailerParseResult.Malformed($"malformed address in line '{line}'");
            }
            else if (TryValueOf(line, ToKeyword, out var toValue))
            {
                if (!TryBareAddress(toValue, out var recipient) || recipient.Length == 0)
                    return new ZMailerParseResult.Malformed($"malformed address in line '{line}'");
                recipients.Add(recipient);
            }
            else if (TryValueOf(line, ReceivedFromKeyword, out var receivedFromValue))
            {
                if (receivedFrom is not null) return new ZMailerParseResult.Malformed("more than one rcvdfrom line");
                if (receivedFromValue.Length == 0) return new ZMailerParseResult.Malformed("rcvdfrom line without a host");
                receivedFrom = receivedFromValue;
            }
            else
            {
                otherLines.Add(line);
            }
        }
        return new ZMailerParseResult.Malformed("no env-end line");
    }

    /// <summary>
    /// Writes a queue file's content: from, rcvdfrom (if any), the other lines, to lines, env-end, message.
    /// Throws <see cref="ArgumentException"/> for an envelope that would not read back as itself.
    /// </summary>
    public static byte[] Format(Envelope envelope, ReadOnlySpan<byte> message)
    {
        ValidateForFormat(envelope);

        var text = new StringBuilder();
        text.Append(FromKeyword).Append(" <").Append(envelope.Sender).Append(">\n");
        if (envelope.ReceivedFrom is not null) text.Append(ReceivedFromKeyword).Append(' ').Append(envelope.ReceivedFrom).Append('\n');
        foreach (var line in envelope.OtherLines) text.Append(line).Append('\n');
        foreach (var recipient in envelope.Recipients) text.Append(ToKeyword).Append(" <").Append(recipient).Append(">\n");
        text.Append(EnvelopeEnd).Append('\n');

        var envelopeBytes = StrictUtf8.GetBytes(text.ToString());
        var content = new byte[envelopeBytes.Length + message.Length];
        envelopeBytes.CopyTo(content, 0);
        message.CopyTo(content.AsSpan(envelopeBytes.Length));
        return content;
    }

    private static void ValidateForFormat(Envelope envelope)
    {
        if (envelope.Recipients.Count == 0) throw new ArgumentException("an envelope needs at least one recipient", nameof(envelope));
        if (!IsBareAddress(envelope.Sender)) throw new ArgumentException($"sender '{envelope.Sender}' is not a bare address", nameof(envelope));
        foreach (var recipient in envelope.Recipients)
        {
            if (recipient.Length == 0 || !IsBareAddress(recipient))
                throw new ArgumentException($"recipient '{recipient}' is not a bare address", nameof(envelope));
        }
        if (envelope.ReceivedFrom is { } receivedFrom
            && (receivedFrom.Length == 0 || receivedFrom.Trim() != receivedFrom || !IsEnvelopeText(receivedFrom)))
            throw new ArgumentException($"rcvdfrom '{receivedFrom}' is not a single trimmed line", nameof(envelope));
        foreach (var line in envelope.OtherLines)
        {
            // A line that would read back as something else (or end the envelope early) would silently change the file.
            if (line.Length == 0 || !IsEnvelopeText(line) || line == EnvelopeEnd
                || TryValueOf(line, FromKeyword, out _) || TryValueOf(line, ToKeyword, out _) || TryValueOf(line, ReceivedFromKeyword, out _))
                throw new ArgumentException($"'{line}' cannot be kept as an other envelope line", nameof(envelope));
        }
    }

    /// <summary>Matches "keyword", "keyword value" or "keyword\tvalue"; the value comes back trimmed.</summary>
    private static bool TryValueOf(string line, string keyword, out string value)
    {
        value = "";
        if (!line.StartsWith(keyword, StringComparison.Ordinal)) return false;
        if (line.Length == keyword.Length) return true;
        if (line[keyword.Length] is not (' ' or '\t')) return false;
        value = line[(keyword.Length + 1)..].Trim();
        return true;
    }

    /// <summary>ZMailer writes addresses as &lt;addr&gt;; older tools wrote them bare. Either way we keep the bare address.</summary>
    private static bool TryBareAddress(string value, out string address)
    {
        address = value.Length >= 2 && value[0] == '<' && value[^1] == '>' ? value[1..^1] : value;
        return IsBareAddress(address);
    }

    private static bool IsBareAddress(string address) =>
        address.IndexOfAny(['<', '>']) < 0 && address.Trim() == address && IsEnvelopeText(address);

    /// <summary>Envelope lines are text: valid UTF-8 (SMTPUTF8 addresses) without control characters other than tab.</summary>
    private static bool IsEnvelopeText(string text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            if (IsControl(text[i])) return false;
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1])) i++;
            else if (char.IsSurrogate(text[i])) return false; // would not encode to UTF-8 and back
        }
        return true;
    }

    private static bool HasControlCharacter(ReadOnlySpan<byte> line)
    {
        foreach (var b in line)
        {
            if (IsControl((char)b)) return true;
        }
        return false;
    }

    private static bool IsControl(char c) => (c < ' ' && c != '\t') || c == '\u007f';
}
