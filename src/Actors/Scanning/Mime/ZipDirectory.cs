using System.Buffers.Binary;

namespace MailScanner.Actors.Scanning.Mime;

/// <summary>
/// What a zip's central directory says, read before the zip is opened: how many entries it claims (a zip of
/// 100,000 entries costs tens of MB to list, so it is refused before listing) and whether two entries' data overlap
/// (the "overlapping files" bomb, where thousands of entries unpack the same compressed bytes).
/// </summary>
internal static class ZipDirectory
{
    private const uint EndOfDirectory = 0x06054b50, DirectoryEntry = 0x02014b50;

    /// <summary>The entry count of the end-of-central-directory record; null when there is none or it says "see zip64".</summary>
    public static int? DeclaredEntries(ReadOnlySpan<byte> zip) =>
        EndRecord(zip) is { } end && BinaryPrimitives.ReadUInt16LittleEndian(zip[(end + 10)..]) is var count and not 0xFFFF
            ? count
            : null;

    /// <summary>Whether the data of two entries overlap (each entry's local header plus compressed data); false when unsure.</summary>
    public static bool HasOverlappingEntries(ReadOnlySpan<byte> zip)
    {
        if (EndRecord(zip) is not { } end) return false;
        var count = BinaryPrimitives.ReadUInt16LittleEndian(zip[(end + 10)..]);
        var offset = BinaryPrimitives.ReadUInt32LittleEndian(zip[(end + 16)..]);
        if (count is 0 or 0xFFFF || offset == 0xFFFFFFFF || offset >= zip.Length) return false;
        var spans = new List<(long Start, long End)>(count);
        var at = (int)offset;
        for (var i = 0; i < count; i++)
        {
            if (at + 46 > zip.Length || BinaryPrimitives.ReadUInt32LittleEndian(zip[at..]) != DirectoryEntry) return false;
            var packed = BinaryPrimitives.ReadUInt32LittleEndian(zip[(at + 20)..]);
            var nameLength = BinaryPrimitives.ReadUInt16LittleEndian(zip[(at + 28)..]);
            var extraLength = BinaryPrimitives.ReadUInt16LittleEndian(zip[(at + 30)..]);
            var commentLength = BinaryPrimitives.ReadUInt16LittleEndian(zip[(at + 32)..]);
            var local = BinaryPrimitives.ReadUInt32LittleEndian(zip[(at + 42)..]);
            if (packed == 0xFFFFFFFF || local == 0xFFFFFFFF) return false; // zip64: not judged here
            // The local header is at least 30 bytes plus the name; its data follows.
            spans.Add((local, local + 30 + nameLength + packed));
            at += 46 + nameLength + extraLength + commentLength;
        }
        spans.Sort();
        for (var i = 1; i < spans.Count; i++)
        {
            if (spans[i].Start < spans[i - 1].End) return true;
        }
        return false;
    }

    private static int? EndRecord(ReadOnlySpan<byte> zip)
    {
        // The record is 22 bytes plus a comment of up to 65,535.
        var lowest = Math.Max(0, zip.Length - 22 - 65535);
        for (var at = zip.Length - 22; at >= lowest; at--)
        {
            if (BinaryPrimitives.ReadUInt32LittleEndian(zip[at..]) == EndOfDirectory) return at;
        }
        return null;
    }
}
