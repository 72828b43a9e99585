using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using MimeKit;

namespace MailScanner.Actors.Tests.Scanning;

/// <summary>Builds the messages and archives the scanning specs feed to the rules.</summary>
internal static class TestMail
{
    public static readonly byte[] Eicar =
        Encoding.ASCII.GetBytes(@"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*");

    public static byte[] Text(string s) => Encoding.UTF8.GetBytes(s);

    /// <summary>A text body plus the given parts, as multipart/mixed.</summary>
    public static MimeMessage Message(params MimeEntity[] parts)
    {
        var message = new MimeMessage();
        message.From.Add(new MailboxAddress("Sender", "sender@example.org"));
        message.To.Add(new MailboxAddress("Rcpt", "rcpt@example.com"));
        message.Subject = "test";
        var mixed = new Multipart("mixed") { new TextPart("plain") { Text = "Hello, see attached.\n" } };
        foreach (var part in parts) mixed.Add(part);
        message.Body = mixed;
        return message;
    }

    public static MimeMessage HtmlMessage(string html)
    {
        var message = Message();
        message.Body = new TextPart("html") { Text = html };
        return message;
    }

    public static MimePart Attachment(string fileName, byte[] content, string type = "application/octet-stream") =>
        new(type)
        {
            Content = new MimeContent(new MemoryStream(content)),
            ContentDisposition = new ContentDisposition(ContentDisposition.Attachment),
            ContentTransferEncoding = ContentEncoding.Base64,
            FileName = fileName,
        };

    public static MessagePart Forwarded(MimeMessage inner, string? fileName = "forwarded.eml")
    {
        var part = new MessagePart { Message = inner };
        if (fileName is not null) part.ContentDisposition = new ContentDisposition(ContentDisposition.Attachment) { FileName = fileName };
        return part;
    }

    public static byte[] Bytes(MimeMessage message)
    {
        using var stream = new MemoryStream();
        message.WriteTo(FormatOptions.Default, stream);
        return stream.ToArray();
    }

    public static byte[] Raw(string message) => Encoding.UTF8.GetBytes(message.ReplaceLineEndings("\r\n"));

    public static byte[] Zip(params (string Name, byte[] Content)[] members) => Zip(CompressionLevel.Optimal, members);

    public static byte[] Zip(CompressionLevel level, params (string Name, byte[] Content)[] members)
    {
        using var stream = new MemoryStream();
        using (var zip = new ZipArchive(stream, ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach (var (name, content) in members)
            {
                var entry = zip.CreateEntry(name, level);
                using var s = entry.Open();
                s.Write(content);
            }
        }
        return stream.ToArray();
    }

    /// <summary>
    /// A zip whose only member is flagged as encrypted (general purpose bit 0), as a password-protected zip is:
    /// System.IO.Compression cannot write real ZipCrypto, and the flag is what a reader sees first.
    /// </summary>
    public static byte[] EncryptedZip(string name, byte[] content)
    {
        var zip = Zip(CompressionLevel.NoCompression, (name, content));
        for (var i = 0; i + 4 <= zip.Length; i++)
        {
            if (zip[i] != 'P' || zip[i + 1] != 'K') continue;
            if (zip[i + 2] == 3 && zip[i + 3] == 4) zip[i + 6] |= 1; // local file header: flags at +6
            if (zip[i + 2] == 1 && zip[i + 3] == 2) zip[i + 8] |= 1; // central directory header: flags at +8
        }
        return zip;
    }

    public static byte[] Tar(params (string Name, byte[] Content)[] members)
    {
        using var stream = new MemoryStream();
        using (var tar = new TarWriter(stream, TarEntryFormat.Pax, leaveOpen: true))
        {
            foreach (var (name, content) in members)
                tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(content) });
        }
        return stream.ToArray();
    }

    public static byte[] Gzip(byte[] content)
    {
        using var stream = new MemoryStream();
        using (var gz = new GZipStream(stream, CompressionLevel.Optimal, leaveOpen: true)) gz.Write(content);
        return stream.ToArray();
    }

    /// <summary>A minimal PE file: DOS header whose e_lfanew points at a "PE\0\0" signature.</summary>
    public static byte[] PortableExecutable()
    {
        var pe = new byte[512];
        pe[0] = (byte)'M';
        pe[1] = (byte)'Z';
        BitConverter.TryWriteBytes(pe.AsSpan(0x3C), 0x80);
        "PE\0\0"u8.CopyTo(pe.AsSpan(0x80));
        return pe;
    }

    public static byte[] Elf() => [0x7F, (byte)'E', (byte)'L', (byte)'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0x3E, 0];
}
