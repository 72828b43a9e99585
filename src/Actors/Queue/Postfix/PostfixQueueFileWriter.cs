using System.Buffers;
using System.Text;

namespace MailScanner.Actors.Queue.Postfix;

/// <summary>
/// Formats a queue file the way Postfix's cleanup writes one (cleanup_envelope.c, cleanup_out_recipient.c,
/// cleanup_message.c, cleanup_final.c): C, T, the carried envelope records around S where they were, the recipients (DSN attributes, O, R),
/// M, the message as N/L records, X, the carried extracted records, E; then the C record patched with the real data
/// size, content offset, recipient count and flags. Pure: writing the file into a queue is <see cref="PostfixMailQueue"/>.
/// </summary>
public static class PostfixQueueFileWriter
{
    /// <summary>Postfix's line_length_limit default (DEF_LINE_LIMIT, mail_params.h): longer lines become L records of this size.</summary>
    public const int DefaultLineLengthLimit = 2048;

    public static byte[] Format(PostfixEnvelope envelope, ReadOnlySpan<byte> message, int lineLengthLimit = DefaultLineLengthLimit)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(lineLengthLimit, 1);
        var output = new ArrayBufferWriter<byte>(message.Length + 1024);

        // A placeholder of the final width: every C record is 95 bytes of data, so patching it moves nothing.
        PostfixRecords.Write(output, PostfixRecordType.Size, new byte[PostfixSizeRecord.Length]);
        Put(output, PostfixRecordType.Time, $"{envelope.ArrivalTime.Seconds} {envelope.ArrivalTime.Microseconds}");
        foreach (var record in envelope.EnvelopeRecords.Take(envelope.RecordsBeforeSender)) PostfixRecords.Write(output, record.Type, record.DataBytes);
        PostfixRecords.Write(output, PostfixRecordType.Sender, PostfixText.Encode(envelope.Sender));
        foreach (var record in envelope.EnvelopeRecords.Skip(envelope.RecordsBeforeSender)) PostfixRecords.Write(output, record.Type, record.DataBytes);

        var qmgrFlags = 0;
        foreach (var recipient in envelope.Recipients)
        {
            // The order of cleanup_out_recipient(): notify flags, DSN original recipient, original recipient, recipient.
            if (recipient.DsnNotify != 0)
            {
                Put(output, PostfixRecordType.Attribute, $"{PostfixRecordType.DsnNotifyAttribute}={recipient.DsnNotify}");
                qmgrFlags |= recipient.DsnNotify << 1; // QMGR_READ_FLAG_FROM_DSN(), as cleanup_envelope.c sets it
            }
            if (recipient.DsnOriginalRecipient is not null)
                PutText(output, PostfixRecordType.Attribute, $"{PostfixRecordType.DsnOriginalRecipientAttribute}={recipient.DsnOriginalRecipient}");
            if (recipient.OriginalRecipient is not null) PutText(output, PostfixRecordType.OriginalRecipient, recipient.OriginalRecipient);
            PutText(output, PostfixRecordType.Recipient, recipient.Address);
        }

        PostfixRecords.Write(output, PostfixRecordType.MessageStart, []); // empty in Postfix 3.x
        var dataOffset = output.WrittenCount;
        WriteContent(output, message, lineLengthLimit);
        var extractedOffset = output.WrittenCount;
        PostfixRecords.Write(output, PostfixRecordType.ExtractedStart, []);
        foreach (var record in envelope.ExtractedRecords) PostfixRecords.Write(output, record.Type, record.DataBytes);
        PostfixRecords.Write(output, PostfixRecordType.End, []);

        var size = new PostfixSizeRecord(
            DataSize: extractedOffset - dataOffset,
            DataOffset: dataOffset,
            RecipientCount: envelope.Recipients.Count,
            QmgrFlags: qmgrFlags & PostfixSizeRecord.AllowedQmgrFlags,
            ContentLength: extractedOffset - dataOffset,
            SendOptions: envelope.SendOptions);
        var file = output.WrittenSpan.ToArray();
        var sizeData = Encoding.ASCII.GetBytes(size.Format());
        if (sizeData.Length != PostfixSizeRecord.Length)
            throw new InvalidOperationException($"size record is {sizeData.Length} bytes, not {PostfixSizeRecord.Length}: a value exceeds 15 digits");
        sizeData.CopyTo(file.AsSpan(PostfixRecords.SizeOf(PostfixSizeRecord.Length) - PostfixSizeRecord.Length));
        return file;
    }

    /// <summary>
    /// One N record per line (without its line ending; a CR before the LF goes too, as smtpd strips CRLF), a line
    /// longer than the limit cut into L records of the limit first (cleanup_out.c). A last line without a newline is
    /// written as a whole line: Postfix never stores an unterminated message.
    /// </summary>
    private static void WriteContent(ArrayBufferWriter<byte> output, ReadOnlySpan<byte> message, int lineLengthLimit)
    {
        var rest = message;
        while (!rest.IsEmpty)
        {
            var newline = rest.IndexOf((byte)'\n');
            var line = newline < 0 ? rest : rest[..newline];
            rest = newline < 0 ? [] : rest[(newline + 1)..];
            if (line.Length > 0 && line[^1] == (byte)'\r') line = line[..^1];
            while (line.Length > lineLengthLimit)
            {
                PostfixRecords.Write(output, PostfixRecordType.LinePiece, line[..lineLengthLimit]);
                line = line[lineLengthLimit..];
            }
            PostfixRecords.Write(output, PostfixRecordType.Line, line);
        }
    }

    private static void Put(ArrayBufferWriter<byte> output, byte type, string ascii) =>
        PostfixRecords.Write(output, type, Encoding.ASCII.GetBytes(ascii));

    /// <summary>Envelope text back to the bytes it was read from (<see cref="PostfixText"/>).</summary>
    private static void PutText(ArrayBufferWriter<byte> output, byte type, string text) =>
        PostfixRecords.Write(output, type, PostfixText.Encode(text));
}
