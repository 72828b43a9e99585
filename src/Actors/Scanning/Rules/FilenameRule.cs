namespace MailScanner.Actors.Scanning.Rules;

/// <summary>
/// Judges a file name (of an attachment or an archive member): control characters and bidirectional overrides,
/// denied extensions, and a denied extension hidden behind a harmless-looking one.
/// </summary>
public static class FilenameRule
{
    /// <summary>The reason the name is denied, or null when it is allowed.</summary>
    public static string? Check(string fileName, FilenameSettings settings)
    {
        if (settings.DenyControlCharacters && HasControlOrBidi(fileName))
            return $"filename: name contains control or bidi-override characters ({PrintableText.Of(fileName)})";
        if (settings.Allow.Any(pattern => Glob(pattern, fileName))) return null;

        // Windows drops trailing dots and spaces: "evil.exe. " opens as evil.exe.
        var name = fileName.TrimEnd('.', ' ', '\t');
        var dot = name.LastIndexOf('.');
        if (dot < 0) return null;
        var extension = name[(dot + 1)..].ToLowerInvariant();
        if (!settings.DenyExtensions.Contains(extension)) return null;

        if (settings.DenyDoubleExtensions && HiddenExtension(name[..dot]) is { } hidden)
            return $"filename: possible filename hiding, .{hidden} hides .{extension} ({PrintableText.Of(fileName)})";
        return $"filename: .{extension} files are not allowed ({PrintableText.Of(fileName)})";
    }

    /// <summary>The extension before the last one ("pdf" of "invoice.pdf  "), if it looks like a real one.</summary>
    private static string? HiddenExtension(string stem)
    {
        var trimmed = stem.TrimEnd(' ', '\t', '_', '.');
        var dot = trimmed.LastIndexOf('.');
        if (dot <= 0) return null;
        var ext = trimmed[(dot + 1)..];
        return ext.Length is >= 1 and <= 5 && ext.All(char.IsAsciiLetterOrDigit) ? ext.ToLowerInvariant() : null;
    }

    /// <summary>
    /// C0/C1 controls, DEL, and the Unicode marks that reorder or hide how a name is displayed: bidi overrides and
    /// every other invisible format character (U+200B zero width space splits "e\u200Bxe" so that it reads as "exe"
    /// to a person but not to a filter; U+FEFF, U+2060 and the soft hyphen likewise).
    /// </summary>
    public static bool HasControlOrBidi(string name)
    {
        foreach (var c in name)
        {
            if (char.IsControl(c) || PrintableText.IsBidiControl(c) ||
                char.GetUnicodeCategory(c) is System.Globalization.UnicodeCategory.Format) return true;
        }
        return false;
    }

    /// <summary>Whole-name match with * (any run) and ? (one character), ignoring case.</summary>
    internal static bool Glob(string pattern, string name)
    {
        int p = 0, n = 0, star = -1, mark = 0;
        while (n < name.Length)
        {
            if (p < pattern.Length && (pattern[p] == '?' || char.ToLowerInvariant(pattern[p]) == char.ToLowerInvariant(name[n])))
            {
                p++;
                n++;
            }
            else if (p < pattern.Length && pattern[p] == '*')
            {
                star = p++;
                mark = n;
            }
            else if (star >= 0)
            {
                p = star + 1;
                n = ++mark;
            }
            else return false;
        }
        while (p < pattern.Length && pattern[p] == '*') p++;
        return p == pattern.Length;
    }
}
