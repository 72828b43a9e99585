using System.Buffers;
using System.Globalization;
using System.Text;

namespace MailScanner.Actors.Queue.Postfix;

/// <summary>
/// Reads a Postfix queue file the way qmgr and cleanup do (qmgr_message.c, cleanup_envelope.c, record.c): pointer
/// records are followed, padding records skipped, recipients taken with the O and DSN records before them, the
/// message from the N/L records between M and X. Anything Postfix would refuse, or a file still being written,
/// comes back as <see cref="PostfixQueueFileRead.Malformed"/> with the reason; no input makes it throw.
/// </summary>
public static class PostfixQueueFileReader
{
    private enum Segment { Envelope, Message, Extracted }

    /// <remarks>Every offset and length is checked against the file before use (the specs feed it every truncation and random corruption).</remarks>
    public static PostfixQueueFileRead Read(ReadOnlySpan<byte> file) => new Walk().Run(file);

    /// <summary>The state of one pass over a file: what has been seen so far, segment by segment.</summary>
    private sealed class Walk
    {
        private Segment segment = Segment.Envelope;
        private PostfixSizeRecord? size;
        private string? sizeProblem;
        private PostfixArrivalTime? arrival;
        private string? sender;
        private int recordsBeforeSender;
        private readonly List<PostfixRecipient> recipients = [];
        private readonly List<PostfixCarriedRecord> envelopeRecords = [];
        private readonly List<PostfixCarriedRecord> extractedRecords = [];
        private readonly ArrayBufferWriter<byte> message = new();
        private readonly HashSet<int> jumpTargets = [];
        private int contentOffset = -1;

        // What precedes the next R record (cleanup_out_recipient.c); a D or / record consumes it too.
        private string? pendingOriginal;
        private string? pendingDsnOriginal;
        private int pendingDsnNotify;

        public PostfixQueueFileRead Run(ReadOnlySpan<byte> file)
        {
            var offset = 0;
            var records = 0;
            while (true)
            {
                if (offset == file.Length)
                    return Malformed($"no end record (E): the file ends after {records} records in the {Describe(segment)} (still being written, or truncated)");
                if (!PostfixRecords.TryRead(file, offset, out var record, out var reason)) return Malformed(reason);
                records++;
                var data = record.DataIn(file);
                offset = record.End;

                if (record.Type == PostfixRecordType.Pointer)
                {
                    var jump = FollowPointer(record, data, file.Length);
                    if (jump.Problem is not null) return Malformed(jump.Problem);
                    if (jump.Target > 0) offset = jump.Target;
                    continue;
                }
                // rec_get() skips padding ("deleted text") records wherever they are (record.c).
                if (record.Type == PostfixRecordType.Padding) continue;

                var problem = segment switch
                {
                    Segment.Envelope => Envelope(record, data),
                    Segment.Message => Message(record, data),
                    _ => Extracted(record, data),
                };
                if (problem is not null) return Malformed(problem);
                if (record.Type == PostfixRecordType.End && segment == Segment.Extracted) return Finish(file);
            }
        }

        private string? Envelope(PostfixRecord record, ReadOnlySpan<byte> data)
        {
            var type = record.Type;
            if (!PostfixRecordType.EnvelopeTypes.Contains((char)type))
                return $"unexpected record {PostfixRecordType.Describe(type)} in the envelope at offset {record.Offset}";
            switch (type)
            {
                case PostfixRecordType.Size:
                    // qmgr reads the first size record only.
                    if (size is null && sizeProblem is null) ReadSize(data);
                    return null;
                case PostfixRecordType.Time:
                    if (arrival is not null) return null; // first instance wins (cleanup_envelope.c)
                    if (!TryReadTime(data, out var time)) return $"unreadable arrival time record (T) at offset {record.Offset}: \"{Latin1(data)}\"";
                    arrival = time;
                    return null;
                case PostfixRecordType.Sender:
                    if (sender is not null) return $"more than one sender record (S), the second at offset {record.Offset}"; // cleanup rejects it too
                    sender = PostfixText.Decode(data);
                    recordsBeforeSender = envelopeRecords.Count;
                    return null;
                case PostfixRecordType.MessageStart:
                    segment = Segment.Message;
                    contentOffset = record.End;
                    return null;
                default:
                    return RecipientOrCarried(record, data, envelopeRecords);
            }
        }

