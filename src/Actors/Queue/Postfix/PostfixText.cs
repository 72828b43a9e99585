using System.Buffers;
using System.Text;
using System.Text.Unicode;

namespace MailScanner.Actors.Queue.Postfix;

/// <summary>
/// The text of the envelope records (sender, recipients, original recipients, DSN original recipients) as strings that
/// give back the exact bytes Postfix stored. Those bytes are usually UTF-8, but with <c>smtputf8_enable = no</c> smtpd
/// accepts any 8-bit byte in an address (Postfix 3.7.11 answered 250 to <c>MAIL FROM:&lt;\xe9t\xe9@example.org&gt;</c>
/// and stored the bytes as they came), and qmgr delivers to exactly those bytes. So a byte that is not part of valid
/// UTF-8 is kept as the lone surrogate U+DC00 + byte (Python's "surrogateescape", PEP 383): valid UTF-8 never decodes to
/// a lone surrogate, so encoding gives the same bytes back. <see cref="Display"/> is the text for everything else (logs,
/// journal, policy), with U+FFFD where such a byte was.
/// </summary>
public static class PostfixText
{
    private const char FirstEscape = '\uDC80', LastEscape = '\uDCFF';

    public static string Decode(ReadOnlySpan<byte> bytes)
    {
        if (Utf8.IsValid(bytes)) return Encoding.UTF8.GetString(bytes);
        var text = new StringBuilder(bytes.Length);
        while (!bytes.IsEmpty)
        {
            if (Rune.DecodeFromUtf8(bytes, out var rune, out var consumed) == OperationStatus.Done)
            {
                text.Append(rune.ToString());
            }
            else
            {
                // An invalid byte is always >= 0x80 (every ASCII byte is valid UTF-8), so it lands in U+DC80..U+DCFF.
                consumed = 1;
                text.Append((char)(0xDC00 + bytes[0]));
            }
            bytes = bytes[consumed..];
        }
        return text.ToString();
    }

    public static byte[] Encode(string text)
    {
        if (!HasEscape(text)) return Encoding.UTF8.GetBytes(text);
        var bytes = new ArrayBufferWriter<byte>(text.Length);
        for (var index = 0; index < text.Length;)
        {
            var end = index;
            while (end < text.Length && !IsEscapeAt(text, end)) end++;
            if (end > index)
            {
                bytes.Write(Encoding.UTF8.GetBytes(text, index, end - index));
                index = end;
                continue;
            }
            bytes.Write([(byte)(text[index] - 0xDC00)]);
            index++;
        }
        return bytes.WrittenSpan.ToArray();
    }

    /// <summary>The text with U+FFFD for each byte that was not UTF-8: safe for any UTF-8 or JSON output.</summary>
    public static string Display(string text) => HasEscape(text) ? Encoding.UTF8.GetString(Encode(text)) : text;

    private static bool HasEscape(string text)
    {
        for (var index = 0; index < text.Length; index++)
            if (IsEscapeAt(text, index)) return true;
        return false;
    }

    /// <summary>A low surrogate in the escape range that is not the second half of a pair (a decoded 4-byte character may end in one).</summary>
    private static bool IsEscapeAt(string text, int index) =>
        text[index] is >= FirstEscape and <= LastEscape && (index == 0 || !char.IsHighSurrogate(text[index - 1]));
}
