using System.Diagnostics;
using System.Text;
using MailScanner.Actors.Scanning;
using MailScanner.Actors.Scanning.Mime;
using MailScanner.Actors.Scanning.Rules;
using Xunit;
using static MailScanner.Actors.Tests.Scanning.TestMail;

namespace MailScanner.Actors.Tests.Scanning;

/// <summary>
/// Hostile and broken MIME: each gets the report its damage calls for, never an exception, and in bounded time (every
/// input here is small enough that a few seconds is generous; a hang or quadratic blow-up shows as a failure, not a
/// stuck run). What cannot be taken apart at all is dangerous content, never clean: the gateway must not deliver what
/// it could not look at.
/// </summary>
public sealed class MalformedMimeSpecs
{
    private static ScanReport ScanBounded(byte[] message)
    {
        var clock = Stopwatch.StartNew();
        var report = BuiltInRules.Scan(message, RuleSettings.Default);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"took {clock.Elapsed}");
        return report;
    }

    private const string Headers = "From: a@example.org\nTo: b@example.com\nSubject: malformed\nMIME-Version: 1.0\n";

    private static readonly string EicarBase64 = Convert.ToBase64String(Eicar);

    [Fact]
    public void Should_still_find_attachments_after_an_unterminated_boundary()
    {
        var report = ScanBounded(Raw(Headers + """
            Content-Type: multipart/mixed; boundary="never-closed"

            --never-closed
            Content-Type: text/plain

            hello
            --never-closed
            Content-Type: application/octet-stream
            Content-Disposition: attachment; filename="evil.exe"
            Content-Transfer-Encoding: base64

            TVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAgAAAAA
            """));

        Assert.Contains(report.Findings, f => f.Reason.StartsWith("filename: .exe", StringComparison.Ordinal) && f.PartName == "evil.exe");
    }

    [Fact]
    public void Should_skip_junk_in_broken_base64_and_still_find_what_it_encodes()
    {
        // Junk between the groups and padding in the middle: a decoder that gave up there would let EICAR through.
        var broken = string.Join("!@#$ ", EicarBase64.Chunk(4).Select(group => new string(group))) + "\n=== ====\n====A";

        var report = ScanBounded(Raw(Headers + $"""
            Content-Type: multipart/mixed; boundary="b"

            --b
            Content-Type: application/pdf; name="doc.pdf"
            Content-Transfer-Encoding: base64

            {broken}
            --b--
            """));

        Assert.Contains(new ScanFinding(VerdictKind.Infected, BuiltInRules.EicarReason, "doc.pdf") { MimePath = "1" }, report.Findings);
    }

    [Fact]
    public void Should_read_the_body_after_8_bit_junk_in_headers()
    {
        var junk = new byte[512];
        new Random(3).NextBytes(junk);
        for (var i = 0; i < junk.Length; i++) if (junk[i] is (byte)'\r' or (byte)'\n') junk[i] = 0xFF;
        var message = Encoding.ASCII.GetBytes("From: a@example.org\r\nSubject: ")
            .Concat(junk).Concat(Encoding.ASCII.GetBytes("\r\nX-"))
            .Concat(junk).Concat(Encoding.ASCII.GetBytes(": v\r\nContent-Type: text/plain; charset=\"\xff\xfe\"; name=\""))
            .Concat(junk).Concat(Encoding.ASCII.GetBytes("\"\r\n\r\n")).Concat(Eicar).Concat("\r\n"u8.ToArray()).ToArray();

        var report = ScanBounded(message);

        // Named by its part: found in the parsed body, not only by the raw search that needs no parsing.
        Assert.Contains(new ScanFinding(VerdictKind.Infected, BuiltInRules.EicarReason, "part 1") { MimePath = "1" }, report.Findings);
    }

    [Fact]
    public void Should_read_the_headers_after_a_one_megabyte_header_line()
    {
        var report = ScanBounded(Raw($"From: a@example.org\nSubject: {new string('a', 1024 * 1024)}\nX-Long: {new string('b', 1024 * 1024)}\n" +
                                     "MIME-Version: 1.0\nContent-Type: application/octet-stream; name=\"x.exe\"\n\nbody\n"));

        // The Content-Type after the long lines was read: its file name is judged.
        var finding = Assert.Single(report.Findings);
        Assert.Equal((VerdictKind.DangerousContent, "x.exe"), (finding.Kind, finding.PartName));
        Assert.StartsWith("filename: .exe files are not allowed", finding.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Should_judge_a_one_megabyte_file_name_and_name_it_shortened()
    {
        var report = ScanBounded(Raw(Headers + $"""
            Content-Type: application/octet-stream
            Content-Disposition: attachment; filename="{new string('a', 1024 * 1024)}.exe"

            x
            """));

        var finding = Assert.Single(report.Findings);
        Assert.StartsWith("filename: .exe files are not allowed", finding.Reason, StringComparison.Ordinal);
        // Findings go into headers, logs and the quarantine's metadata: a megabyte of name must not follow them there.
        Assert.EndsWith(".exe", finding.PartName, StringComparison.Ordinal);
        Assert.InRange(finding.PartName!.Length, 5, 4096);
        Assert.InRange(finding.Reason.Length, 5, 4096);
    }

    [Fact]
    public void Should_report_ten_thousand_parts_as_over_the_part_limit()
    {
        var b = new StringBuilder(Headers + "Content-Type: multipart/mixed; boundary=\"b\"\n\n");
        for (var i = 0; i < 10_000; i++) b.Append($"--b\nContent-Type: text/plain\n\npart {i}\n");
        b.Append("--b--\n");

        var report = ScanBounded(Raw(b.ToString()));

        Assert.Contains(report.Findings, f => f is { Kind: VerdictKind.DangerousContent } && f.Reason.StartsWith("mime: could not be analysed: limit max-mime-parts", StringComparison.Ordinal));
    }

    [Fact]
    public void Should_report_ten_thousand_nested_multiparts_as_over_the_depth_limit()
    {
        var b = new StringBuilder(Headers + "Content-Type: multipart/mixed; boundary=\"b0\"\n\n");
        for (var i = 0; i < 10_000; i++) b.Append($"--b{i}\nContent-Type: multipart/mixed; boundary=\"b{i + 1}\"\n\n");
        b.Append("--b10000\nContent-Type: text/plain\n\ndeep\n");
        for (var i = 10_000; i >= 0; i--) b.Append($"--b{i}--\n");

        var report = ScanBounded(Raw(b.ToString()));

        Assert.Contains(report.Findings, f => f is { Kind: VerdictKind.DangerousContent } && f.Reason.StartsWith("mime: could not be analysed: limit max-mime-depth", StringComparison.Ordinal));
    }

    [Fact]
    public void Should_report_a_message_nested_a_hundred_deep_and_still_find_eicar_in_it()
    {
        var message = Message();
        message.Body = new MimeKit.TextPart("plain") { Text = Encoding.ASCII.GetString(Eicar) };
        for (var i = 0; i < 100; i++) message = Message(Forwarded(message, $"fwd{i}.eml"));

        var report = ScanBounded(Bytes(message));

        Assert.Contains(report.Findings, f => f.Reason.StartsWith("mime: could not be analysed: limit max-mime-depth", StringComparison.Ordinal));
        Assert.Equal(VerdictKind.Infected, Verdict.Of(report.Findings).Kind); // found by the raw search
    }

    [Theory]
    [InlineData("Content-Type: text/plain\n\n", 1)]
    [InlineData("Content-Type: multipart/mixed; boundary=\"b\"\n\n", 0)]
    public void Should_report_nothing_for_an_empty_body(string contentType, int parts)
    {
        var message = Raw(Headers + contentType);

        Assert.Empty(ScanBounded(message).Findings);
        // Empty, not unread: a text body is one part of no bytes, a multipart without a boundary line has none.
        var analysis = MessageAnalyzer.Analyze(message, RuleSettings.Default.Limits);
        Assert.Equal(parts, analysis.Parts.Count);
        Assert.All(analysis.Parts, part => Assert.Equal(0, part.DecodedSize));
    }

    [Fact]
    public void Should_report_no_bytes_at_all_as_a_message_that_cannot_be_parsed()
    {
        var finding = Assert.Single(ScanBounded([]).Findings);

        Assert.Equal(VerdictKind.DangerousContent, finding.Kind);
        Assert.StartsWith("mime: message cannot be parsed", finding.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Should_report_binary_garbage_as_a_message_that_cannot_be_parsed()
    {
        var garbage = new byte[200_000];
        new Random(5).NextBytes(garbage);

        var finding = Assert.Single(ScanBounded(garbage).Findings);

        Assert.Equal(VerdictKind.DangerousContent, finding.Kind);
        Assert.StartsWith("mime: message cannot be parsed", finding.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Should_report_garbage_claiming_to_be_a_zip_as_an_archive_that_cannot_be_unpacked()
    {
        var fake = "PK\x03\x04"u8.ToArray().Concat(new byte[1000]).ToArray();

        var report = ScanBounded(Bytes(Message(Attachment("fake.zip", fake))));

        var finding = Assert.Single(report.Findings);
        Assert.Equal((VerdictKind.DangerousContent, "fake.zip"), (finding.Kind, finding.PartName));
        Assert.StartsWith("archive: cannot be unpacked", finding.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Should_report_a_truncated_tar_as_an_archive_that_cannot_be_unpacked()
    {
        var tar = Tar(("a.txt", new byte[5000]));

        var report = ScanBounded(Bytes(Message(Attachment("t.tar", tar.AsSpan(0, 700).ToArray()))));

        var finding = Assert.Single(report.Findings);
        Assert.Equal((VerdictKind.DangerousContent, "t.tar"), (finding.Kind, finding.PartName));
        Assert.StartsWith("archive: cannot be unpacked", finding.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Should_still_scan_what_a_truncated_gzip_holds()
    {
        // EICAR first, then enough incompressible bytes that the cut falls well after it.
        var random = new byte[100_000];
        new Random(7).NextBytes(random);
        var gz = Gzip(Eicar.Concat(random).ToArray());

        var report = ScanBounded(Bytes(Message(Attachment("g.gz", gz.AsSpan(0, gz.Length / 2).ToArray()))));

        Assert.Contains(new ScanFinding(VerdictKind.Infected, BuiltInRules.EicarReason, "g.gz/g") { MimePath = "2" }, report.Findings);
    }
}
