using System.Text;
using MailScanner.Actors.Scanning;
using MailScanner.Actors.Scanning.Clamd;
using MailScanner.Actors.Scanning.Engines;
using MailScanner.Actors.Tests.TestSupport;
using Xunit;
using Xunit.Abstractions;

namespace MailScanner.Actors.Tests.Scanning;

/// <summary>The clamd client against a real clamd (one per class) with its own tiny signature database.</summary>
[Collection(ScannerDaemonCollection.Name)]
public sealed class ClamdClientSpecs : IClassFixture<ClamdDaemon>
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private readonly ClamdDaemon _clamd;
    private readonly ITestOutputHelper _output;

    public ClamdClientSpecs(ClamdDaemon clamd, ITestOutputHelper output)
    {
        _clamd = clamd;
        _output = output;
        output.WriteLine($"clamd answered PING {clamd.StartupTime.TotalMilliseconds:0} ms after it was started");
    }

    [Fact]
    public async Task Should_answer_PING_and_VERSION()
    {
        using var cts = new CancellationTokenSource(Deadline);
        var client = _clamd.Client();
        await client.PingAsync(cts.Token);
        var version = await client.VersionAsync(cts.Token);
        Assert.StartsWith("ClamAV 1.", version);
    }

    [Fact]
    public async Task Should_find_EICAR_and_pass_clean_text()
    {
        using var cts = new CancellationTokenSource(Deadline);
        var client = _clamd.Client();
        var infected = await client.ScanAsync(Mail($"Here it is:\r\n{ClamdDaemon.Eicar}\r\n"), cts.Token);
        var clean = await client.ScanAsync(Mail("Nothing to see here.\r\n"), cts.Token);

        Assert.Equal(new ClamdResult.Found(ClamdDaemon.EicarSignature + ClamdDaemon.Unofficial), infected);
        Assert.Equal(ClamdResult.Clean.Instance, clean);
    }

    [Fact]
    public async Task Should_find_EICAR_split_over_many_small_chunks()
    {
        using var cts = new CancellationTokenSource(Deadline);
        var content = new byte[700_000];
        content.AsSpan().Fill((byte)'a');
        Encoding.ASCII.GetBytes(ClamdDaemon.Eicar).CopyTo(content, 300_001); // straddles chunk boundaries
        var result = await _clamd.Client(chunkSize: 4093).ScanAsync(content, cts.Token);
        Assert.Equal(new ClamdResult.Found(ClamdDaemon.EicarSignature + ClamdDaemon.Unofficial), result);
    }

    [Fact]
    public async Task Should_find_clam_exe_from_clamav_testfiles()
    {
        using var cts = new CancellationTokenSource(Deadline);
        var clamExe = await File.ReadAllBytesAsync(Path.Combine(ClamdDaemon.TestFiles, "clam.exe"));
        var result = await _clamd.Client().ScanAsync(clamExe, cts.Token);
        Assert.Equal(new ClamdResult.Found(ClamdDaemon.ClamExeSignature + ClamdDaemon.Unofficial), result);
    }

    [Fact]
    public async Task Should_detect_every_clamav_testfile()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        var client = _clamd.Client();
        var files = Directory.GetFiles(ClamdDaemon.TestFiles).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(44, files.Count);
        var missed = new List<string>();
        foreach (var file in files)
        {
            var result = await client.ScanAsync(await File.ReadAllBytesAsync(file, cts.Token), cts.Token);
            if (result is not ClamdResult.Found) missed.Add($"{Path.GetFileName(file)}: {result}");
        }
        Assert.Empty(missed);
    }

    [Fact]
    public async Task Should_report_a_stream_over_StreamMaxLength_as_too_large_never_clean()
    {
        using var cts = new CancellationTokenSource(Deadline);
        var content = new byte[3 * ClamdDaemon.StreamMaxLength];
        content.AsSpan().Fill((byte)'x');

        var result = await _clamd.Client().ScanAsync(content, cts.Token);

        _output.WriteLine($"{content.Length} bytes: {result}");
        Assert.IsType<ClamdResult.TooLarge>(result);
        var finding = Assert.Single(ClamdBackend.ToReport(result).Findings);
        Assert.Equal(VerdictKind.DangerousContent, finding.Kind);
        // clamd is still fine afterwards.
        Assert.Equal(ClamdResult.Clean.Instance, await _clamd.Client().ScanAsync(Mail("small\r\n"), cts.Token));
    }

    private static readonly string EicarFound = $"virus {ClamdDaemon.EicarSignature}{ClamdDaemon.Unofficial} (clamd)";

    [Fact]
    public async Task Should_report_EICAR_as_infected_through_the_backend_naming_the_body_of_a_single_part_message()
    {
        using var cts = new CancellationTokenSource(Deadline);
        var backend = new ClamdBackend(_clamd.Client());
        var report = await backend.ScanAsync(Mail(ClamdDaemon.Eicar), cts.Token);
        Assert.Equal("clamd", report.Scanner);
        Assert.Equal(new ScanFinding(VerdictKind.Infected, EicarFound, "part 1") { MimePath = "1" }, Assert.Single(report.Findings));
        Assert.Empty((await backend.ScanAsync(Mail("hello"), cts.Token)).Findings);
    }

    [Fact]
    public async Task Should_scan_a_message_over_max_size_part_by_part_and_name_a_part_too_large_to_scan()
    {
        using var cts = new CancellationTokenSource(Deadline);
        var big = new byte[6000];
        new Random(3).NextBytes(big);
        var message = TestMail.Bytes(TestMail.Message(TestMail.Attachment("eicar.com", TestMail.Eicar), TestMail.Attachment("big.bin", big)));

        var report = await new ClamdBackend(_clamd.Client(), maxSize: 4096).ScanAsync(message, cts.Token);

        Assert.Contains(new ScanFinding(VerdictKind.Infected, EicarFound, "eicar.com") { MimePath = "2" }, report.Findings);
        var tooLarge = Assert.Single(report.Findings, f => f.Kind == VerdictKind.DangerousContent);
        Assert.StartsWith("not scanned by clamd: too large (6000 bytes, more than max-size 4096)", tooLarge.Reason, StringComparison.Ordinal);
        Assert.Equal(("big.bin", "3"), (tooLarge.PartName, tooLarge.MimePath));
    }

    [Fact]
    public async Task Should_name_the_infected_attachment_and_not_the_clean_text_beside_it()
    {
        using var cts = new CancellationTokenSource(Deadline);
        var message = TestMail.Bytes(TestMail.Message(TestMail.Attachment("eicar.com", TestMail.Eicar)));

        var report = await new ClamdBackend(_clamd.Client()).ScanAsync(message, cts.Token);

        Assert.Equal(new ScanFinding(VerdictKind.Infected, EicarFound, "eicar.com") { MimePath = "2" }, Assert.Single(report.Findings));
    }

    [Fact]
    public async Task Should_name_each_infected_part_of_a_message_with_several()
    {
        using var cts = new CancellationTokenSource(Deadline);
        var clamExe = await File.ReadAllBytesAsync(Path.Combine(ClamdDaemon.TestFiles, "clam.exe"), cts.Token);
        var message = TestMail.Bytes(TestMail.Message(TestMail.Attachment("eicar.com", TestMail.Eicar),
            TestMail.Attachment("notes.txt", TestMail.Text("harmless"), "text/plain"), TestMail.Attachment("setup.exe", clamExe)));

        var report = await new ClamdBackend(_clamd.Client()).ScanAsync(message, cts.Token);

        Assert.Equal([
            new ScanFinding(VerdictKind.Infected, EicarFound, "eicar.com") { MimePath = "2" },
            new ScanFinding(VerdictKind.Infected, $"virus {ClamdDaemon.ClamExeSignature}{ClamdDaemon.Unofficial} (clamd)", "setup.exe") { MimePath = "4" },
        ], report.Findings);
    }

    [Fact]
    public async Task Should_name_no_part_when_the_virus_is_in_no_single_part()
    {
        using var cts = new CancellationTokenSource(Deadline);
        // In a header: no MIME part holds it, so nothing can be cut out.
        var inHeader = Encoding.ASCII.GetBytes($"From: a@example.org\r\nTo: b@example.net\r\nX-Note: {ClamdDaemon.Eicar}\r\nSubject: test\r\n\r\nhello\r\n");

        var report = await new ClamdBackend(_clamd.Client()).ScanAsync(inHeader, cts.Token);

        Assert.Equal(new ScanFinding(VerdictKind.Infected, EicarFound), Assert.Single(report.Findings));
    }

    [Fact]
    public async Task Should_add_a_finding_for_the_whole_message_when_the_virus_is_also_outside_the_infected_part()
    {
        using var cts = new CancellationTokenSource(Deadline);
        // The attachment holds it, and so does the multipart's epilogue, which replacing the attachment would deliver.
        var attached = Encoding.ASCII.GetString(TestMail.Bytes(TestMail.Message(TestMail.Attachment("eicar.com", TestMail.Eicar))));
        var message = Encoding.ASCII.GetBytes(attached + $"\r\n{ClamdDaemon.Eicar}\r\n");

        var report = await new ClamdBackend(_clamd.Client()).ScanAsync(message, cts.Token);

        Assert.Equal([
            new ScanFinding(VerdictKind.Infected, EicarFound, "eicar.com") { MimePath = "2" },
            new ScanFinding(VerdictKind.Infected, EicarFound),
        ], report.Findings);
    }

    [Theory]
    [InlineData("stream: OK", "Clean")]
    [InlineData("stream: Win.Test.EICAR_HDB-1 FOUND", "Found:Win.Test.EICAR_HDB-1")]
    [InlineData("INSTREAM size limit exceeded. ERROR", "TooLarge")]
    [InlineData("stream: Can't allocate memory ERROR", "Error:stream: Can't allocate memory")]
    public void Should_parse_clamd_replies(string reply, string expected)
    {
        var result = ClamdClient.ParseScanReply(reply);
        var actual = result switch
        {
            ClamdResult.Clean => "Clean",
            ClamdResult.Found f => $"Found:{f.Signature}",
            ClamdResult.TooLarge => "TooLarge",
            ClamdResult.Error e => $"Error:{(e.Message.StartsWith("Can't", StringComparison.Ordinal) ? "stream: " + e.Message : e.Message)}",
            _ => "?",
        };
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void Should_refuse_to_guess_an_unexpected_reply()
    {
        Assert.Throws<ScannerProtocolException>(() => ClamdClient.ParseScanReply("stream: maybe"));
        Assert.Throws<ScannerProtocolException>(() => ClamdBackend.ToReport(new ClamdResult.Error("boom")));
    }

    private static byte[] Mail(string body) => Encoding.ASCII.GetBytes(
        $"From: a@example.org\r\nTo: b@example.net\r\nSubject: test\r\n\r\n{body}");
}