        private string? Message(PostfixRecord record, ReadOnlySpan<byte> data)
        {
            switch (record.Type)
            {
                case PostfixRecordType.Line:
                    message.Write(data);
                    message.Write("\n"u8);
                    return null;
                case PostfixRecordType.LinePiece:
                    message.Write(data);
                    return null;
                case PostfixRecordType.ExtractedStart:
                    segment = Segment.Extracted;
                    return null;
                default:
                    return $"unexpected record {PostfixRecordType.Describe(record.Type)} in the message content at offset {record.Offset}";
            }
        }

        private string? Extracted(PostfixRecord record, ReadOnlySpan<byte> data)
        {
            var type = record.Type;
            if (!PostfixRecordType.ExtractedTypes.Contains((char)type))
                return $"unexpected record {PostfixRecordType.Describe(type)} after the message (extracted segment) at offset {record.Offset}";
            return type == PostfixRecordType.End ? null : RecipientOrCarried(record, data, extractedRecords);
        }

        /// <summary>Recipient bookkeeping as qmgr_message_read() does it, the same in both segments; other records are carried.</summary>
        private string? RecipientOrCarried(PostfixRecord record, ReadOnlySpan<byte> data, List<PostfixCarriedRecord> carried)
        {
            var type = record.Type;
            var value = data;
            if (type == PostfixRecordType.Attribute)
            {
                // qmgr maps these named attributes to the record types they stand for (rec_attr_map.c).
                var equals = data.IndexOf((byte)'=');
                if (equals <= 0) return $"attribute record (A) without name=value at offset {record.Offset}: \"{Latin1(data)}\"";
                var name = Latin1(data[..equals]);
                if (name == PostfixRecordType.DsnOriginalRecipientAttribute) type = PostfixRecordType.DsnOriginalRecipient;
                else if (name == PostfixRecordType.DsnNotifyAttribute) type = PostfixRecordType.DsnNotify;
                if (type != PostfixRecordType.Attribute) value = data[(equals + 1)..];
            }
            switch (type)
            {
                case PostfixRecordType.Recipient:
                    recipients.Add(new PostfixRecipient(PostfixText.Decode(value), pendingOriginal, pendingDsnNotify, pendingDsnOriginal));
                    ClearPending();
                    return null;
                case PostfixRecordType.Done or PostfixRecordType.Canceled:
                    ClearPending(); // delivered or canceled: qmgr never delivers it again
                    return null;
                case PostfixRecordType.OriginalRecipient:
                    pendingOriginal = PostfixText.Decode(value);
                    return null;
                case PostfixRecordType.DsnOriginalRecipient:
                    pendingDsnOriginal = PostfixText.Decode(value);
                    return null;
                case PostfixRecordType.DsnNotify:
                    // qmgr ignores malformed notify flags with a warning, and so do we.
                    pendingDsnNotify = int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var flags) ? flags : 0;
                    return null;
                case PostfixRecordType.Killed:
                    return null; // a record qmgr or cleanup cancelled in place
                default:
                    carried.Add(PostfixCarriedRecord.From(type, value));
                    return null;
            }
        }

        private void ClearPending() => (pendingOriginal, pendingDsnOriginal, pendingDsnNotify) = (null, null, 0);

