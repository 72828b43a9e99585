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

    /// <summary>An Outlook .msg (an OLE compound file called *.msg): a message this gateway cannot take apart.</summary>
    public static bool IsOutlookMessage(string? fileName, ReadOnlySpan<byte> content) =>
        fileName is not null && fileName.EndsWith(".msg", StringComparison.OrdinalIgnoreCase) &&
        content.StartsWith((ReadOnlySpan<byte>)[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]);
}
