using System.Text;

namespace MailScanner.Actors.Scanning.Rules;

/// <summary>
/// Recognises, from the top-level header alone, a message whose body is one literal text/plain part: no
/// multipart, no message/rfc822, no base64 or quoted-printable, no file name, not an attachment (a
/// <c>Content-Disposition: inline</c> without a file name is what the analysis would see as no disposition at all).
/// Anything else, or anything unusual (a header it cannot read), is left to the full MIME analysis.
/// </summary>
internal static class PlainTextMessage
{
    /// <summary>Where the body starts, when the message is plain text; null when it needs the full analysis.</summary>
    public static int? BodyOffset(ReadOnlySpan<byte> message)
    {
        var at = 0;
        string? contentType = null, encoding = null, disposition = null;
        var current = Field.None;
        StringBuilder? value = null; // only the fields read here are collected: most header lines cost no allocation
        while (at < message.Length)
        {
            var end = message[at..].IndexOf((byte)'\n');
            var line = end < 0 ? message[at..] : message.Slice(at, end);
            var next = end < 0 ? message.Length : at + end + 1;
            if (line.Length > 0 && line[^1] == (byte)'\r') line = line[..^1];
            if (line.IsEmpty)
            {
                Keep(current, value, ref contentType, ref encoding, ref disposition);
                return IsPlain(contentType, encoding, disposition) ? next : null;
            }
            if (line[0] is (byte)' ' or (byte)'\t')
            {
                if (current == Field.None) return null;
                if (current != Field.Other) value!.Append(Encoding.Latin1.GetString(line));
            }
            else
            {
                Keep(current, value, ref contentType, ref encoding, ref disposition);
                var colon = line.IndexOf((byte)':');
                if (colon <= 0) return null;
                current = FieldOf(TrimWhiteSpace(line[..colon]));
                if (current != Field.Other) (value ??= new StringBuilder()).Clear().Append(Encoding.Latin1.GetString(line[(colon + 1)..]));
            }
            at = next;
        }
        return null;
    }

    private enum Field { None, Other, ContentType, ContentTransferEncoding, ContentDisposition }

    private static Field FieldOf(ReadOnlySpan<byte> name) =>
        Ascii.EqualsIgnoreCase(name, "Content-Type"u8) ? Field.ContentType
        : Ascii.EqualsIgnoreCase(name, "Content-Transfer-Encoding"u8) ? Field.ContentTransferEncoding
        : Ascii.EqualsIgnoreCase(name, "Content-Disposition"u8) ? Field.ContentDisposition
        : Field.Other;

    /// <summary>As <see cref="string.Trim()"/> on the Latin-1 reading of the bytes (which also counts NEL and NBSP).</summary>
    private static ReadOnlySpan<byte> TrimWhiteSpace(ReadOnlySpan<byte> bytes)
    {
        var start = 0;
        while (start < bytes.Length && char.IsWhiteSpace((char)bytes[start])) start++;
        var end = bytes.Length;
        while (end > start && char.IsWhiteSpace((char)bytes[end - 1])) end--;
        return bytes[start..end];
    }

    private static void Keep(Field field, StringBuilder? value, ref string? contentType, ref string? encoding, ref string? disposition)
    {
        switch (field)
        {
            case Field.ContentType: contentType = value!.ToString().Trim(); break;
            case Field.ContentTransferEncoding: encoding = value!.ToString().Trim(); break;
            // A second one is beyond what this reader should guess about.
            case Field.ContentDisposition: disposition = disposition is null ? value!.ToString().Trim() : ""; break;
        }
    }

    private static bool IsPlain(string? contentType, string? encoding, string? disposition)
    {
        if (disposition is not null && !IsInlineWithoutName(disposition)) return false;
        if (encoding is not null && !(encoding.Equals("7bit", StringComparison.OrdinalIgnoreCase) ||
                                      encoding.Equals("8bit", StringComparison.OrdinalIgnoreCase) ||
                                      encoding.Equals("binary", StringComparison.OrdinalIgnoreCase))) return false;
        if (contentType is null) return true;
        return contentType.StartsWith("text/plain", StringComparison.OrdinalIgnoreCase)
               && contentType.IndexOf("name", StringComparison.OrdinalIgnoreCase) < 0;
    }

    /// <summary><c>inline</c>, with no parameter that could name a file (<c>filename</c>, <c>filename*</c>, <c>name</c>).</summary>
    private static bool IsInlineWithoutName(string disposition)
    {
        var semicolon = disposition.IndexOf(';');
        var type = (semicolon < 0 ? disposition : disposition[..semicolon]).Trim();
        return type.Equals("inline", StringComparison.OrdinalIgnoreCase)
               && disposition.IndexOf("name", StringComparison.OrdinalIgnoreCase) < 0;
    }
}
