using System.IO.Compression;
using System.Text;

namespace MailScanner.Actors.Tests.TestSupport;

/// <summary>
/// One message a hostile sender would write; <see cref="CarriesEicar"/> when EICAR is hidden in it somewhere;
/// <see cref="MustBeDelivered"/> for ordinary mail in an unusual wrapper (TNEF, Outlook .msg), which taking the wrapper
/// apart must not turn into a false alarm.
/// </summary>
public sealed record HostileMessage(string Name, byte[] Message, bool CarriesEicar, bool MustBeDelivered = false);

/// <summary>
/// The corpus of issue 16, generated: decompression bombs of every kind (gzip, flat zip, nested zip, recursive zip,
/// overlapping-entry zip, lying-size zip, a zip of 100,000 entries), MIME nested 5,000 deep, 20,000 parts, 100,000
/// nested HTML tags, a 2 MB header line, a 5 MB single-line body, and EICAR hidden in every way the issue names (an
/// .eml inside a zip, a uuencoded or yEnc block in a text body, an attached message in base64 or quoted-printable, a
/// zip whose header lies about the size, a truncated gzip, archives inside archives, a winmail.dat, an Outlook .msg in a
/// zip), and ordinary mail in TNEF and .msg wrappers that must be delivered. Self-contained (only the BCL and the
/// test-side <see cref="TnefWriter"/> and <see cref="OutlookMessageWriter"/>), so that the bench compiles the same
/// files. Every message carries <c>X-Corpus: name</c>.
/// </summary>
public static class HostileCorpus
{
    public static readonly byte[] Eicar = @"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"u8.ToArray();

    /// <summary>Every message of the corpus, in a fixed order.</summary>
    public static IReadOnlyList<HostileMessage> All() =>
    [
        .. Bombs(),
        .. EicarCarriers(),
        .. OrdinaryOutlookMail(),
        new("zero-width-filename", Attached("zero-width-filename", "invoice.e\u200Bxe", "MZ harmless"u8.ToArray()), false),
    ];

    /// <summary>The messages built to exhaust the gateway rather than to smuggle anything.</summary>
    public static IReadOnlyList<HostileMessage> Bombs()
    {
        var zeros64M = Deflate(new byte[64 * 1024 * 1024]);
        var flat = FlatZip(zeros64M, 64 * 1024 * 1024, entries: 16);
        return
        [
            // 64 gzip members of 16 MiB of zeros each: 1 GiB from about 1 MB.
            new("gzip-bomb", Attached("gzip-bomb", "zeros.gz", Repeat(GzipOf(new byte[16 * 1024 * 1024]), 64)), false),
            new("flat-zip-bomb", Attached("flat-zip-bomb", "flat.zip", flat), false),
            new("nested-zip-bomb", Attached("nested-zip-bomb", "42.zip", NestedZip(flat, levels: 4)), false),
            new("recursive-zip", Attached("recursive-zip", "r.zip", ChainZip("x.txt", "x"u8.ToArray(), depth: 40)), false),
            new("overlapping-zip-bomb", Attached("overlapping-zip-bomb", "overlap.zip", OverlappingZip(Deflate(new byte[8 * 1024 * 1024]), 8 * 1024 * 1024, 2000)), false),
            new("lying-size-zip", Attached("lying-size-zip", "lying.zip", LyingZip("data.bin", RandomBytes(1024 * 1024, 11), declared: 100)), false),
            new("zip-100000-entries", Attached("zip-100000-entries", "many.zip", ManyEntriesZip(100_000)), false),
            new("mime-5000-deep", MailBytes("mime-5000-deep", NestedMime(5000)), false),
            new("mime-20000-parts", MailBytes("mime-20000-parts", ManyParts(20_000)), false),
            new("html-100000-nested-tags", MailBytes("html-100000-nested-tags", NestedHtml(100_000)), false),
            new("header-2mb-line", MailBytes("header-2mb-line", $"X-Long: {new string('a', 2 * 1024 * 1024)}\r\nContent-Type: text/plain\r\n\r\nhello\r\n"), false),
            new("body-5mb-single-line", MailBytes("body-5mb-single-line", $"Content-Type: text/plain\r\n\r\n{new string('b', 5 * 1024 * 1024)}\r\n"), false),
        ];
    }

