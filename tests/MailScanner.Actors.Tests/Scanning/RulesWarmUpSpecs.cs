using MailScanner.Actors.Scanning;
using MailScanner.Actors.Scanning.Mime;
using MailScanner.Actors.Scanning.Rules;
using Xunit;

namespace MailScanner.Actors.Tests.Scanning;

/// <summary>The warm-up only helps if its samples take the code paths real mail takes; these specs keep them honest.</summary>
public sealed class RulesWarmUpSpecs
{
    private static readonly RuleSettings Defaults = RuleSettings.Default;

    [Fact]
    public void Should_take_the_plain_text_fast_path_with_the_plain_sample()
    {
        var plain = RulesWarmUp.Samples()[0];
        Assert.NotNull(PlainTextMessage.BodyOffset(plain.Span));
        Assert.Empty(BuiltInRules.Scan(plain, Defaults).Findings);
    }

    [Fact]
    public void Should_analyse_html_and_a_signature_in_the_clean_samples()
    {
        var (alternative, signed) = (RulesWarmUp.Samples()[1], RulesWarmUp.Samples()[2]);
        Assert.Contains(MessageAnalyzer.Analyze(alternative, Defaults.Limits).Parts, part => part.Html is not null);
        Assert.Empty(BuiltInRules.Scan(alternative, Defaults).Findings);
        Assert.Null(PlainTextMessage.BodyOffset(signed.Span));
        Assert.Empty(BuiltInRules.Scan(signed, Defaults).Findings);
    }

    [Fact]
    public void Should_find_the_denied_archive_member_and_active_html_in_the_dangerous_sample()
    {
        var report = BuiltInRules.Scan(RulesWarmUp.Samples()[3], Defaults);
        Assert.Contains(report.Findings, f => f.Kind == VerdictKind.DangerousContent && f.PartName?.Contains("invoice.pdf.exe") == true);
        Assert.True(report.HasActiveHtml);
    }

    [Fact]
    public void Should_rewrite_the_dangerous_sample_through_mime_rather_than_fall_back_to_its_raw_headers()
    {
        var dangerous = RulesWarmUp.Samples()[3];
        var cleaned = RulesWarmUp.ScanAndClean(dangerous, Defaults);
        Assert.NotEmpty(cleaned.Changes);
        Assert.DoesNotContain(cleaned.Changes, change => change.StartsWith("not replaced", StringComparison.Ordinal));
        Assert.DoesNotContain("<script>", System.Text.Encoding.ASCII.GetString(cleaned.Message), StringComparison.OrdinalIgnoreCase);
    }
}
