using System.Text;

namespace MailScanner.Actors.Tests.TestSupport;

/// <summary>
/// Writes a small TNEF stream (winmail.dat) as Outlook does for a message with attachments: the version, code page and
/// message class attributes, an optional body, and per attachment its rendering, title (attAttachTitle), data
/// (attAttachData) and MAPI properties (PR_ATTACH_LONG_FILENAME). Enough for MimeKit's TnefReader and for clamd. Only
/// the BCL, so that the bench compiles it with <see cref="HostileCorpus"/>.
/// </summary>
public static class TnefWriter
{
    private const uint Signature = 0x223E9F78;
    private const byte MessageLevel = 1, AttachmentLevel = 2;

    /// <summary>A file; with <paramref name="IsMessage"/>, <paramref name="Data"/> is an attached message (a TNEF stream itself).</summary>
    public sealed record Attachment(string FileName, byte[] Data, bool IsMessage = false);

    public static byte[] Write(string? body, params Attachment[] attachments) => Write(body, null, attachments);

    /// <summary>With <paramref name="compressedRtf"/>, the message's MAPI properties carry it as PR_RTF_COMPRESSED.</summary>
    public static byte[] Write(string? body, byte[]? compressedRtf, params Attachment[] attachments)
    {
        using var output = new MemoryStream();
        var w = new BinaryWriter(output);
        w.Write(Signature);
        w.Write((ushort)0x0001); // legacy key
        Attribute(w, MessageLevel, 0x00089006, BitConverter.GetBytes(0x00010000)); // attTnefVersion
        Attribute(w, MessageLevel, 0x00069007, [.. BitConverter.GetBytes(1252), .. BitConverter.GetBytes(0)]); // attOemCodepage
        Attribute(w, MessageLevel, 0x00078008, Encoding.ASCII.GetBytes("IPM.Microsoft Mail.Note\0")); // attMessageClass
        if (body is not null) Attribute(w, MessageLevel, 0x0002800C, Encoding.Latin1.GetBytes(body + "\0")); // attBody
        if (compressedRtf is not null) Attribute(w, MessageLevel, 0x00069003, Property(0x0102, 0x1009, compressedRtf)); // attMsgProps
        foreach (var attachment in attachments)
        {
            // attAttachRenddata: a file (1), no position, no size, no flags.
            Attribute(w, AttachmentLevel, 0x00069002, [.. BitConverter.GetBytes((ushort)1), .. BitConverter.GetBytes(-1), .. new byte[8]]);
            Attribute(w, AttachmentLevel, 0x00018010, Encoding.Latin1.GetBytes(ShortName(attachment.FileName) + "\0")); // attAttachTitle
            if (!attachment.IsMessage)
            {
                Attribute(w, AttachmentLevel, 0x0006800F, attachment.Data); // attAttachData
                Attribute(w, AttachmentLevel, 0x00069005, LongFileNameProperty(attachment.FileName)); // attAttachment
                continue;
            }
            // An attached message: PR_ATTACH_METHOD 5 (embedded message) and PR_ATTACH_DATA_OBJ, an object whose value
            // is its interface id (16 bytes) and then the message as TNEF.
            Attribute(w, AttachmentLevel, 0x00069005, [
                .. BitConverter.GetBytes(3), // property count
                .. Value(0x001E, 0x3707, Encoding.Latin1.GetBytes(attachment.FileName + "\0")),
                .. BitConverter.GetBytes((ushort)0x0003), .. BitConverter.GetBytes((ushort)0x3705), .. BitConverter.GetBytes(5),
                .. Value(0x000D, 0x3701, [.. new byte[16], .. attachment.Data]),
            ]);
        }
        w.Flush();
        return output.ToArray();
    }

    /// <summary>One attribute: level, tag, length, value, and the value's checksum (its bytes summed modulo 65536).</summary>
    private static void Attribute(BinaryWriter w, byte level, uint tag, byte[] value)
    {
        w.Write(level);
        w.Write(tag);
        w.Write(value.Length);
        w.Write(value);
        var sum = 0;
        foreach (var b in value) sum += b;
        w.Write((ushort)sum);
    }

    /// <summary>A MAPI property list holding one PT_STRING8 PR_ATTACH_LONG_FILENAME (0x3707).</summary>
    private static byte[] LongFileNameProperty(string fileName) => Property(0x001E, 0x3707, Encoding.Latin1.GetBytes(fileName + "\0"));

    /// <summary>A MAPI property list holding one variable-length property (PT_STRING8, PT_BINARY).</summary>
    private static byte[] Property(ushort type, ushort id, byte[] value) => [.. BitConverter.GetBytes(1), .. Value(type, id, value)];

    /// <summary>One variable-length property of a MAPI property list: tag, one value, padded to 4 bytes.</summary>
    private static byte[] Value(ushort type, ushort id, byte[] value)
    {
        using var output = new MemoryStream();
        var w = new BinaryWriter(output);
        w.Write(type);
        w.Write(id);
        w.Write(1); // value count
        w.Write(value.Length);
        w.Write(value);
        w.Write(new byte[(4 - value.Length % 4) % 4]);
        w.Flush();
        return output.ToArray();
    }

    private static string ShortName(string fileName)
    {
        var dot = fileName.LastIndexOf('.');
        var stem = dot < 0 ? fileName : fileName[..dot];
        var extension = dot < 0 ? "" : fileName[dot..];
        return (stem.Length > 8 ? stem[..6] + "~1" : stem) + (extension.Length > 4 ? extension[..4] : extension);
    }
}
