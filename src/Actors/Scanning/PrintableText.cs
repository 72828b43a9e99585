using System.Buffers;
using System.Globalization;
using System.Text;

namespace MailScanner.Actors.Scanning;

/// <summary>
/// Text that came with a message (file names, addresses, part names) made safe to show a person: in a log line, a
/// <c>quarantine</c> command's output, a warning in the delivered mail. What a screen would not show as it is becomes
/// visible as <c>\uXXXX</c>: control characters, line and paragraph separators, every format character (Unicode
/// category Cf: the bidi marks and overrides that turn <c>txt.exe</c> into <c>exe.txt</c> on screen, zero-width
/// characters, invisible tag characters) and a lone surrogate. Long text is cut, so a 64 KiB header cannot flood a log.
/// </summary>
public static class PrintableText
{
    /// <summary>How much of the text is shown; the rest is replaced by "...".</summary>
    public const int MaxLength = 256;

    /// <summary>
    /// <paramref name="text"/> with every hidden character shown as <c>\uXXXX</c> (<c>\U000XXXXX</c> beyond the BMP), at
    /// most <paramref name="maxLength"/> characters of it.
    /// </summary>
    public static string Of(string text, int maxLength = MaxLength)
    {
        var shown = text.AsSpan(0, Math.Min(text.Length, maxLength));
        StringBuilder? b = null;
        var copiedUpTo = 0;
        var at = 0;
        while (at < shown.Length)
        {
            var status = Rune.DecodeFromUtf16(shown[at..], out var rune, out var consumed);
            if (status == OperationStatus.Done && !IsHidden(rune))
            {
                at += consumed;
                continue;
            }
            b ??= new StringBuilder(text.Length + 16);
            b.Append(shown[copiedUpTo..at]);
            // A lone surrogate (or half a pair that the cut separated) is shown as the one char it is.
            if (status == OperationStatus.Done && rune.IsBmp is false) b.Append(CultureInfo.InvariantCulture, $"\\U{rune.Value:X8}");
            else b.Append(CultureInfo.InvariantCulture, $"\\u{(int)shown[at]:X4}");
            at += status == OperationStatus.Done ? consumed : 1;
            copiedUpTo = at;
        }
        var cut = text.Length > maxLength;
        if (b is null) return cut ? string.Concat(shown, "...") : text;
        b.Append(shown[copiedUpTo..]);
        if (cut) b.Append("...");
        return b.ToString();
    }

    /// <summary>A name as <see cref="Of"/> shows it, without surrounding white space; null for a missing or blank name.</summary>
    public static string? OfName(string? name) => string.IsNullOrWhiteSpace(name) ? null : Of(name.Trim());

    /// <summary>The marks and embeddings that change the order in which text is displayed (all of them are format characters).</summary>
    public static bool IsBidiControl(char c) =>
        c is '\u061C' or '\u200E' or '\u200F' or (>= '\u202A' and <= '\u202E') or (>= '\u2066' and <= '\u2069');

    private static bool IsHidden(Rune rune) => Rune.GetUnicodeCategory(rune) is UnicodeCategory.Control or UnicodeCategory.Format
        or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator;
}
