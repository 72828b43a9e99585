using System.Text;

namespace MailScanner.Actors.Queue.Postfix;

/// <summary>
/// A record carried over verbatim from one queue file to the next (an attribute, a full name, a content-filter
/// transport, ...). <paramref name="Data"/> holds the record's bytes one char per byte (Latin-1), so any byte
/// round-trips unchanged.
/// </summary>
public sealed record PostfixCarriedRecord(byte Type, string Data)
{
    public static PostfixCarriedRecord From(byte type, ReadOnlySpan<byte> data) => new(type, Encoding.Latin1.GetString(data));

    public byte[] DataBytes => Encoding.Latin1.GetBytes(Data);

    public override string ToString() => $"{PostfixRecordType.Describe(Type)} {Data}";
}

/// <summary>
/// One recipient still to be delivered, with what cleanup records before its R record
/// (cleanup_out_recipient.c): the DSN notify flags and DSN original recipient (as <c>A</c> attributes), and the
/// original recipient (<c>O</c>).
/// </summary>
/// <param name="Address">The R record: where the message goes.</param>
/// <param name="OriginalRecipient">The O record: the address as the client gave it, before aliasing and rewriting.</param>
/// <param name="DsnNotify">The <c>notify_flags</c> attribute (DSN_NOTIFY_* bits of dsn_mask.h); 0 when absent.</param>
/// <param name="DsnOriginalRecipient">The <c>dsn_orig_rcpt</c> attribute (<c>rfc822;addr</c>), if any.</param>
public sealed record PostfixRecipient(string Address, string? OriginalRecipient = null, int DsnNotify = 0, string? DsnOriginalRecipient = null);

/// <summary>The arrival time of the T record (<c>"%ld %ld"</c>: seconds and microseconds since the epoch).</summary>
public readonly record struct PostfixArrivalTime(long Seconds, long Microseconds)
{
    public static PostfixArrivalTime From(DateTimeOffset time)
    {
        var sinceEpoch = time.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks;
        return new(sinceEpoch / TimeSpan.TicksPerSecond, sinceEpoch % TimeSpan.TicksPerSecond / TimeSpan.TicksPerMicrosecond);
    }
}

/// <summary>
/// The envelope of a Postfix queue file as qmgr reads it: arrival time, sender, the recipients still to be
/// delivered (from both the envelope and the extracted segment; done and canceled ones are not), and every other
/// record verbatim, so that writing a new queue file from it loses nothing Postfix relies on.
/// </summary>
/// <param name="Sender">The S record; empty for a bounce (<c>MAIL FROM:&lt;&gt;</c>). Envelope text keeps bytes that are not UTF-8 (<see cref="PostfixText"/>).</param>
/// <param name="EnvelopeRecords">Other records of the envelope segment, in file order (A, F, c, I, L, V, &lt;, i, &gt;, W).</param>
/// <param name="ExtractedRecords">Non-recipient records of the extracted segment (after X), in file order.</param>
/// <param name="SendOptions">The sixth field of the C record (SMTPUTF8 and other sender options), carried over.</param>
/// <param name="RecordsBeforeSender">How many of <paramref name="EnvelopeRecords"/> came before the S record; the rest
/// came after it. Cleanup writes what its client sends in the order sent, and smtpd sends the client's attributes
/// after the sender (smtpd.c), so a copy keeps them there. All of them when not said (qmgr accepts either).</param>
public sealed record PostfixEnvelope(
    PostfixArrivalTime ArrivalTime,
    string Sender,
    IReadOnlyList<PostfixRecipient> Recipients,
    IReadOnlyList<PostfixCarriedRecord> EnvelopeRecords,
    IReadOnlyList<PostfixCarriedRecord> ExtractedRecords,
    int SendOptions = 0,
    int RecordsBeforeSender = int.MaxValue)
{

    // Records compare lists by reference; an envelope is a value, so compare the items themselves.
    public bool Equals(PostfixEnvelope? other) =>
        other is not null
        && ArrivalTime == other.ArrivalTime
        && Sender == other.Sender
        && SendOptions == other.SendOptions
        && Math.Min(RecordsBeforeSender, EnvelopeRecords.Count) == Math.Min(other.RecordsBeforeSender, other.EnvelopeRecords.Count)
        && Recipients.SequenceEqual(other.Recipients)
        && EnvelopeRecords.SequenceEqual(other.EnvelopeRecords)
        && ExtractedRecords.SequenceEqual(other.ExtractedRecords);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.Add(ArrivalTime);
        hash.Add(Sender);
        hash.Add(SendOptions);
        hash.Add(Math.Min(RecordsBeforeSender, EnvelopeRecords.Count));
        foreach (var recipient in Recipients) hash.Add(recipient);
        foreach (var record in EnvelopeRecords) hash.Add(record);
        foreach (var record in ExtractedRecords) hash.Add(record);
        return hash.ToHashCode();
    }
}

/// <summary>The C record (REC_TYPE_SIZE_FORMAT, rec_type.h): six fixed-width fields that cleanup patches in place at the end.</summary>
/// <param name="DataSize">Bytes from the first content record up to the X record.</param>
/// <param name="DataOffset">Offset of the first content (N/L) record, right after the M record.</param>
/// <param name="RecipientCount">How many R records the file holds.</param>
/// <param name="QmgrFlags">QMGR_READ_FLAG_* of qmgr_user.h.</param>
/// <param name="ContentLength">The content length; 0 means "same as DataSize" (files of Postfix &lt; 2.4).</param>
/// <param name="SendOptions">SMTPUTF8 and other sender options (Postfix 3.0).</param>
public sealed record PostfixSizeRecord(long DataSize, long DataOffset, long RecipientCount, int QmgrFlags, long ContentLength, int SendOptions)
{
    /// <summary>The data of every C record: six <c>%15ld</c> fields and five spaces.</summary>
    public const int Length = 6 * 15 + 5;

    /// <summary>QMGR_READ_FLAG_USER (qmgr_user.h): the flags qmgr accepts in a C record; anything else makes it refuse the file.</summary>
    public const int AllowedQmgrFlags = 0x1f;

    public string Format() =>
        $"{DataSize,15} {DataOffset,15} {RecipientCount,15} {QmgrFlags,15} {ContentLength,15} {SendOptions,15}";
}

/// <summary>A queue file read to its end: the envelope, the message (RFC 5322, lines ending in LF) and its size record.</summary>
public sealed record PostfixQueueFile(PostfixEnvelope Envelope, byte[] Message, PostfixSizeRecord Size);

public abstract record PostfixQueueFileRead
{
    public sealed record Complete(PostfixQueueFile File) : PostfixQueueFileRead;

    /// <summary>Not a complete message Postfix would deliver (still being written, truncated or corrupt), and why.</summary>
    public sealed record Malformed(string Reason) : PostfixQueueFileRead;
}
