using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using MailScanner.Actors.Scanning;
using MailScanner.Actors.Scanning.Mime;
using MailScanner.Actors.Scanning.Rules;
using Xunit;
using static MailScanner.Actors.Tests.Scanning.TestMail;

namespace MailScanner.Actors.Tests.Scanning;

/// <summary>Taking a message apart: names, sizes, forwarded messages, archives and their limits.</summary>
public sealed class MessageAnalyzerSpecs
{
    private static readonly AnalysisLimits Limits = AnalysisLimits.Default;

    private static MessageAnalysis Analyze(byte[] message, AnalysisLimits? limits = null) =>
        MessageAnalyzer.Analyze(message, limits ?? Limits);

    private static ScanFinding Finding(MessageAnalysis analysis, string reasonStart)
    {
        var matching = analysis.Findings.Where(f => f.Reason.StartsWith(reasonStart, StringComparison.Ordinal)).ToList();
        Assert.True(matching.Count == 1,
            $"expected one '{reasonStart}...' finding, got: {string.Join(" | ", analysis.Findings)}");
        Assert.Equal(VerdictKind.DangerousContent, matching[0].Kind);
        return matching[0];
    }

    [Fact]
    public void Should_list_every_leaf_with_name_type_position_and_sizes()
    {
        var message = Message(Attachment("data.bin", new byte[300]), Attachment("notes.txt", Text("hello"), "text/plain"));
        message.BodyParts.OfType<MimeKit.MimePart>().Last().ContentDisposition!.Size = 5;

        var analysis = Analyze(Bytes(message));

        Assert.Empty(analysis.Findings);
        Assert.Collection(analysis.Parts,
            body =>
            {
                Assert.Equal("part 1", body.PartName);
                Assert.Equal("1", body.MimePath);
                Assert.Null(body.FileName);
                Assert.Equal("text/plain", body.ContentType);
                Assert.False(body.IsAttachment);
            },
            data =>
            {
                Assert.Equal(("data.bin", "2", "application/octet-stream", 300L), (data.PartName, data.MimePath, data.ContentType, data.DecodedSize));
                Assert.True(data.IsAttachment);
                Assert.Null(data.DeclaredSize);
            },
            notes =>
            {
                Assert.Equal(("notes.txt", "3", 5L, 5L), (notes.PartName, notes.MimePath, notes.DeclaredSize, notes.DecodedSize));
                Assert.Equal("hello", Encoding.UTF8.GetString(notes.Content.Span));
            });
    }

    [Fact]
    public void Should_name_parts_of_a_forwarded_message_below_it()
    {
        var inner = Message(Attachment("inner.pdf", Text("%PDF-1.4")));
        var analysis = Analyze(Bytes(Message(Forwarded(inner, "fwd.eml"), Forwarded(Message(), fileName: null))));

        Assert.Contains(analysis.Parts, p => p is { PartName: "fwd.eml/inner.pdf", MimePath: "2.2" });
        Assert.Contains(analysis.Parts, p => p is { PartName: "fwd.eml/part 2.1", MimePath: "2.1" });
        Assert.Contains(analysis.Parts, p => p is { PartName: "message 3/part 3.1", MimePath: "3.1" });
    }

    [Fact]
    public void Should_unpack_nested_archives_with_path_like_names()
    {
        var inner = Zip(("evil.exe", Text("x")));
        var outer = Zip(("inner/inner.zip", inner), ("readme.txt", Text("hi")));
        var analysis = Analyze(Bytes(Message(Attachment("report.zip", outer))));

        var evil = Assert.Single(analysis.Parts, p => p.FileName == "evil.exe");
        Assert.Equal("report.zip/inner/inner.zip/evil.exe", evil.PartName);
        Assert.Equal(PartSource.ArchiveMember, evil.Source);
        Assert.Equal(2, evil.ArchiveDepth);
        Assert.Equal("2", evil.MimePath); // the MIME part to replace when cleaning
        Assert.Contains(analysis.Parts, p => p.PartName == "report.zip/readme.txt");
    }