    /// <summary>EICAR, hidden in every way the issue names, and a few plain ways as a baseline.</summary>
    public static IReadOnlyList<HostileMessage> EicarCarriers()
    {
        var innerMessage = Encoding.ASCII.GetBytes(Mail("inner", MultipartWith("see attached", "eicar.com", Eicar, boundary: "inner-b")));
        var padded = Eicar.Concat(RandomBytes(100_000, 7)).ToArray();
        var gz = GzipOf(padded);
        return
        [
            new("eicar-attachment", Attached("eicar-attachment", "eicar.com", Eicar), true),
            new("eicar-eml-in-zip", Attached("eicar-eml-in-zip", "mail.zip", ZipOf(("forward.eml", innerMessage))), true),
            new("eicar-uuencoded-body", MailBytes("eicar-uuencoded-body", $"Content-Type: text/plain\r\n\r\nsee below\r\n\r\n{Uuencode("eicar.com", Eicar)}\r\nbye\r\n"), true),
            new("eicar-yenc-body", MailBytes("eicar-yenc-body", $"Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\nsee below\r\n{Yenc("eicar.com", Eicar)}", latin1: true), true),
            new("eicar-rfc822-base64", MailBytes("eicar-rfc822-base64", MultipartWithPart("a forwarded message",
                $"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"fwd.eml\"\r\n\r\n{Base64Lines(innerMessage)}")), true),
            new("eicar-rfc822-quoted-printable", MailBytes("eicar-rfc822-quoted-printable", MultipartWithPart("a forwarded message",
                $"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n{QuotedPrintable(innerMessage)}")), true),
            new("eicar-zip-in-zip-in-zip", Attached("eicar-zip-in-zip-in-zip", "outer.zip", ChainZip("eicar.com", Eicar, depth: 3)), true),
            new("eicar-lying-size-zip", Attached("eicar-lying-size-zip", "lying.zip", LyingZip("notes.txt", Encoding.ASCII.GetBytes(new string('n', 2000)).Concat(Eicar).Concat(new byte[2000]).ToArray(), declared: 100)), true),
            new("eicar-truncated-gzip", Attached("eicar-truncated-gzip", "cut.gz", gz[..(gz.Length / 2)]), true),
            new("eicar-tar-gz", Attached("eicar-tar-gz", "files.tgz", GzipOf(TarOf("eicar.com", Eicar))), true),
            new("eicar-in-tnef", Attached("eicar-in-tnef", "winmail.dat", TnefWriter.Write("see attached", new TnefWriter.Attachment("eicar.com", Eicar)),
                "application/ms-tnef"), true),
            new("eicar-msg-in-zip", Attached("eicar-msg-in-zip", "mail.zip", ZipOf(("forwarded.msg", OutlookMessageWriter.Write(
                new OutlookMessageWriter.Message("see attached", null, [new OutlookMessageWriter.Attachment("eicar.com", Eicar)]))))), true),
        ];
    }

