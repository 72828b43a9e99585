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
        string? current = null;
        var value = new StringBuilder();
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
                if (current is null) return null;
                value.Append(Encoding.Latin1.GetString(line));
            }
            else
            {
                Keep(current, value, ref contentType, ref encoding, ref disposition);
                var colon = line.IndexOf((byte)':');
                if (colon <= 0) return null;
                current = Encoding.Latin1.GetString(line[..colon]).Trim();
                value.Clear().Append(Encoding.Latin1.GetString(line[(colon + 1)..]));
            }
            at = next;
        }
        return null;
    }

    private static void Keep(string? name, StringBuilder value, ref string? contentType, ref string? encoding, ref string? disposition)
    {
        if (name is null) return;
        if (name.Equals("Content-Type", StringComparison.OrdinalIgnoreCase)) contentType = value.ToString().Trim();
        else if (name.Equals("Content-Transfer-Encoding", StringComparison.OrdinalIgnoreCase)) encoding = value.ToString().Trim();
        // A second one is beyond what this reader should guess about.
        else if (name.Equals("Content-Disposition", StringComparison.OrdinalIgnoreCase)) disposition = disposition is null ? value.ToString().Trim() : "";
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
