using System.Buffers;

namespace MailScanner.Actors.Queue.Postfix;

/// <summary>Where one record sits in a queue file: its type byte, and the offset and length of its data.</summary>
/// <param name="Offset">Offset of the type byte: what a pointer record or the size record points at.</param>
public readonly record struct PostfixRecord(byte Type, int Offset, int DataOffset, int Length)
{
    public int End => DataOffset + Length;

    public ReadOnlySpan<byte> DataIn(ReadOnlySpan<byte> file) => file.Slice(DataOffset, Length);
}

/// <summary>
/// The record framing of Postfix queue files (src/global/record.c): one type byte, the data length in 7-bit groups
/// least significant first (the high bit says another group follows), then the data.
/// </summary>
public static class PostfixRecords
{
    /// <summary>
    /// rec_get_raw() refuses a length whose next group would shift past 32 bits, so at most 4 groups (28 bits).
    /// </summary>
    private const int MaxLengthGroups = 4;

    /// <summary>Reads the record at <paramref name="offset"/>; a malformed one gives the reason Postfix would warn with.</summary>
    public static bool TryRead(ReadOnlySpan<byte> file, int offset, out PostfixRecord record, out string reason)
    {
        record = default;
        reason = "";
        if (offset < 0 || offset >= file.Length)
        {
            reason = $"no record at offset {offset}: the file has {file.Length} bytes";
            return false;
        }
        var type = file[offset];
        var position = offset + 1;
        var length = 0;
        for (var group = 0; ; group++)
        {
            if (group == MaxLengthGroups)
            {
                reason = $"record {PostfixRecordType.Describe(type)} at offset {offset}: too many length bytes (more than {MaxLengthGroups})";
                return false;
            }
            if (position >= file.Length)
            {
                reason = $"record {PostfixRecordType.Describe(type)} at offset {offset}: the file ends inside its length (truncated)";
                return false;
            }
            var lengthByte = file[position++];
            length |= (lengthByte & 0x7f) << (7 * group);
            if ((lengthByte & 0x80) == 0) break;
        }
        if (length > file.Length - position)
        {
            reason = $"record {PostfixRecordType.Describe(type)} at offset {offset}: length {length} goes beyond the end of the file " +
                     $"({file.Length - position} bytes left; truncated)";
            return false;
        }
        record = new PostfixRecord(type, offset, position, length);
        return true;
    }

    /// <summary>Appends one record, as rec_put() writes it.</summary>
    public static void Write(IBufferWriter<byte> output, byte type, ReadOnlySpan<byte> data)
    {
        var header = output.GetSpan(1 + MaxLengthGroups + 1);
        header[0] = type;
        var written = 1;
        var rest = (uint)data.Length;
        do
        {
            var group = (byte)(rest & 0x7f);
            rest >>= 7;
            if (rest != 0) group |= 0x80;
            header[written++] = group;
        } while (rest != 0);
        output.Advance(written);
        if (!data.IsEmpty) output.Write(data);
    }

    /// <summary>How many bytes a record with <paramref name="dataLength"/> bytes of data takes in the file.</summary>
    public static int SizeOf(int dataLength)
    {
        var groups = 1;
        for (var rest = (uint)dataLength >> 7; rest != 0; rest >>= 7) groups++;
        return 1 + groups + dataLength;
    }
}
