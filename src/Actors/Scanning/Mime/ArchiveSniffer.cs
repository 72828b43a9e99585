namespace MailScanner.Actors.Scanning.Mime;

/// <summary>Archive formats recognised by their first bytes, never by a name the sender chose.</summary>
internal enum ArchiveFormat
{
    None, Zip, Gzip, Tar,
    /// <summary>Outlook's TNEF (winmail.dat): expanded like an archive, its attachments being the members.</summary>
    Tnef,
}

internal static class ArchiveSniffer
{
    public static ArchiveFormat Detect(ReadOnlySpan<byte> content)
    {
        if (content.Length >= 4 && content[0] == 'P' && content[1] == 'K' && content[2] == 3 && content[3] == 4) return ArchiveFormat.Zip;
        // An empty zip is only its end-of-central-directory record.
        if (content.Length >= 4 && content[0] == 'P' && content[1] == 'K' && content[2] == 5 && content[3] == 6) return ArchiveFormat.Zip;
        if (content.Length >= 3 && content[0] == 0x1F && content[1] == 0x8B && content[2] == 8) return ArchiveFormat.Gzip;
        if (content.Length >= 262 && content.Slice(257, 5).SequenceEqual("ustar"u8)) return ArchiveFormat.Tar;
        if (content.Length >= 4 && content[0] == 0x78 && content[1] == 0x9F && content[2] == 0x3E && content[3] == 0x22) return ArchiveFormat.Tnef;
        return ArchiveFormat.None;
    }
}