    [Fact]
    public void Should_report_archives_nested_deeper_than_the_limit()
    {
        var zip = Zip(("eicar.txt", Eicar));
        for (var i = 0; i < 7; i++) zip = Zip(($"level{i}.zip", zip));

        var analysis = Analyze(Bytes(Message(Attachment("deep.zip", zip))), Limits with { MaxArchiveDepth = 5 });

        Assert.Contains("archive: could not be analysed: limit max-archive-depth", Finding(analysis, "archive: could not be analysed: limit max-archive-depth").Reason);
        Assert.DoesNotContain(analysis.Parts, p => p.ArchiveDepth > 5);
    }

    [Fact]
    public void Should_stop_a_zip_bomb_without_expanding_it()
    {
        // 64 MiB of zeros packs into ~64 KiB: a ratio of about 1000:1.
        var bomb = Zip(CompressionLevel.SmallestSize, ("zeros.bin", new byte[64 * 1024 * 1024]));
        Assert.True(bomb.Length < 1024 * 1024);
        var message = Bytes(Message(Attachment("bomb.zip", bomb)));

        var clock = Stopwatch.StartNew();
        var analysis = Analyze(message);
        clock.Stop();

        var finding = Finding(analysis, "archive: could not be analysed: limit max-compression-ratio");
        Assert.Equal("bomb.zip/zeros.bin", finding.PartName);
        Assert.DoesNotContain(analysis.Parts, p => p.PartName == "bomb.zip/zeros.bin");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed}");
    }

    [Fact]
    public void Should_stop_a_gzip_bomb_while_reading_it()
    {
        // gzip declares no size up front: the ratio has to be caught while unpacking.
        var bomb = Gzip(new byte[32 * 1024 * 1024]);

        var analysis = Analyze(Bytes(Message(Attachment("zeros.gz", bomb))));

        Assert.Equal("zeros.gz/zeros", Finding(analysis, "archive: could not be analysed: limit max-compression-ratio").PartName);
    }

    [Fact]
    public void Should_allow_a_small_file_that_compresses_very_well()
    {
        var analysis = Analyze(Bytes(Message(Attachment("spaces.zip", Zip(("spaces.txt", Text(new string(' ', 500_000))))))));

        Assert.Empty(analysis.Findings);
        Assert.Equal(500_000, Assert.Single(analysis.Parts, p => p.FileName == "spaces.txt").DecodedSize);
    }

    [Fact]
    public void Should_report_more_expanded_bytes_than_the_limit()
    {
        var random = new byte[300_000];
        new Random(1).NextBytes(random);
        var zip = Zip(("a.bin", random), ("b.bin", random), ("c.bin", random));

        var analysis = Analyze(Bytes(Message(Attachment("big.zip", zip))), Limits with { MaxUnpackedBytes = 700_000 });

        Assert.Equal("big.zip/c.bin", Finding(analysis, "archive: could not be analysed: limit max-unpacked-bytes").PartName);
        Assert.Equal(2, analysis.Parts.Count(p => p.Source == PartSource.ArchiveMember));
    }

    [Fact]
    public void Should_report_more_archive_members_than_the_limit()
    {
        var zip = Zip(Enumerable.Range(0, 50).Select(i => ($"f{i}.txt", Text("x"))).ToArray());

        var analysis = Analyze(Bytes(Message(Attachment("many.zip", zip))), Limits with { MaxArchiveMembers = 20 });

        // The zip declares 50 entries: it is refused before its directory is even listed.
        Assert.Equal("many.zip", Finding(analysis, "archive: could not be analysed: limit max-archive-members").PartName);
        Assert.Equal(0, analysis.Parts.Count(p => p.Source == PartSource.ArchiveMember));
    }

    [Fact]
    public void Should_mark_an_encrypted_member_unscannable()
    {
        var analysis = Analyze(Bytes(Message(Attachment("secret.zip", EncryptedZip("a.doc", Text("x"))))));

        var member = Assert.Single(analysis.Parts, p => p.Source == PartSource.ArchiveMember);
        Assert.True(member.IsEncrypted);
        Assert.True(member.Content.IsEmpty);
        Assert.Empty(analysis.Findings); // whether that is allowed is a rule (archives.allow-encrypted)
    }

    [Fact]
    public void Should_unpack_tar_members()
    {
        var analysis = Analyze(Bytes(Message(Attachment("src.tar", Tar(("src/main.c", Text("int main;")), ("src/run.sh", Text("#!/bin/sh")))))));

        Assert.Equal(["src.tar/src/main.c", "src.tar/src/run.sh"],
            analysis.Parts.Where(p => p.Source == PartSource.ArchiveMember).Select(p => p.PartName));
    }

    [Fact]
    public void Should_decode_the_html_of_an_html_part()
    {
        Assert.Equal("<p>Grüße</p>", Assert.Single(Analyze(Bytes(HtmlMessage("<p>Grüße</p>"))).Parts).Html?.TrimEnd());

        var latin1 = Encoding.Latin1.GetBytes("Subject: x\r\nContent-Type: text/html; charset=iso-8859-1\r\n\r\n<p>Gr\u00fc\u00dfe</p>\r\n");
        Assert.Equal("<p>Grüße</p>", Assert.Single(Analyze(latin1).Parts).Html?.TrimEnd());
    }

    [Fact]
    public void Should_analyse_with_the_limits_configured_in_the_rules()
    {
        Assert.Equal(AnalysisLimits.Default, RuleSettings.Default.Limits);
    }

    /// <summary>Raw HTML parts: a header block (without a blank line) and a body, as a sender may have written them.</summary>
    public static TheoryData<string, string, byte[]> HtmlParts() => new()
    {
        { "utf-8 with CRLF", "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit", Encoding.UTF8.GetBytes("<p>caf\u00e9</p>\r\n<p>two\r\r\nthree\r</p>\r") },
        { "latin-1 declared", "Content-Type: text/html; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit", [.."<p>caf"u8, 0xE9, .."</p>"u8] },
        { "no charset, valid utf-8", "Content-Type: text/html", Encoding.UTF8.GetBytes("<p>\u20ac 5</p>") },
        { "no charset, not utf-8", "Content-Type: text/html", [.."<p>caf"u8, 0xE9, 0xFF, .."</p>"u8] },
        { "meta charset", "Content-Type: text/html", [.."<html><head><meta charset=\"windows-1252\"></head><body>"u8, 0x80, .."</body></html>"u8] },
        { "unknown charset", "Content-Type: text/html; charset=x-nonsense", [.."<p>caf"u8, 0xE9, .."</p>"u8] },
        { "utf-16 with BOM", "Content-Type: text/html", [0xFF, 0xFE, .. Encoding.Unicode.GetBytes("<p>hi</p>\r\n")] },
        { "utf-16 with a lone surrogate", "Content-Type: text/html; charset=utf-16le", [.. Encoding.Unicode.GetBytes("<p>"), 0x00, 0xD8, .. Encoding.Unicode.GetBytes("</p>")] },
        { "quoted-printable", "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable", "<p style=3D\"x\">caf=C3=A9=\r\n more</p>\r\n"u8.ToArray() },
        { "base64", "Content-Type: text/html; charset=iso-8859-15\r\nContent-Transfer-Encoding: base64", Encoding.ASCII.GetBytes(Convert.ToBase64String([.."<p>"u8, 0xA4, .."</p>\r\n"u8], Base64FormattingOptions.InsertLineBreaks)) },
    };

    [Theory]
    [MemberData(nameof(HtmlParts))]
    public void Should_read_the_text_of_an_html_part_exactly_as_MimeKit_does(string _, string headers, byte[] body)
    {
        var raw = Raw($"From: a@example.org\r\nTo: b@example.com\r\nSubject: html\r\nMIME-Version: 1.0\r\n{headers}\r\n\r\n").Concat(body).ToArray();
        var part = Assert.IsType<MimeKit.TextPart>(MimeKit.MimeMessage.Load(new MemoryStream(raw)).Body);
        using var decoded = new MemoryStream();
        part.Content!.DecodeTo(decoded);

        string? expected, actual;
        try { expected = part.Text; } catch (ArgumentException) { expected = null; }
        try { actual = HtmlPartText.Decode(part, decoded.ToArray()); } catch (ArgumentException) { actual = null; }

        Assert.Equal(expected, actual);
        Assert.Equal(expected, Assert.Single(Analyze(raw).Parts).Html);
    }
}
