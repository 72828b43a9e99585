namespace MailScanner.Actors.Queue.Postfix;

/// <summary>
/// The record type bytes of a Postfix queue file that this code reads or writes (src/global/rec_type.h).
/// 'L' is both a long content line (in the message segment) and a content-filter transport (in the envelope):
/// Postfix encodes both with the same byte, so its meaning depends on the segment.
/// </summary>
public static class PostfixRecordType
{
    public const byte Size = (byte)'C';
    public const byte Time = (byte)'T';
    public const byte CreateTime = (byte)'c';
    public const byte FullName = (byte)'F';
    public const byte Sender = (byte)'S';
    public const byte Done = (byte)'D';
    public const byte Recipient = (byte)'R';
    public const byte OriginalRecipient = (byte)'O';
    public const byte Canceled = (byte)'/';
    public const byte Attribute = (byte)'A';
    public const byte Killed = (byte)'K';
    public const byte DsnOriginalRecipient = (byte)'o';
    public const byte DsnNotify = (byte)'n';
    public const byte MessageStart = (byte)'M';
    public const byte LinePiece = (byte)'L';
    public const byte Line = (byte)'N';
    public const byte Padding = (byte)'w';
    public const byte ExtractedStart = (byte)'X';
    public const byte Pointer = (byte)'p';
    public const byte End = (byte)'E';

    /// <summary>Record types qmgr accepts before the message segment (REC_TYPE_ENVELOPE, rec_type.h).</summary>
    public const string EnvelopeTypes = "MCTcFILSDRO/WVA>K<ion";

    /// <summary>Record types qmgr accepts after the message segment (REC_TYPE_EXTRACT, rec_type.h).</summary>
    public const string ExtractedTypes = "EDRO/PreAFIL>Kon";

    /// <summary>The named attributes (A records) that stand for a per-recipient DSN record (rec_attr_map.c, mail_proto.h).</summary>
    public const string DsnOriginalRecipientAttribute = "dsn_orig_rcpt";
    public const string DsnNotifyAttribute = "notify_flags";

    /// <summary>How a record type shows in a reason: its character when printable, else its code.</summary>
    public static string Describe(byte type) => type is >= 0x21 and < 0x7f ? $"'{(char)type}'" : $"0x{type:x2}";
}