        private (int Target, string? Problem) FollowPointer(PostfixRecord record, ReadOnlySpan<byte> data, int fileLength)
        {
            // rec_goto(): leading white space, then a non-negative decimal offset; 0 marks a dummy (unused) pointer.
            var text = Latin1(data).TrimStart();
            if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var target))
                return (0, $"malformed pointer record (p) at offset {record.Offset}: \"{Latin1(data)}\"");
            if (target == 0) return (0, null);
            if (target >= fileLength)
                return (0, $"pointer record (p) at offset {record.Offset} points to offset {target}, beyond the end of the file ({fileLength} bytes)");
            // Reading is deterministic in the offset, so reaching the same target twice would repeat forever
            // (Postfix gives up after 10000 backward jumps instead: rec_goto() in record.c).
            if (!jumpTargets.Add((int)target))
                return (0, $"pointer loop: the pointer record (p) at offset {record.Offset} jumps to offset {target} a second time");
            return ((int)target, null);
        }

        private void ReadSize(ReadOnlySpan<byte> data)
        {
            // qmgr: sscanf("%ld %ld %d %d %ld %d") and at least three fields (Postfix >= 1.0).
            var fields = Latin1(data).Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var values = new long[6];
            var count = 0;
            while (count < Math.Min(6, fields.Length)
                   && long.TryParse(fields[count], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out values[count]))
                count++;
            if (count < 3)
            {
                sizeProblem = $"size record (C) has {count} readable fields, Postfix needs at least 3: \"{Latin1(data)}\"";
                return;
            }
            if (values[0] == 0 && values[1] == 0)
            {
                // cleanup writes a C record of zeros first and fills it in only when the message is complete (cleanup_final.c).
                sizeProblem = "size record (C) is still cleanup's placeholder of zeros: the file is still being written";
                return;
            }
            if (values[0] <= 0 || values[1] <= 0)
            {
                sizeProblem = $"size record (C) has an invalid data size or offset: \"{Latin1(data).Trim()}\"";
                return;
            }
            if ((values[3] & ~PostfixSizeRecord.AllowedQmgrFlags) != 0 || values[3] < 0)
            {
                sizeProblem = $"size record (C) has qmgr flags qmgr refuses ({values[3]})";
                return;
            }
            if (values[4] < 0)
            {
                sizeProblem = $"size record (C) has a negative content length ({values[4]})";
                return;
            }
            size = new PostfixSizeRecord(values[0], values[1], values[2], (int)values[3], values[4], (int)values[5]);
        }

        private PostfixQueueFileRead Finish(ReadOnlySpan<byte> file)
        {
            if (sizeProblem is not null) return Malformed(sizeProblem);
            if (size is null) return Malformed("no size record (C)");
            if (arrival is null) return Malformed("no arrival time record (T)");
            if (sender is null) return Malformed("no sender record (S)");
            if (size.DataOffset != contentOffset)
                return Malformed($"size record (C) says the content starts at offset {size.DataOffset}, but it starts at {contentOffset}");
            // qmgr skips the content by seeking DataSize bytes from DataOffset and expects the X record there (qmgr_message.c).
            var extractedAt = size.DataOffset + size.DataSize;
            if (extractedAt > file.Length
                || !PostfixRecords.TryRead(file, (int)extractedAt, out var xRecord, out _)
                || xRecord.Type != PostfixRecordType.ExtractedStart)
                return Malformed($"size record (C) says the content is {size.DataSize} bytes, but there is no X record at offset {extractedAt}");
            // An O or DSN record with no R after it is ignored, as qmgr does ("out-of-order original recipient").

            var envelope = new PostfixEnvelope(arrival.Value, sender, recipients, envelopeRecords, extractedRecords, size.SendOptions, recordsBeforeSender);
            return new PostfixQueueFileRead.Complete(new PostfixQueueFile(envelope, message.WrittenSpan.ToArray(), size));
        }

        private static bool TryReadTime(ReadOnlySpan<byte> data, out PostfixArrivalTime time)
        {
            time = default;
            var fields = Latin1(data).Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length is < 1 or > 2) return false;
            if (!long.TryParse(fields[0], NumberStyles.None, CultureInfo.InvariantCulture, out var seconds)) return false;
            long microseconds = 0;
            if (fields.Length == 2 && !long.TryParse(fields[1], NumberStyles.None, CultureInfo.InvariantCulture, out microseconds)) return false;
            time = new PostfixArrivalTime(seconds, microseconds);
            return true;
        }

        private static string Describe(Segment segment) => segment switch
        {
            Segment.Envelope => "envelope",
            Segment.Message => "message content",
            _ => "extracted segment",
        };

        private static PostfixQueueFileRead Malformed(string reason) => new PostfixQueueFileRead.Malformed(reason);
    }

    private static string Latin1(ReadOnlySpan<byte> data) => Encoding.Latin1.GetString(data);
}
