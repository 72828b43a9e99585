using System.Buffers;
using System.Text;
using MailScanner.Actors.Queue.Postfix;

namespace MailScanner.Actors.Tests.Queue.Postfix;

/// <summary>
/// Builds queue files record by record for the specs, including ones Postfix's cleanup would never write.
/// ('C', <see cref="AutoSize"/>) becomes a size record with the real content offset and size (as cleanup_final()
/// patches it); ('#', "name") marks a place without writing anything; ('p', "->name") is a pointer record to that
/// place, fifteen digits wide as rec_type.h's REC_TYPE_PTR_FORMAT.
/// </summary>
internal static class QueueFileBuilder
{
    public const string AutoSize = "auto";

    public static byte[] Build(params (char Type, string Data)[] records)
    {
        var labels = new Dictionary<string, int>();
        var pointers = new List<(int DataOffset, string Label)>();
        int? sizeAt = null, contentOffset = null, extractedOffset = null;
        var output = new ArrayBufferWriter<byte>();
        foreach (var (type, data) in records)
        {
            if (type == '#')
            {
                labels[data] = output.WrittenCount;
                continue;
            }
            var bytes = Encoding.Latin1.GetBytes(data);
            if (type == 'C' && data == AutoSize)
            {
                sizeAt = output.WrittenCount + 2;
                bytes = new byte[PostfixSizeRecord.Length];
            }
            else if (type == 'p' && data.StartsWith("->", StringComparison.Ordinal))
            {
                pointers.Add((output.WrittenCount + 2, data[2..]));
                bytes = new byte[15];
            }
            if (type == 'X' && extractedOffset is null) extractedOffset = output.WrittenCount;
            PostfixRecords.Write(output, (byte)type, bytes);
            if (type == 'M' && contentOffset is null) contentOffset = output.WrittenCount;
        }
        var file = output.WrittenSpan.ToArray();
        if (sizeAt is { } at)
        {
            var content = contentOffset ?? 0;
            var size = new PostfixSizeRecord((extractedOffset ?? content) - content, content, records.Count(r => r.Type == 'R'), 0, 0, 0);
            Encoding.ASCII.GetBytes(size.Format()).CopyTo(file, at);
        }
        foreach (var (dataOffset, label) in pointers)
            Encoding.ASCII.GetBytes($"{labels[label],15}").CopyTo(file, dataOffset);
        return file;
    }

    /// <summary>The (type, data) of every record, in file order, without following pointers.</summary>
    public static List<(char Type, string Data)> Records(byte[] file)
    {
        var records = new List<(char, string)>();
        for (var offset = 0; offset < file.Length;)
        {
            if (!PostfixRecords.TryRead(file, offset, out var record, out var reason)) throw new InvalidDataException(reason);
            records.Add(((char)record.Type, Encoding.Latin1.GetString(record.DataIn(file))));
            offset = record.End;
        }
        return records;
    }
}
