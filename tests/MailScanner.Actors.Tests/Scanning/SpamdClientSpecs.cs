using System.Text;
using MailScanner.Actors.Scanning;
using MailScanner.Actors.Scanning.Engines;
using MailScanner.Actors.Scanning.Spamd;
using MailScanner.Actors.Tests.TestSupport;
using Xunit;
using Xunit.Abstractions;

namespace MailScanner.Actors.Tests.Scanning;

/// <summary>The spamd client against a real spamd (one per class), with the rules Debian ships, offline.</summary>
[Collection(ScannerDaemonCollection.Name)]
public sealed class SpamdClientSpecs : IClassFixture<SpamdDaemon>
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);
    private readonly SpamdDaemon _spamd;

    public SpamdClientSpecs(SpamdDaemon spamd, ITestOutputHelper output)
    {
        _spamd = spamd;
        output.WriteLine($"spamd answered PING {spamd.StartupTime.TotalMilliseconds:0} ms after it was started");
    }

    [Fact]
    public async Task Should_answer_PING()
    {
        using var cts = new CancellationTokenSource(Deadline);
        await _spamd.Client().PingAsync(cts.Token);
    }

    [Fact]
    public async Task Should_score_GTUBE_as_spam_with_the_GTUBE_rule()
    {
        using var cts = new CancellationTokenSource(Deadline);
        var score = await _spamd.Client().SymbolsAsync(Gtube(), cts.Token);
        Assert.True(score.Score >= score.Threshold, $"score {score.Score} / {score.Threshold}");
        Assert.Contains("GTUBE", score.Rules);
    }

    [Fact]
    public async Task Should_score_a_plain_ham_message_below_the_threshold()
    {
        using var cts = new CancellationTokenSource(Deadline);
        var score = await _spamd.Client(user: "nobody").SymbolsAsync(Ham(), cts.Token);
        Assert.True(score.Score < score.Threshold, $"score {score.Score} / {score.Threshold} ({string.Join(",", score.Rules)})");
        Assert.DoesNotContain("GTUBE", score.Rules);
    }

    [Fact]
    public async Task Should_report_GTUBE_as_high_spam_and_ham_as_nothing_through_the_backend()
    {
        using var cts = new CancellationTokenSource(Deadline);
        var backend = new SpamdBackend(_spamd.Client(), highSpamScore: 20);

        var spam = await backend.ScanAsync(Gtube(), cts.Token);
        var ham = await backend.ScanAsync(Ham(), cts.Token);

        Assert.Equal(VerdictKind.HighSpam, Assert.Single(spam.Findings).Kind);
        Assert.Contains("GTUBE", spam.Spam!.Rules);
        Assert.Empty(ham.Findings);
        Assert.NotNull(ham.Spam);
    }

    [Fact]
    public async Task Should_score_a_message_over_max_size_on_its_first_lines_and_say_so()
    {
        using var cts = new CancellationTokenSource(Deadline);
        // GTUBE in the first lines, then 3 MB that spamd would take seconds over.
        var huge = Encoding.ASCII.GetBytes(Encoding.ASCII.GetString(Gtube()) + string.Concat(Enumerable.Repeat(new string('y', 998) + "\r\n", 3000)));
        var backend = new SpamdBackend(_spamd.Client(), highSpamScore: 20, maxSize: 64 * 1024);

        var report = await backend.ScanAsync(huge, cts.Token);

        Assert.Contains("GTUBE", report.Spam!.Rules);
        var (scored, total) = Assert.IsType<(long, long)>(report.Spam.Truncated);
        Assert.Equal(huge.Length, total);
        Assert.InRange(scored, 64 * 1024 - 1000, 64 * 1024);
        Assert.Equal((byte)'\n', huge[scored - 1]); // cut at a line end
    }

    [Fact]
    public void Should_cut_a_message_over_max_size_at_its_last_whole_line()
    {
        var message = Encoding.ASCII.GetBytes("Subject: a\r\n\r\nline one\r\nline two\r\n");

        Assert.Equal(message.Length, SpamdBackend.Truncated(message, 1000).Length);
        Assert.Equal("Subject: a\r\n\r\nline one\r\n", Encoding.ASCII.GetString(SpamdBackend.Truncated(message, 30).Span));
        Assert.Equal("Subject: a\r\n", Encoding.ASCII.GetString(SpamdBackend.Truncated(message, 13).Span));
    }

    [Theory]
    [InlineData(4.9, null)]
    [InlineData(5.0, VerdictKind.Spam)]
    [InlineData(19.9, VerdictKind.Spam)]
    [InlineData(20.0, VerdictKind.HighSpam)]
    public void Should_turn_a_score_into_a_finding_at_the_thresholds(double score, VerdictKind? expected)
    {
        var report = SpamdBackend.ToReport(new SpamScore(score, 5.0, ["RULE_A"]), highSpamScore: 20.0);
        Assert.Equal(expected, report.Findings.SingleOrDefault()?.Kind);
        Assert.Equal(score, report.Spam!.Score);
    }

    [Fact]
    public void Should_parse_a_SYMBOLS_reply_and_refuse_an_error_status()
    {
        var score = SpamdClient.ParseSymbolsReply(
            "SPAMD/1.1 0 EX_OK\r\nContent-length: 14\r\nSpam: True ; 1005.2 / 5.0\r\n\r\nGTUBE,NO_RELAYS\r\n");
        Assert.Equal(new[] { "GTUBE", "NO_RELAYS" }, score.Rules);
        Assert.Equal(1005.2, score.Score);
        Assert.Equal(5.0, score.Threshold);

        Assert.Throws<ScannerProtocolException>(() => SpamdClient.ParseSymbolsReply("SPAMD/1.0 76 Bad header line: x\r\n"));
        Assert.Throws<ScannerProtocolException>(() => SpamdClient.ParseSymbolsReply("SPAMD/1.1 0 EX_OK\r\n\r\nA,B"));
        Assert.Throws<ScannerProtocolException>(() => SpamdClient.ParseSymbolsReply("HTTP/1.1 200 OK\r\n\r\n"));
    }

    internal static byte[] Gtube() => Encoding.ASCII.GetBytes(
        "From: sender@example.org\r\nTo: rcpt@example.net\r\nSubject: test\r\n\r\n" + SpamdDaemon.Gtube + "\r\n");

    internal static byte[] Ham() => Encoding.ASCII.GetBytes("""
        Received: from mail.example.org (mail.example.org [192.0.2.10])
        	by mx.example.net with ESMTP id 4Qx1; Mon, 3 Mar 2025 10:15:02 +0100
        From: Alice Example <alice@example.org>
        To: Bob Example <bob@example.net>
        Subject: Minutes of Tuesday's meeting
        Date: Mon, 3 Mar 2025 10:15:00 +0100
        Message-ID: <20250303101500.4711@mail.example.org>
        MIME-Version: 1.0
        Content-Type: text/plain; charset=us-ascii

        Hi Bob,

        as promised, the minutes: we agreed to move the release to the second week of April,
        Carol will update the test plan and I will send the draft agenda for the next meeting.

        Thanks,
        Alice

        """.ReplaceLineEndings("\r\n"));
}
