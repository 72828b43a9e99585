using System.Buffers.Binary;

namespace MailScanner.Actors.Scanning.Mime;

/// <summary>One member as the central directory describes it, with where its compressed data starts.</summary>
internal sealed record ZipMember(string Name, ushort Flags, ushort Method, long PackedSize, long DeclaredSize, long DataOffset)
{
    public bool IsEncrypted => (Flags & 1) != 0;
}

/// <summary>
/// What a zip's central directory says, read before anything is unpacked: how many entries it claims (a zip of
/// 100,000 entries costs tens of MB to list, so it is refused before listing), whether two entries' data overlap
/// (the "overlapping files" bomb, where thousands of entries unpack the same compressed bytes), and each member's
/// declared size and data, so that the walker unpacks the data itself and sees when it holds more than declared
/// (.NET's ZipArchive silently stops at the declared size).
/// </summary>
internal static class ZipDirectory
{
    private const uint LocalHeader = 0x04034b50;

    /// <summary>
    /// The members of a plain (not zip64, not split) zip in directory order; null when the directory cannot be read
    /// this way, and the caller falls back to <see cref="System.IO.Compression.ZipArchive"/>.
    /// </summary>
    public static List<ZipMember>? Members(ReadOnlySpan<byte> zip)
    {
        if (EndRecord(zip) is not { } end) return null;
        var count = BinaryPrimitives.ReadUInt16LittleEndian(zip[(end + 10)..]);
        var offset = BinaryPrimitives.ReadUInt32LittleEndian(zip[(end + 16)..]);
        if (count == 0xFFFF || offset == 0xFFFFFFFF || offset > zip.Length) return null;
        var members = new List<ZipMember>(count);
        var at = (int)offset;
        for (var i = 0; i < count; i++)
        {
            if (at + 46 > zip.Length || BinaryPrimitives.ReadUInt32LittleEndian(zip[at..]) != DirectoryEntry) return null;
            var flags = BinaryPrimitives.ReadUInt16LittleEndian(zip[(at + 8)..]);
            var method = BinaryPrimitives.ReadUInt16LittleEndian(zip[(at + 10)..]);
            long packed = BinaryPrimitives.ReadUInt32LittleEndian(zip[(at + 20)..]);
            long size = BinaryPrimitives.ReadUInt32LittleEndian(zip[(at + 24)..]);
            var nameLength = BinaryPrimitives.ReadUInt16LittleEndian(zip[(at + 28)..]);
            var extraLength = BinaryPrimitives.ReadUInt16LittleEndian(zip[(at + 30)..]);
            var commentLength = BinaryPrimitives.ReadUInt16LittleEndian(zip[(at + 32)..]);
            long local = BinaryPrimitives.ReadUInt32LittleEndian(zip[(at + 42)..]);
            if (packed == 0xFFFFFFFF || size == 0xFFFFFFFF || local == 0xFFFFFFFF || at + 46 + nameLength > zip.Length) return null;
            var name = (flags & 0x800) != 0
                ? System.Text.Encoding.UTF8.GetString(zip.Slice(at + 46, nameLength))
                : System.Text.Encoding.Latin1.GetString(zip.Slice(at + 46, nameLength));
            if (local + 30 > zip.Length || BinaryPrimitives.ReadUInt32LittleEndian(zip[(int)local..]) != LocalHeader) return null;
            var data = local + 30 + BinaryPrimitives.ReadUInt16LittleEndian(zip[((int)local + 26)..]) + BinaryPrimitives.ReadUInt16LittleEndian(zip[((int)local + 28)..]);
            if (data + packed > zip.Length) return null;
            members.Add(new ZipMember(name, flags, method, packed, size, data));
            at += 46 + nameLength + extraLength + commentLength;
        }
        return members;
    }

    private const uint EndOfDirectory = 0x06054b50, DirectoryEntry = 0x02014b50;

    /// <summary>The entry count the directory declares (zip64 too); null when there is no end record.</summary>
    public static long? DeclaredEntries(ReadOnlySpan<byte> zip)
    {
        if (EndRecord(zip) is not { } end) return null;
        var count = BinaryPrimitives.ReadUInt16LittleEndian(zip[(end + 10)..]);
        if (count != 0xFFFF) return count;
        // zip64: a locator just before the end record points at the zip64 end record, which holds the real count.
        if (end < 20 || BinaryPrimitives.ReadUInt32LittleEndian(zip[(end - 20)..]) != 0x07064b50) return null;
        var record = BinaryPrimitives.ReadUInt64LittleEndian(zip[(end - 12)..]);
        if (record + 40 > (ulong)zip.Length || BinaryPrimitives.ReadUInt32LittleEndian(zip[(int)record..]) != 0x06064b50) return null;
        return (long)Math.Min(BinaryPrimitives.ReadUInt64LittleEndian(zip[((int)record + 32)..]), long.MaxValue);
    }

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
