using System.Text;
using MailScanner.Actors.Scanning;
using MailScanner.Actors.Scanning.Mime;
using MailScanner.Actors.Scanning.Rules;
using Xunit;

namespace MailScanner.Actors.Tests.Scanning;

/// <summary>Plain one-part text mail skips the MIME analysis; it must be judged exactly as the analysis would judge it.</summary>
public sealed class PlainTextFastPathSpecs
{
    private const string Eicar = @"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

    [Theory]
    [InlineData("From: a@example.org\r\nSubject: hi\r\n\r\n" + Eicar + "\r\n")]
    [InlineData("From: a@example.org\r\nContent-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\nsee: " + Eicar + "\r\n")]
    public void Should_name_the_same_part_as_the_mime_analysis_when_it_finds_eicar_in_plain_text(string raw)
    {
        var message = Encoding.ASCII.GetBytes(raw);
        var finding = Assert.Single(BuiltInRules.Scan(message, RuleSettings.Default).Findings);
        Assert.Equal(VerdictKind.Infected, finding.Kind);
        Assert.Equal(MessageAnalyzer.Analyze(message, AnalysisLimits.Default).Parts[0].PartName, finding.PartName);
    }

    [Fact]
    public void Should_find_an_executable_sent_as_a_plain_text_body()
    {
        var executable = new byte[128];
        executable[0] = (byte)'M';
        executable[1] = (byte)'Z';
        executable[0x3C] = 64; // e_lfanew: the PE header follows the DOS header
        "PE\0\0"u8.CopyTo(executable.AsSpan(64));
        var message = Encoding.ASCII.GetBytes("From: a@example.org\r\n\r\n").Concat(executable).ToArray();
        var expected = BuiltInRulesWithoutFastPath(message).ToList();
        Assert.NotEmpty(expected);
        Assert.Equal(expected, BuiltInRules.Scan(message, RuleSettings.Default).Findings.Select(f => f.Kind));
    }

    [Theory]
    [InlineData("Content-Type: text/plain; name=\"invoice.exe\"\r\n")]
    [InlineData("Content-Disposition: attachment; filename=\"invoice.exe\"\r\n")]
    [InlineData("Content-Disposition: attachment\r\n")]
    [InlineData("Content-Disposition: inline; filename=\"invoice.exe\"\r\n")]
    [InlineData("Content-Disposition: inline;\r\n filename*=utf-8''invoice.exe\r\n")]
    [InlineData("Content-Disposition: inline\r\nContent-Disposition: inline\r\n")]
    [InlineData("Content-Transfer-Encoding: base64\r\n")]
    [InlineData("Content-Type: text/html\r\n")]
    public void Should_leave_anything_but_literal_plain_text_to_the_mime_analysis(string header)
    {
        var message = Encoding.ASCII.GetBytes($"From: a@example.org\r\n{header}\r\nhello\r\n");
        Assert.Null(PlainTextMessage.BodyOffset(message));
    }

    [Theory]
    [InlineData("Content-Disposition: inline\r\n")]
    [InlineData("Content-Disposition: INLINE ; size=6\r\n")]
    [InlineData("Content-Type: text/plain; charset=iso-8859-1\r\nContent-Disposition: inline\r\nContent-Transfer-Encoding: 8bit\r\n")]
    public void Should_read_an_inline_plain_text_body_without_a_name_as_plain_text_and_judge_it_as_the_analysis_does(string header)
    {
        var message = Encoding.ASCII.GetBytes($"From: a@example.org\r\n{header}\r\nsee: {Eicar}\r\n");
        Assert.NotNull(PlainTextMessage.BodyOffset(message));

        var part = Assert.Single(MessageAnalyzer.Analyze(message, AnalysisLimits.Default).Parts);
        Assert.False(part.IsAttachment);
        Assert.Null(part.FileName);
        var finding = Assert.Single(BuiltInRules.Scan(message, RuleSettings.Default).Findings);
        Assert.Equal(new ScanFinding(VerdictKind.Infected, BuiltInRules.EicarReason, part.PartName) { MimePath = part.MimePath }, finding);
    }

    [Fact]
    public void Should_still_deny_a_plain_text_part_that_carries_an_executable_name()
    {
        var message = Encoding.ASCII.GetBytes("From: a@example.org\r\nContent-Type: text/plain; name=\"invoice.exe\"\r\n\r\nhello\r\n");
        Assert.Contains(BuiltInRules.Scan(message, RuleSettings.Default).Findings, f => f.Reason.StartsWith("filename:", StringComparison.Ordinal));
    }

    private static IEnumerable<VerdictKind> BuiltInRulesWithoutFastPath(byte[] message)
    {
        var analysis = MessageAnalyzer.Analyze(message, AnalysisLimits.Default);
        return analysis.Parts.Where(p => FiletypeRule.Executable(p.Content.Span) is not null).Select(_ => VerdictKind.DangerousContent);
    }
}

/// <summary>MailScanner's "Dangerous Content Scanning = no": only the EICAR check stays.</summary>
public sealed class DangerousContentSwitchSpecs
{
    [Fact]
    public void Should_only_look_for_eicar_when_dangerous_content_scanning_is_off()
    {
        var off = RuleSettings.Default with { Enabled = false };
        var exe = Encoding.ASCII.GetBytes("From: a@example.org\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n" +
                                          "Content-Type: application/octet-stream; name=\"run.exe\"\r\nContent-Transfer-Encoding: base64\r\n\r\nTVqQAA==\r\n--b--\r\n");
        Assert.NotEmpty(BuiltInRules.Scan(exe, RuleSettings.Default).Findings);
        Assert.Empty(BuiltInRules.Scan(exe, off).Findings);

        var eicar = Encoding.ASCII.GetBytes("From: a@example.org\r\n\r\nX5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*\r\n");
        Assert.Equal(VerdictKind.Infected, Assert.Single(BuiltInRules.Scan(eicar, off).Findings).Kind);
    }

    [Fact]
    public void Should_read_the_switch_from_the_configuration()
    {
        var config = Akka.Configuration.ConfigurationFactory.ParseString("mailscanner.rules.enabled = no")
            .WithFallback(MailScanner.Actors.Configuration.GatewaySettingsLoader.Defaults());
        Assert.False(RuleSettings.FromConfig(config).Enabled);
        Assert.True(RuleSettings.Default.Enabled);
    }
}
