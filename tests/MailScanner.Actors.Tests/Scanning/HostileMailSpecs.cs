using System.Diagnostics;
using MailScanner.Actors.Policy;
using MailScanner.Actors.Queue;
using MailScanner.Actors.Scanning;
using MailScanner.Actors.Scanning.Limits;
using MailScanner.Actors.Scanning.Mime;
using MailScanner.Actors.Scanning.Rules;
using MailScanner.Actors.Tests.TestSupport;
using Xunit;

namespace MailScanner.Actors.Tests.Scanning;

/// <summary>
/// Issue 16's corpus through the built-in rules and the decision, without a gateway: every bomb ends in bounded time
/// with a finding that names its limit, every hidden EICAR is found where it hides, and nothing the decision delivers
/// still carries it. <see cref="Pipeline.HostileCorpusPipelineSpecs"/> feeds the same corpus through the queue.
/// </summary>
public sealed class HostileMailSpecs
{
    private static readonly Lazy<IReadOnlyList<HostileMessage>> Corpus = new(HostileCorpus.All);

    public static TheoryData<string> Names()
    {
        var data = new TheoryData<string>();
        foreach (var message in Corpus.Value) data.Add(message.Name);
        return data;
    }

    private static HostileMessage Named(string name) => Corpus.Value.Single(m => m.Name == name);

    [Theory]
    [MemberData(nameof(Names))]
    public void Should_judge_every_corpus_message_in_bounded_time_and_memory_and_deliver_nothing_dangerous(string name)
    {
        var message = Named(name);
        var budget = new UnpackBudget(RuleSettings.Default.Limits.UnpackMemory);
        var clock = Stopwatch.StartNew();

        var report = BuiltInRules.Scan(message.Message, RuleSettings.Default, budget);

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"{name} took {clock.Elapsed}");
        Assert.True(budget.Peak <= budget.Capacity, $"{name} held {budget.Peak} of {budget.Capacity}");
        Assert.Equal(0, budget.InUse);
        var verdict = Verdict.Of(report.Findings);
        if (message.CarriesEicar)
            Assert.True(verdict.Kind >= VerdictKind.DangerousContent, $"{name}: {verdict}");

        if (message.MustBeDelivered) Assert.True(verdict.Kind == VerdictKind.Clean, $"{name}: {verdict}");

