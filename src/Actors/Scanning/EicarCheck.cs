using MailScanner.Actors.Scanning.Mime;
using System.Text;
using MimeKit;

namespace MailScanner.Actors.Scanning;

/// <summary>
/// The built-in virus check of the queue pipeline: the EICAR test string, in the raw message or in any
/// decoded MIME part (base64 and quoted-printable hide it from a raw search). The full engine replaces this.
/// </summary>
public static class EicarCheck
{
    private static readonly byte[] Signature =
        Encoding.ASCII.GetBytes(@"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*");
    private static readonly byte[] EncodedPartMarker = Encoding.ASCII.GetBytes("content-transfer-encoding");

    public static Verdict Scan(ReadOnlyMemory<byte> message)
    {
        if (message.Span.IndexOf(Signature) >= 0) return Verdict.Infected("EICAR test signature");
        // Only a message with an encoded part can hide the string; parsing MIME costs far more than a search.
        if (!ContainsIgnoringAsciiCase(message.Span, EncodedPartMarker)) return Verdict.Clean;
        return ScanDecodedParts(message);
    }

    private static Verdict ScanDecodedParts(ReadOnlyMemory<byte> message)
    {
        MimeMessage parsed;
        using (var stream = ReadOnlyStreams.Over(message))
        {
            try { parsed = MimeMessage.Load(stream); }
            catch (FormatException) { return Verdict.Clean; }
        }
        foreach (var part in parsed.BodyParts.OfType<MimePart>())
        {
            if (part.Content is null) continue;
            using var decoded = new MemoryStream();
            part.Content.DecodeTo(decoded);
            if (decoded.GetBuffer().AsSpan(0, (int)decoded.Length).IndexOf(Signature) >= 0)
                return Verdict.Infected($"EICAR test signature in {PrintableText.Of(part.FileName ?? part.ContentType.MimeType)}");
        }
        return Verdict.Clean;
    }

    private static bool ContainsIgnoringAsciiCase(ReadOnlySpan<byte> haystack, ReadOnlySpan<byte> lowerNeedle)
    {
        var first = lowerNeedle[0];
        for (var i = 0; i <= haystack.Length - lowerNeedle.Length; i++)
        {
            var next = haystack[i..].IndexOfAny(first, (byte)(first - 32));
            if (next < 0) return false;
            i += next;
            if (i > haystack.Length - lowerNeedle.Length) return false;
            if (Ascii.EqualsIgnoreCase(haystack.Slice(i, lowerNeedle.Length), lowerNeedle)) return true;
        }
        return false;
    }
}
