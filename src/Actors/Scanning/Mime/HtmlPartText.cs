using System.Text;
using MimeKit;

namespace MailScanner.Actors.Scanning.Mime;

/// <summary>The text of an HTML part, decoded the same way for the rules that read it and the cleaner that disarms it.</summary>
internal static class HtmlPartText
{
    /// <summary>
    /// What <see cref="TextPart.Text"/> returns, computed from the <paramref name="decoded"/> bytes instead of decoding
    /// the part a second time (and converting them to UTF-8 and back through two stream filters): the charset of the
    /// Content-Type, else a byte order mark, else a <c>&lt;meta&gt;</c> charset (<see cref="TextPart.TryDetectEncoding"/>);
    /// failing those strict UTF-8, and ISO-8859-1 when that does not decode; CRLF read as LF; and, as there, an
    /// <see cref="EncoderFallbackException"/> (an <see cref="ArgumentException"/>) when the text holds a lone surrogate.
    /// </summary>
    public static string Decode(TextPart part, byte[] decoded)
    {
        if (FormatOptions.Default.NewLineFormat != NewLineFormat.Unix) return part.Text; // not Linux: MimeKit writes CRLF
        if (!part.TryDetectEncoding(out var encoding, out _)) encoding = StrictUtf8;
        string text;
        try
        {
            text = encoding.GetString(decoded);
        }
        catch (DecoderFallbackException)
        {
            text = StrictLatin1.GetString(decoded);
        }
        // TextPart.Text writes the text out as strict UTF-8 on its way: an unpaired surrogate throws there.
        if (text.AsSpan().IndexOfAnyInRange('\uD800', '\uDFFF') >= 0) StrictUtf8.GetByteCount(text);
        return UnixNewLines(text);
    }

    private static readonly Encoding StrictUtf8 = Encoding.GetEncoding(65001, new EncoderExceptionFallback(), new DecoderExceptionFallback());
    private static readonly Encoding StrictLatin1 = Encoding.GetEncoding(28591, new EncoderExceptionFallback(), new DecoderExceptionFallback());

    /// <summary>As MimeKit's Dos2UnixFilter: CR LF becomes LF, and a CR that ends the text is dropped.</summary>
    private static string UnixNewLines(string text)
    {
        if (text.IndexOf('\r') < 0) return text;
        var unix = text.Replace("\r\n", "\n", StringComparison.Ordinal);
        return unix.EndsWith('\r') ? unix[..^1] : unix;
    }
}
