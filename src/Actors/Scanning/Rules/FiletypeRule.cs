using System.Buffers.Binary;

namespace MailScanner.Actors.Scanning.Rules;

/// <summary>
/// Recognises executable content by its first bytes, whatever the file is called (MailScanner's filetype rules
/// ask file(1) the same question). Only formats that are code are named; documents and images never are.
/// </summary>
public static class FiletypeRule
{
    /// <summary>What kind of executable <paramref name="content"/> is, or null if it is none of them.</summary>
    public static string? Executable(ReadOnlySpan<byte> content)
    {
        if (content.Length < 4) return null;
        if (content[0] == 'M' && content[1] == 'Z') return DosOrPe(content);
        var magic = BinaryPrimitives.ReadUInt32BigEndian(content);
        switch (magic)
        {
            case 0x7F454C46: return "ELF executable";
            case 0xFEEDFACE or 0xFEEDFACF or 0xCEFAEDFE or 0xCFFAEDFE: return "Mach-O executable";
            case 0xCAFEBABE: return "Mach-O universal binary or Java class";
        }
        if (content.Length >= 20 && content[..8].SequenceEqual((ReadOnlySpan<byte>)[0x4C, 0, 0, 0, 0x01, 0x14, 0x02, 0x00]))
            return "Windows shortcut (LNK)";
        if (content.StartsWith("REGEDIT4"u8)) return "Windows registry file";
        if (content.StartsWith((ReadOnlySpan<byte>)[0xFF, 0xFE, (byte)'W', 0, (byte)'i', 0, (byte)'n', 0, (byte)'d', 0]))
            return "Windows registry file";
        return null;
    }

    /// <summary>
    /// "MZ" alone is two letters of text; a real header has a PE signature where e_lfanew points, or a DOS header
    /// whose fields fit the file.
    /// </summary>
    private static string? DosOrPe(ReadOnlySpan<byte> content)
    {
        if (content.Length >= 0x40)
        {
            var peOffset = BinaryPrimitives.ReadInt32LittleEndian(content[0x3C..]);
            if (peOffset >= 0x40 && peOffset <= content.Length - 4 && content.Slice(peOffset, 4).SequenceEqual("PE\0\0"u8))
                return "Windows executable (PE)";
        }
        if (content.Length < 0x1C) return null;
        var lastPageBytes = BinaryPrimitives.ReadUInt16LittleEndian(content[2..]);
        var pages = BinaryPrimitives.ReadUInt16LittleEndian(content[4..]);
        var headerParagraphs = BinaryPrimitives.ReadUInt16LittleEndian(content[8..]);
        var plausible = lastPageBytes < 512 && pages > 0 && headerParagraphs >= 2 && headerParagraphs * 16 <= content.Length;
        return plausible ? "DOS executable (MZ)" : null;
    }
}