    /// <summary>Ordinary mail as Outlook sends it: a winmail.dat and an attached .msg, each holding harmless files; both are delivered.</summary>
    public static IReadOnlyList<HostileMessage> OrdinaryOutlookMail()
    {
        var minutes = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("Minutes of the weekly meeting: nothing to report.\r\n", 200)));
        var forwarded = new OutlookMessageWriter.Message("The agenda, as promised.", null, [new OutlookMessageWriter.Attachment("agenda.txt", "1. budget\r\n2. roadmap\r\n"u8.ToArray())]);
        return
        [
            new("clean-tnef", Attached("clean-tnef", "winmail.dat", TnefWriter.Write("Minutes attached.",
                new TnefWriter.Attachment("minutes.txt", minutes), new TnefWriter.Attachment("budget.csv", "item,amount\r\npaper,12\r\n"u8.ToArray())),
                "application/ms-tnef"), false, MustBeDelivered: true),
            new("clean-msg", Attached("clean-msg", "weekly meeting.msg", OutlookMessageWriter.Write(new OutlookMessageWriter.Message(
                "Minutes and the forwarded agenda attached.", "<html><body><p>Minutes and the forwarded <b>agenda</b> attached.</p></body></html>",
                [new OutlookMessageWriter.Attachment("minutes.txt", minutes), new OutlookMessageWriter.Attachment("agenda", Embedded: forwarded)])),
                "application/vnd.ms-outlook"), false, MustBeDelivered: true),
        ];
    }

    // --- messages ---

    private static byte[] MailBytes(string name, string rest, bool latin1 = false) =>
        (latin1 ? Encoding.Latin1 : Encoding.UTF8).GetBytes(Mail(name, rest));

    private static string Mail(string name, string rest) =>
        $"From: sender@attacker.example\r\nTo: victim@example.org\r\nSubject: corpus {name}\r\nMessage-ID: <{name}@corpus.example>\r\n" +
        $"X-Corpus: {name}\r\nMIME-Version: 1.0\r\n{rest}";

    private static byte[] Attached(string name, string fileName, byte[] content, string type = "application/octet-stream") =>
        Encoding.UTF8.GetBytes(Mail(name, MultipartWith("see attached", fileName, content, type: type)));

    private static string MultipartWith(string text, string fileName, byte[] content, string boundary = "corpus-b", string type = "application/octet-stream") =>
        MultipartWithPart(text, boundary: boundary, part: $"Content-Type: {type}\r\nContent-Transfer-Encoding: base64\r\n" +
                                $"Content-Disposition: attachment; filename*=utf-8''{Uri.EscapeDataString(fileName)}\r\n\r\n{Base64Lines(content)}");

    private static string MultipartWithPart(string text, string part, string boundary = "corpus-b") =>
        $"Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n--{boundary}\r\nContent-Type: text/plain\r\n\r\n{text}\r\n" +
        $"--{boundary}\r\n{part}\r\n--{boundary}--\r\n";

    private static string NestedMime(int depth)
    {
        var b = new StringBuilder("Content-Type: multipart/mixed; boundary=\"n0\"\r\n\r\n");
        for (var i = 0; i < depth; i++) b.Append($"--n{i}\r\nContent-Type: multipart/mixed; boundary=\"n{i + 1}\"\r\n\r\n");
        b.Append($"--n{depth}\r\nContent-Type: text/plain\r\n\r\ndeep\r\n");
        for (var i = depth; i >= 0; i--) b.Append($"--n{i}--\r\n");
        return b.ToString();
    }

    private static string ManyParts(int parts)
    {
        var b = new StringBuilder("Content-Type: multipart/mixed; boundary=\"p\"\r\n\r\n");
        for (var i = 0; i < parts; i++) b.Append($"--p\r\nContent-Type: text/plain\r\n\r\npart {i}\r\n");
        return b.Append("--p--\r\n").ToString();
    }

    private static string NestedHtml(int tags)
    {
        var b = new StringBuilder("Content-Type: text/html; charset=us-ascii\r\n\r\n<html><body>\r\n");
        for (var i = 0; i < tags; i++) b.Append(i % 100 == 99 ? "<div>\r\n" : "<div>");
        b.Append("deep");
        for (var i = 0; i < tags; i++) b.Append(i % 100 == 99 ? "</div>\r\n" : "</div>");
        return b.Append("</body></html>\r\n").ToString();
    }

    private static string Base64Lines(byte[] content) =>
        string.Join("\r\n", Convert.ToBase64String(content).Chunk(76).Select(c => new string(c)));

    private static string QuotedPrintable(byte[] content)
    {
        var b = new StringBuilder();
        var column = 0;
        foreach (var x in content)
        {
            string piece = x is (byte)'\r' or (byte)'\n' ? ((char)x).ToString()
                : x is >= 33 and <= 126 and not (byte)'=' || x == ' ' ? ((char)x).ToString() : $"={x:X2}";
            if (x == '\n') column = 0;
            else if (column + piece.Length > 72)
            {
                b.Append("=\r\n");
                column = 0;
            }
            b.Append(piece);
            if (x != '\n') column += piece.Length;
        }
        return b.ToString();
    }

    private static string Uuencode(string name, byte[] data)
    {
        var b = new StringBuilder($"begin 644 {name}\r\n");
        foreach (var line in data.Chunk(45))
        {
            b.Append((char)(0x20 + line.Length));
            for (var i = 0; i < line.Length; i += 3)
            {
                int b0 = line[i], b1 = i + 1 < line.Length ? line[i + 1] : 0, b2 = i + 2 < line.Length ? line[i + 2] : 0;
                foreach (var sextet in new[] { b0 >> 2, ((b0 & 3) << 4) | (b1 >> 4), ((b1 & 15) << 2) | (b2 >> 6), b2 & 63 })
                    b.Append(sextet == 0 ? '`' : (char)(0x20 + sextet));
            }
            b.Append("\r\n");
        }
        return b.Append("`\r\nend\r\n").ToString();
    }

    private static string Yenc(string name, byte[] data)
    {
        var b = new StringBuilder($"=ybegin line=128 size={data.Length} name={name}\r\n");
        foreach (var x in data)
        {
            var c = (byte)(x + 42);
            if (c is 0 or (byte)'\n' or (byte)'\r' or (byte)'=') b.Append('=').Append((char)(byte)(c + 64));
            else b.Append((char)c);
        }
        return b.Append($"\r\n=yend size={data.Length}\r\n").ToString();
    }

    // --- archives ---

    private static byte[] Deflate(byte[] data)
    {
        using var output = new MemoryStream();
        using (var deflate = new DeflateStream(output, CompressionLevel.SmallestSize, leaveOpen: true)) deflate.Write(data);
        return output.ToArray();
    }

    private static byte[] GzipOf(byte[] data)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.SmallestSize, leaveOpen: true)) gzip.Write(data);
        return output.ToArray();
    }

    private static byte[] Repeat(byte[] data, int times) => Enumerable.Repeat(data, times).SelectMany(d => d).ToArray();

    private static byte[] RandomBytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private static byte[] ZipOf(params (string Name, byte[] Content)[] members)
    {
        using var output = new MemoryStream();
        using (var zip = new ZipArchive(output, ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach (var (name, content) in members)
            {
                using var entry = zip.CreateEntry(name, CompressionLevel.Optimal).Open();
                entry.Write(content);
            }
        }
        return output.ToArray();
    }

    private static byte[] ChainZip(string name, byte[] content, int depth)
    {
        var zip = ZipOf((name, content));
        for (var i = 1; i < depth; i++) zip = ZipOf(($"level{i}.zip", zip));
        return zip;
    }

    private static byte[] TarOf(string name, byte[] content)
    {
        using var output = new MemoryStream();
        using (var tar = new System.Formats.Tar.TarWriter(output, leaveOpen: true))
        {
            var entry = new System.Formats.Tar.PaxTarEntry(System.Formats.Tar.TarEntryType.RegularFile, name) { DataStream = new MemoryStream(content) };
            tar.WriteEntry(entry);
        }
        return output.ToArray();
    }

    /// <summary>Entries whose deflated data is <paramref name="deflated"/> each, declaring <paramref name="size"/> bytes of zeros.</summary>
    private static byte[] FlatZip(byte[] deflated, long size, int entries) =>
        RawZip(Enumerable.Range(0, entries).Select(i => new RawEntry($"zeros{i}.bin", deflated, 8, ZeroCrc(size), size)).ToList());

    /// <summary>42.zip's shape: every level holds 16 copies of the level below.</summary>
    private static byte[] NestedZip(byte[] leaf, int levels)
    {
        var zip = leaf;
        for (var level = 0; level < levels; level++)
        {
            var deflated = Deflate(zip);
            var crc = Crc32(zip);
            zip = RawZip(Enumerable.Range(0, 16).Select(i => new RawEntry($"l{level}-{i}.zip", deflated, 8, crc, zip.Length)).ToList());
        }
        return zip;
    }

    /// <summary>One local entry that every central-directory entry points at: each unpacks the same compressed bytes.</summary>
    private static byte[] OverlappingZip(byte[] deflated, long size, int entries)
    {
        var crc = ZeroCrc(size);
        using var output = new MemoryStream();
        var writer = new BinaryWriter(output);
        LocalHeader(writer, "zeros.bin", 8, crc, deflated.Length, size);
        writer.Write(deflated);
        var directoryAt = output.Position;
        for (var i = 0; i < entries; i++) DirectoryHeader(writer, $"z{i}.bin", 8, crc, deflated.Length, size, 0);
        EndOfDirectory(writer, entries, output.Position - directoryAt, directoryAt);
        return output.ToArray();
    }

    /// <summary>A zip whose only member declares <paramref name="declared"/> bytes but holds all of <paramref name="content"/>.</summary>
    private static byte[] LyingZip(string name, byte[] content, long declared) =>
        RawZip([new RawEntry(name, Deflate(content), 8, Crc32(content), declared)]);

    /// <summary>A zip64 archive of <paramref name="entries"/> empty members, as .NET writes it.</summary>
    private static byte[] ManyEntriesZip(int entries)
    {
        using var output = new MemoryStream();
        using (var zip = new ZipArchive(output, ZipArchiveMode.Create, leaveOpen: true))
        {
            for (var i = 0; i < entries; i++) zip.CreateEntry($"f{i}.txt", CompressionLevel.NoCompression);
        }
        return output.ToArray();
    }

    private sealed record RawEntry(string Name, byte[] Data, ushort Method, uint Crc, long DeclaredSize);

    private static byte[] RawZip(IReadOnlyList<RawEntry> entries)
    {
        using var output = new MemoryStream();
        var writer = new BinaryWriter(output);
        var offsets = new List<long>();
        foreach (var e in entries)
        {
            offsets.Add(output.Position);
            LocalHeader(writer, e.Name, e.Method, e.Crc, e.Data.Length, e.DeclaredSize);
            writer.Write(e.Data);
        }
        var directoryAt = output.Position;
        for (var i = 0; i < entries.Count; i++)
            DirectoryHeader(writer, entries[i].Name, entries[i].Method, entries[i].Crc, entries[i].Data.Length, entries[i].DeclaredSize, offsets[i]);
        EndOfDirectory(writer, entries.Count, output.Position - directoryAt, directoryAt);
        return output.ToArray();
    }

    private static void LocalHeader(BinaryWriter w, string name, ushort method, uint crc, long packed, long size)
    {
        var bytes = Encoding.ASCII.GetBytes(name);
        w.Write(0x04034b50u); w.Write((ushort)20); w.Write((ushort)0); w.Write(method); w.Write((ushort)0); w.Write((ushort)0x21);
        w.Write(crc); w.Write((uint)packed); w.Write((uint)size); w.Write((ushort)bytes.Length); w.Write((ushort)0); w.Write(bytes);
    }

    private static void DirectoryHeader(BinaryWriter w, string name, ushort method, uint crc, long packed, long size, long offset)
    {
        var bytes = Encoding.ASCII.GetBytes(name);
        w.Write(0x02014b50u); w.Write((ushort)20); w.Write((ushort)20); w.Write((ushort)0); w.Write(method); w.Write((ushort)0); w.Write((ushort)0x21);
        w.Write(crc); w.Write((uint)packed); w.Write((uint)size); w.Write((ushort)bytes.Length); w.Write((ushort)0); w.Write((ushort)0);
        w.Write((ushort)0); w.Write((ushort)0); w.Write(0u); w.Write((uint)offset); w.Write(bytes);
    }

    private static void EndOfDirectory(BinaryWriter w, int entries, long directorySize, long directoryAt)
    {
        w.Write(0x06054b50u); w.Write((ushort)0); w.Write((ushort)0); w.Write((ushort)entries); w.Write((ushort)entries);
        w.Write((uint)directorySize); w.Write((uint)directoryAt); w.Write((ushort)0);
        w.Flush();
    }

    private static readonly uint[] CrcTable = Enumerable.Range(0, 256).Select(n =>
    {
        var c = (uint)n;
        for (var k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
        return c;
    }).ToArray();

    private static uint Crc32(ReadOnlySpan<byte> data, uint crc = 0)
    {
        crc = ~crc;
        foreach (var b in data) crc = CrcTable[(crc ^ b) & 0xFF] ^ (crc >> 8);
        return ~crc;
    }

    private static uint ZeroCrc(long size)
    {
        var chunk = new byte[1024 * 1024];
        var crc = 0u;
        for (var left = size; left > 0; left -= chunk.Length) crc = Crc32(chunk.AsSpan(0, (int)Math.Min(chunk.Length, left)), crc);
        return crc;
    }
}
