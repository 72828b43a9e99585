namespace MailScanner.Actors.Scanning.Mime;

/// <summary>Files inside archives that are mail messages themselves, which are analysed as MIME rather than as opaque bytes.</summary>
internal static class MessageSniffer
{
    private static readonly string[] HeaderNames =
        ["Return-Path:", "Received:", "From:", "To:", "Subject:", "Date:", "Message-ID:", "MIME-Version:", "Content-Type:", "Delivered-To:", "Reply-To:"];

    /// <summary>An RFC 5322 message: called *.eml, or starting with a header line that messages start with.</summary>
    public static bool IsMessage(string? fileName, ReadOnlySpan<byte> content)
    {
        if (fileName is not null && fileName.EndsWith(".eml", StringComparison.OrdinalIgnoreCase)) return true;
        var head = content[..Math.Min(content.Length, 64)];
        foreach (var name in HeaderNames)
        {
            if (head.Length >= name.Length && System.Text.Ascii.EqualsIgnoreCase(head[..name.Length], name)) return true;
        }
        return false;
    }

    /// <summary>Named *.msg or typed as an Outlook message: a compound file that is not one is then a finding, not a document.</summary>
    public static bool ClaimsOutlookMessage(string? fileName, string? mimeType) =>
        fileName is not null && fileName.EndsWith(".msg", StringComparison.OrdinalIgnoreCase) ||
        mimeType is "application/vnd.ms-outlook";

    /// <summary>Typed as TNEF or named as Outlook names it: content without the TNEF signature is then corrupt TNEF.</summary>
    public static bool ClaimsTnef(string? fileName, string mimeType) =>
        mimeType is "application/ms-tnef" or "application/vnd.ms-tnef" ||
        string.Equals(fileName, "winmail.dat", StringComparison.OrdinalIgnoreCase);
}