        var decision = MessageDecision.Decide(new QueueEnvelope("sender@attacker.example", ["victim@example.org"]), message.Message,
            [report], Rulesets.Default, HtmlSettings.Default);
        if (decision.DeliveredMessage is not { } delivered) return;
        Assert.False(BuiltInRules.ContainsEicar(delivered), $"{name}: the delivered copy holds EICAR");
        var again = Verdict.Of(BuiltInRules.Scan(delivered, RuleSettings.Default).Findings);
        Assert.True(again.Kind < VerdictKind.Infected, $"{name}: the delivered copy is {again}");
        if (verdict.Kind >= VerdictKind.DangerousContent)
            Assert.True(again.Kind < VerdictKind.DangerousContent || decision.Action == MessageAction.Deliver,
                $"{name}: the cleaned copy is still {again}");
    }

    [Theory]
    [InlineData("eicar-eml-in-zip", "mail.zip/forward.eml/eicar.com")]
    [InlineData("eicar-uuencoded-body", "part 1/eicar.com")]
    [InlineData("eicar-yenc-body", "part 1/eicar.com")]
    [InlineData("eicar-rfc822-base64", "fwd.eml/eicar.com")]
    [InlineData("eicar-rfc822-quoted-printable", "message 2/eicar.com")]
    [InlineData("eicar-zip-in-zip-in-zip", "outer.zip/level2.zip/level1.zip/eicar.com")]
    [InlineData("eicar-truncated-gzip", "cut.gz/cut")]
    [InlineData("eicar-tar-gz", "files.tgz/files.tar/eicar.com")]
    [InlineData("eicar-in-tnef", "winmail.dat/eicar.com")]
    [InlineData("eicar-msg-in-zip", "mail.zip/forwarded.msg/eicar.com")]
    public void Should_find_eicar_in_the_layer_it_hides_in(string name, string partName)
    {
        var report = BuiltInRules.Scan(Named(name).Message, RuleSettings.Default);

        Assert.Contains(report.Findings, f => f.Kind == VerdictKind.Infected && f.PartName == partName && f.MimePath is not null);
    }

    [Theory]
    [InlineData("gzip-bomb", "archive: real size differs from what the gzip trailer declares")]
    [InlineData("flat-zip-bomb", "archive: could not be analysed: limit max-compression-ratio")]
    [InlineData("nested-zip-bomb", "archive: could not be analysed: limit max-")]
    [InlineData("recursive-zip", "archive: could not be analysed: limit max-archive-depth")]
    [InlineData("overlapping-zip-bomb", "archive: entries share their compressed data")]
    [InlineData("lying-size-zip", "archive: real size differs from what the zip header declares")]
    [InlineData("eicar-lying-size-zip", "archive: real size differs from what the zip header declares")]
    [InlineData("zip-100000-entries", "archive: could not be analysed: limit max-archive-members")]
    [InlineData("mime-5000-deep", "mime: could not be analysed: limit max-mime-depth")]
    [InlineData("mime-20000-parts", "mime: could not be analysed: limit max-mime-parts")]
    [InlineData("zero-width-filename", "filename: name contains control")]
    public void Should_name_what_could_not_be_analysed(string name, string reasonStart)
    {
        var report = BuiltInRules.Scan(Named(name).Message, RuleSettings.Default);

        Assert.Contains(report.Findings, f => f.Kind == VerdictKind.DangerousContent && f.Reason.StartsWith(reasonStart, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("html-100000-nested-tags")]
    [InlineData("header-2mb-line")]
    [InlineData("body-5mb-single-line")]
    [InlineData("clean-tnef")]
    [InlineData("clean-msg")]
    public void Should_pass_what_is_only_large_or_only_wrapped(string name)
    {
        Assert.Empty(BuiltInRules.Scan(Named(name).Message, RuleSettings.Default).Findings);
    }

    [Fact]
    public void Should_never_hold_more_than_the_budget_however_many_messages_are_analysed_at_once()
    {
        // Each message holds ~12 MB of decoded base64 and then wants 9 MB more: eight at once cannot all fit in 40 MB.
        // They wait for each other; one that would wait for holders who all wait too is postponed (its message goes
        // back to the queue in a gateway) instead of being judged. Tried again, every one completes.
        var budget = new UnpackBudget(40 * 1024 * 1024);
        var random = new byte[3 * 1024 * 1024];
        new Random(5).NextBytes(random);
        var message = TestMail.Bytes(TestMail.Message(TestMail.Attachment("big.zip", TestMail.Zip(("a.bin", random), ("b.bin", random), ("c.bin", random)))));

        var pending = Enumerable.Range(0, 8).ToList();
        var rounds = 0;
        while (pending.Count > 0)
        {
            Assert.True(++rounds <= 20, $"{pending.Count} messages still postponed after 20 rounds");
            var reports = pending.AsParallel().WithDegreeOfParallelism(8).Select(i => (i, report: BuiltInRules.Scan(message, RuleSettings.Default, budget))).ToList();
            Assert.True(budget.Peak <= budget.Capacity, $"peak {budget.Peak}");
            Assert.Equal(0, budget.InUse);
            Assert.All(reports.Where(r => r.report.Postponed is null), r => Assert.Empty(r.report.Findings));
            pending = reports.Where(r => r.report.Postponed is not null).Select(r => r.i).ToList();
        }
        Assert.True(budget.Peak > 21 * 1024 * 1024, $"peak {budget.Peak}: the analyses never overlapped");
    }

    [Fact]
    public void Should_give_a_part_up_as_not_analysable_when_the_gateway_budget_cannot_hold_it()
    {
        var budget = new UnpackBudget(2 * 1024 * 1024);
        var random = new byte[3 * 1024 * 1024];
        new Random(6).NextBytes(random);
        var message = TestMail.Bytes(TestMail.Message(TestMail.Attachment("big.zip", TestMail.Zip(("a.bin", random)))));

        var report = BuiltInRules.Scan(message, RuleSettings.Default, budget);

        var finding = Assert.Single(report.Findings, f => f.Reason.Contains("limit unpack-memory", StringComparison.Ordinal));
        Assert.Equal("2", finding.MimePath);
        Assert.Equal(0, budget.InUse);
    }

    [Fact]
    public void Should_deny_a_zero_width_space_hidden_in_a_file_name()
    {
        Assert.NotNull(FilenameRule.Check("invoice.e\u200Bxe", RuleSettings.Default.Filenames));
        Assert.NotNull(FilenameRule.Check("\uFEFFreport.pdf", RuleSettings.Default.Filenames));
    }
}
