using System.Diagnostics;
using System.Text;
using MailScanner.Actors.Scanning;
using MailScanner.Actors.Scanning.Rules;
using Xunit;
using static MailScanner.Actors.Tests.Scanning.TestMail;

namespace MailScanner.Actors.Tests.Scanning;

/// <summary>
/// Hostile and broken MIME: each gets a report, never an exception, and in bounded time (every input here is
/// small enough that a few seconds is generous; a hang or quadratic blow-up shows as a failure, not a stuck run).
/// </summary>
public sealed class MalformedMimeSpecs
{
    private static ScanReport ScanBounded(byte[] message)
    {
        var clock = Stopwatch.StartNew();
        var report = BuiltInRules.Scan(message, RuleSettings.Default);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"took {clock.Elapsed}");
        Assert.Equal(BuiltInRules.ScannerName, report.Scanner);
        return report;
    }

    private const string Headers = "From: a@example.org\nTo: b@example.com\nSubject: malformed\nMIME-Version: 1.0\n";

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
    public void Should_survive_broken_base64()
    {
        var report = ScanBounded(Raw(Headers + """
            Content-Type: multipart/mixed; boundary="b"

            --b
            Content-Type: application/pdf; name="doc.pdf"
            Content-Transfer-Encoding: base64

            JVBERi0x!!!@@@###$$$ not base64 at all === ====
            ====A
            --b--
            """));

        Assert.Empty(report.Findings);
    }

    [Fact]
    public void Should_survive_8_bit_junk_in_headers()
    {
        var junk = new byte[512];
        new Random(3).NextBytes(junk);
        for (var i = 0; i < junk.Length; i++) if (junk[i] is (byte)'\r' or (byte)'\n') junk[i] = 0xFF;
        var message = Encoding.ASCII.GetBytes("From: a@example.org\r\nSubject: ")
            .Concat(junk).Concat(Encoding.ASCII.GetBytes("\r\nX-"))
            .Concat(junk).Concat(Encoding.ASCII.GetBytes(": v\r\nContent-Type: text/plain; charset=\"\xff\xfe\"; name=\""))
            .Concat(junk).Concat(Encoding.ASCII.GetBytes("\"\r\n\r\nbody\r\n")).ToArray();

        ScanBounded(message);
    }

    [Fact]
    public void Should_survive_a_one_megabyte_header_line()
    {
        ScanBounded(Raw($"From: a@example.org\nSubject: {new string('a', 1024 * 1024)}\nX-Long: {new string('b', 1024 * 1024)}\n\nbody\n"));
    }

    [Fact]
    public void Should_survive_a_one_megabyte_file_name()
    {
        var report = ScanBounded(Raw(Headers + $"""
            Content-Type: application/octet-stream
            Content-Disposition: attachment; filename="{new string('a', 1024 * 1024)}.exe"

            x
            """));

        Assert.Contains(report.Findings, f => f.Reason.StartsWith("filename:", StringComparison.Ordinal));
    }

    [Fact]
    public void Should_report_ten_thousand_parts_as_over_the_part_limit()
    {
        var b = new StringBuilder(Headers + "Content-Type: multipart/mixed; boundary=\"b\"\n\n");
        for (var i = 0; i < 10_000; i++) b.Append($"--b\nContent-Type: text/plain\n\npart {i}\n");
        b.Append("--b--\n");

        var report = ScanBounded(Raw(b.ToString()));

        Assert.Contains(report.Findings, f => f is { Kind: VerdictKind.DangerousContent } && f.Reason.StartsWith("mime: part limit exceeded", StringComparison.Ordinal));
    }

    [Fact]
    public void Should_report_ten_thousand_nested_multiparts_as_over_the_depth_limit()
    {
        var b = new StringBuilder(Headers + "Content-Type: multipart/mixed; boundary=\"b0\"\n\n");
        for (var i = 0; i < 10_000; i++) b.Append($"--b{i}\nContent-Type: multipart/mixed; boundary=\"b{i + 1}\"\n\n");
        b.Append("--b10000\nContent-Type: text/plain\n\ndeep\n");
        for (var i = 10_000; i >= 0; i--) b.Append($"--b{i}--\n");

        var report = ScanBounded(Raw(b.ToString()));

        Assert.Contains(report.Findings, f => f is { Kind: VerdictKind.DangerousContent } && f.Reason.StartsWith("mime: nesting depth limit exceeded", StringComparison.Ordinal));
    }

    [Fact]
    public void Should_report_a_message_nested_a_hundred_deep_and_still_find_eicar_in_it()
    {
        var message = Message();
        message.Body = new MimeKit.TextPart("plain") { Text = Encoding.ASCII.GetString(Eicar) };
        for (var i = 0; i < 100; i++) message = Message(Forwarded(message, $"fwd{i}.eml"));

        var report = ScanBounded(Bytes(message));

        Assert.Contains(report.Findings, f => f.Reason.StartsWith("mime: nesting depth limit exceeded", StringComparison.Ordinal));
        Assert.Equal(VerdictKind.Infected, Verdict.Of(report.Findings).Kind); // found by the raw search
    }

    [Fact]
    public void Should_report_nothing_for_an_empty_body()
    {
        Assert.Empty(ScanBounded(Raw(Headers + "Content-Type: text/plain\n\n")).Findings);
        Assert.Empty(ScanBounded(Raw(Headers + "Content-Type: multipart/mixed; boundary=\"b\"\n\n")).Findings);
    }

    [Fact]
    public void Should_give_a_report_for_no_bytes_at_all()
    {
        ScanBounded([]);
    }

    [Fact]
    public void Should_survive_binary_garbage()
    {
        var garbage = new byte[200_000];
        new Random(5).NextBytes(garbage);

        ScanBounded(garbage);
    }

    [Fact]
    public void Should_survive_garbage_claiming_to_be_a_zip()
    {
        var fake = "PK\x03\x04"u8.ToArray().Concat(new byte[1000]).ToArray();

        var report = ScanBounded(Bytes(Message(Attachment("fake.zip", fake))));

        Assert.Contains(report.Findings, f => f.Reason.StartsWith("archive: cannot be unpacked", StringComparison.Ordinal) && f.PartName == "fake.zip");
    }

    [Fact]
    public void Should_survive_a_truncated_tar_and_gzip()
    {
        var tar = Tar(("a.txt", new byte[5000]));
        var gz = Gzip(Text(new string('x', 100_000)));

        ScanBounded(Bytes(Message(Attachment("t.tar", tar.AsSpan(0, 700).ToArray()), Attachment("g.gz", gz.AsSpan(0, gz.Length / 2).ToArray()))));
    }
}
