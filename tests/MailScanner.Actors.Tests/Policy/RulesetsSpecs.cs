using Akka.Configuration;
using MailScanner.Actors.Configuration;
using MailScanner.Actors.Policy;
using MailScanner.Actors.Queue;
using MailScanner.Actors.Scanning;
using Xunit;
using ConfigurationException = MailScanner.Actors.Configuration.ConfigurationException;

namespace MailScanner.Actors.Tests.Policy;

public sealed class RulesetsSpecs : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("mailscanner-policy-");

    public void Dispose() => _dir.Delete(recursive: true);

    private static Rulesets With(string hocon) =>
        Rulesets.FromConfig(ConfigurationFactory.ParseString(hocon).WithFallback(GatewaySettingsLoader.Defaults()));

    private static QueueEnvelope To(params string[] recipients) => new("someone@sender.example", recipients);

    private static ConfigurationException Fails(string hocon) => Assert.Throws<ConfigurationException>(() => With(hocon));

    private const string ExampleComQuarantinesSpam = """
        mailscanner.policy.rulesets = [
          { name = "example.com quarantines spam", match = ["to-domain:example.com"],
            actions { spam = quarantine, high-spam = quarantine } }
        ]
        """;

    [Fact]
    public void Should_ship_mailscanner_defaults()
    {
        var rulesets = Rulesets.FromConfig(GatewaySettingsLoader.LoadConfig(null));
        var p = rulesets.Defaults;

        Assert.Empty(rulesets.All);
        Assert.Equal(MessageAction.Deliver, p.ActionFor(VerdictKind.Clean));
        Assert.Equal(MessageAction.Deliver, p.ActionFor(VerdictKind.Spam));
        Assert.Equal(MessageAction.Deliver, p.ActionFor(VerdictKind.HighSpam));
        Assert.Equal(MessageAction.DeliverCleaned, p.ActionFor(VerdictKind.DangerousContent));
        Assert.Equal(MessageAction.DeliverCleaned, p.ActionFor(VerdictKind.Infected));
        Assert.Null(p.SubjectTagFor(VerdictKind.Clean));
        Assert.Equal("{Spam?}", p.SubjectTagFor(VerdictKind.Spam));
        Assert.Equal("{Spam?}", p.SubjectTagFor(VerdictKind.HighSpam));
        Assert.Equal("{Dangerous Content?}", p.SubjectTagFor(VerdictKind.DangerousContent));
        Assert.Equal("{Virus?}", p.SubjectTagFor(VerdictKind.Infected));
        Assert.Equal("{Filename?}", p.FilenameSubjectTag);
        Assert.Null(p.SpamThreshold);
        Assert.Null(p.HighSpamThreshold);
        Assert.Equal("defaults", p.RulesetName);
        Assert.Same(p, rulesets.Resolve(To("anyone@example.com")));
    }

    [Fact]
    public void Should_agree_with_the_built_in_mailscanner_defaults()
    {
        var shipped = Rulesets.Default.Defaults;
        foreach (var kind in Enum.GetValues<VerdictKind>())
        {
            Assert.Equal(MessagePolicy.MailScannerDefaults.ActionFor(kind), shipped.ActionFor(kind));
            Assert.Equal(MessagePolicy.MailScannerDefaults.SubjectTagFor(kind), shipped.SubjectTagFor(kind));
        }
    }

    [Fact]
    public void Should_quarantine_all_spam_for_a_recipient_domain()
    {
        var rulesets = With(ExampleComQuarantinesSpam);

        var p = rulesets.Resolve(To("Alice@EXAMPLE.COM"));

        Assert.Equal("example.com quarantines spam", p.RulesetName);
        Assert.Equal(MessageAction.Quarantine, p.ActionFor(VerdictKind.Spam));
        Assert.Equal(MessageAction.Quarantine, p.ActionFor(VerdictKind.HighSpam));
        Assert.Equal(MessageAction.DeliverCleaned, p.ActionFor(VerdictKind.Infected));
    }

    [Theory]
    [InlineData("bob@sub.example.com")]
    [InlineData("bob@example.com.evil")]
    [InlineData("bob@notexample.com")]
    [InlineData("example.com@other.example")]
    [InlineData("example.com")]
    public void Should_not_match_a_near_miss_of_the_domain(string recipient)
    {
        var p = With(ExampleComQuarantinesSpam).Resolve(To(recipient));

        Assert.Equal("defaults", p.RulesetName);
        Assert.Equal(MessageAction.Deliver, p.ActionFor(VerdictKind.Spam));
    }

    [Fact]
    public void Should_not_match_the_sender_with_a_to_matcher()
    {
        var p = With(ExampleComQuarantinesSpam).Resolve(new QueueEnvelope("alice@example.com", ["bob@other.example"]));

        Assert.Equal("defaults", p.RulesetName);
    }

    [Fact]
    public void Should_use_the_first_matching_ruleset()
    {
        var rulesets = With("""
            mailscanner.policy.rulesets = [
              { name = first, match = ["to:ceo@example.org"], actions { spam = store } }
              { name = second, match = ["to-domain:example.org"], actions { spam = delete } }
              { name = third, match = ["to-domain:example.net"], actions { spam = quarantine } }
            ]
            """);

        Assert.Equal("first", rulesets.Resolve(To("CEO@example.org")).RulesetName);
        Assert.Equal(MessageAction.Store, rulesets.Resolve(To("ceo@example.org")).ActionFor(VerdictKind.Spam));
        Assert.Equal("second", rulesets.Resolve(To("staff@example.org")).RulesetName);
        // Several recipients: the first ruleset, in configuration order, that matches any of them.
        Assert.Equal("second", rulesets.Resolve(To("x@example.net", "staff@example.org")).RulesetName);
        Assert.Equal("first", rulesets.Resolve(To("x@example.net", "staff@example.org", "ceo@example.org")).RulesetName);
        Assert.Equal("defaults", rulesets.Resolve(To("x@elsewhere.example")).RulesetName);
    }

    [Theory]
    [InlineData("news@partner.example", true)]
    [InlineData("NEWS@Partner.Example", true)]
    [InlineData("<news@partner.example>", true)]
    [InlineData("news@mail.partner.example", false)]
    [InlineData("news@partner.example.org", false)]
    [InlineData("", false)]
    public void Should_match_a_sender_with_a_wildcard_local_part(string sender, bool matches)
    {
        var rulesets = With("""
            mailscanner.policy.rulesets = [ { name = partner, match = ["from:*@partner.example"], actions { high-spam = delete } } ]
            """);

        var p = rulesets.Resolve(new QueueEnvelope(sender, ["me@example.com"]));

        Assert.Equal(matches ? "partner" : "defaults", p.RulesetName);
    }

    [Fact]
    public void Should_match_a_wildcard_inside_the_local_part_and_a_sender_domain()
    {
        var rulesets = With("""
            mailscanner.policy.rulesets = [
              { name = sales, match = ["to:sales-*@example.com"] }
              { name = news, match = ["from-domain:news.example"] }
            ]
            """);

        Assert.Equal("sales", rulesets.Resolve(To("sales-emea@example.com")).RulesetName);
        Assert.Equal("defaults", rulesets.Resolve(To("presales-emea@example.com")).RulesetName);
        Assert.Equal("news", rulesets.Resolve(new QueueEnvelope("a@NEWS.example", ["b@x.example"])).RulesetName);
        Assert.Equal("defaults", rulesets.Resolve(new QueueEnvelope("a@x.news.example", ["b@x.example"])).RulesetName);
    }

    [Fact]
    public void Should_fall_back_to_the_defaults_for_keys_a_ruleset_does_not_set()
    {
        var rulesets = With("""
            mailscanner.policy.defaults.actions.spam = store
            mailscanner.policy.defaults.subject-tags.spam = "[SPAM]"
            mailscanner.policy.rulesets = [
              { name = strict, match = ["to-domain:example.com"], actions { high-spam = delete }
                subject-tags { infected = "[VIRUS]" }
                spam-threshold = 4.0 }
            ]
            """);

        var p = rulesets.Resolve(To("a@example.com"));

        Assert.Equal(MessageAction.Store, p.ActionFor(VerdictKind.Spam));
        Assert.Equal(MessageAction.Delete, p.ActionFor(VerdictKind.HighSpam));
        Assert.Equal(MessageAction.DeliverCleaned, p.ActionFor(VerdictKind.Infected));
        Assert.Equal("[SPAM]", p.SubjectTagFor(VerdictKind.Spam));
        Assert.Equal("[VIRUS]", p.SubjectTagFor(VerdictKind.Infected));
        Assert.Equal("{Dangerous Content?}", p.SubjectTagFor(VerdictKind.DangerousContent));
        Assert.Equal("{Filename?}", p.FilenameSubjectTag);
        Assert.Equal(4.0, p.SpamThreshold);
        Assert.Null(p.HighSpamThreshold);
        Assert.Equal(MessageAction.Store, rulesets.Resolve(To("a@other.example")).ActionFor(VerdictKind.Spam));
    }

    [Fact]
    public void Should_tag_filename_and_filetype_findings_as_filename()
    {
        var p = Rulesets.Default.Defaults;
        var filenameOnly = Verdict.Of([
            new ScanFinding(VerdictKind.DangerousContent, "filename: .exe files are not allowed (a.exe)", "a.exe"),
            new ScanFinding(VerdictKind.DangerousContent, "filetype: Windows executable content", "b.txt"),
            new ScanFinding(VerdictKind.Spam, "spam score 6.0 >= 5.0 (GTUBE) (spamd)"),
        ]);
        var mixed = Verdict.Of([
            new ScanFinding(VerdictKind.DangerousContent, "filename: .exe files are not allowed (a.exe)", "a.exe"),
            new ScanFinding(VerdictKind.DangerousContent, "html: <script> is not allowed", "body.html"),
        ]);
        var sizeOnly = Verdict.Of([new ScanFinding(VerdictKind.DangerousContent, "size: 300 attachments, more than the limit of 200")]);
        var infectedAndFilename = Verdict.Of([
            new ScanFinding(VerdictKind.DangerousContent, "filename: .exe files are not allowed (a.exe)", "a.exe"),
            new ScanFinding(VerdictKind.Infected, "virus Eicar-Test-Signature (clamd)", "a.exe"),
        ]);

        Assert.Equal("{Filename?}", p.SubjectTagFor(filenameOnly));
        Assert.Equal("{Dangerous Content?}", p.SubjectTagFor(mixed));
        Assert.Equal("{Dangerous Content?}", p.SubjectTagFor(sizeOnly));
        Assert.Equal("{Virus?}", p.SubjectTagFor(infectedAndFilename));
        Assert.Null(p.SubjectTagFor(Verdict.Clean));
    }

    [Fact]
    public void Should_let_the_filename_tag_be_configured_or_turned_off()
    {
        var rulesets = With("""
            mailscanner.policy.defaults.subject-tags { filename = "[BAD FILE]", spam = "" }
            """);
        var filenameOnly = Verdict.Of([new ScanFinding(VerdictKind.DangerousContent, "filename: .exe files are not allowed (a.exe)", "a.exe")]);

        Assert.Equal("[BAD FILE]", rulesets.Defaults.SubjectTagFor(filenameOnly));
        Assert.Null(rulesets.Defaults.SubjectTagFor(VerdictKind.Spam));
        Assert.Null(With("mailscanner.policy.defaults.subject-tags.filename = \"\"").Defaults.SubjectTagFor(filenameOnly));
    }

    [Theory]
    [InlineData("mailscanner.policy.defaults.actions.spam = bounce", "mailscanner.policy.defaults.actions.spam", "unknown action 'bounce'")]
    [InlineData("mailscanner.policy.defaults.actions.virus = delete", "mailscanner.policy.defaults.actions.virus", "unknown verdict 'virus'")]
    [InlineData("mailscanner.policy.defaults.actions.spam = deliver-cleaned", "mailscanner.policy.defaults.actions.spam", "only applies to infected and dangerous-content")]
    [InlineData("mailscanner.policy.defaults.subject-tags.viruses = x", "mailscanner.policy.defaults.subject-tags.viruses", "unknown verdict 'viruses'")]
    [InlineData("mailscanner.policy.defaults.actions = deliver", "mailscanner.policy.defaults.actions", "must be a section")]
    [InlineData("mailscanner.policy.rulesets = [ { match = [\"to-domain:example.com\"], actions { spam = quarantined } } ]", "mailscanner.policy.rulesets[0].actions.spam", "unknown action 'quarantined'")]
    [InlineData("mailscanner.policy.rulesets = [ { match = [\"to-domain:example.com\"], actions { spammy = delete } } ]", "mailscanner.policy.rulesets[0].actions.spammy", "unknown verdict 'spammy'")]
    [InlineData("mailscanner.policy.rulesets = [ { match = [\"to-domain:example.com\"] }, { match = [\"domain:example.com\"] } ]", "mailscanner.policy.rulesets[1].match", "unknown matcher 'domain:'")]
    [InlineData("mailscanner.policy.rulesets = [ { match = [\"example.com\"] } ]", "mailscanner.policy.rulesets[0].match", "is not a matcher")]
    [InlineData("mailscanner.policy.rulesets = [ { match = [\"to-domain:*.example.com\"] } ]", "mailscanner.policy.rulesets[0].match", "no wildcards")]
    [InlineData("mailscanner.policy.rulesets = [ { match = [\"from:*@*\"] } ]", "mailscanner.policy.rulesets[0].match", "no wildcards")]
    [InlineData("mailscanner.policy.rulesets = [ { match = [\"to:example.com\"] } ]", "mailscanner.policy.rulesets[0].match", "needs a local part and a domain")]
    [InlineData("mailscanner.policy.rulesets = [ { match = [\"to-domain:a@example.com\"] } ]", "mailscanner.policy.rulesets[0].match", "has no '@'")]
    [InlineData("mailscanner.policy.rulesets = [ { match = [] } ]", "mailscanner.policy.rulesets[0].match", "at least one matcher")]
    [InlineData("mailscanner.policy.rulesets = [ { name = x } ]", "mailscanner.policy.rulesets[0].match", "is missing")]
    [InlineData("mailscanner.policy.rulesets = [ { match = \"to-domain:example.com\" } ]", "mailscanner.policy.rulesets[0].match", "must be a list")]
    [InlineData("mailscanner.policy.rulesets = [ { match = [\"to-domain:example.com\"], matches = [] } ]", "mailscanner.policy.rulesets[0].matches", "unknown key")]
    [InlineData("mailscanner.policy.rulesets = [ { match = [\"to-domain:example.com\"], spam-threshold = lots } ]", "mailscanner.policy.rulesets[0].spam-threshold", "must be a number")]
    [InlineData("mailscanner.policy.rulesets = [ { match = [\"to-domain:example.com\"], spam-threshold = 6, high-spam-threshold = 5 } ]", "mailscanner.policy.rulesets[0].high-spam-threshold", "must not be lower")]
    [InlineData("mailscanner.policy.rulesets = [ \"to-domain:example.com\" ]", "mailscanner.policy.rulesets[0]", "must be a section")]
    [InlineData("mailscanner.policy.rulesets { match = [\"to-domain:example.com\"] }", "mailscanner.policy.rulesets", "must be a list")]
    public void Should_name_the_key_of_each_configuration_error(string hocon, string key, string problem)
    {
        var e = Fails(hocon);

        Assert.Equal(key, e.Key);
        Assert.Contains(problem, e.Problem);
    }

    [Fact]
    public void Should_accept_rulesets_in_an_operator_file()
    {
        var file = Path.Combine(_dir.FullName, "operator.conf");
        File.WriteAllText(file, """
            mailscanner.policy {
              defaults.actions.high-spam = quarantine
              defaults.subject-tags.clean = ""
              rulesets = [
                { name = "example.com quarantines spam", match = ["to-domain:example.com", "to:ceo@example.org"],
                  actions { spam = quarantine }
                  subject-tags { spam = "[SPAM]" }
                  spam-threshold = 4.0, high-spam-threshold = 10 }
              ]
            }
            """);

        var rulesets = Rulesets.FromConfig(GatewaySettingsLoader.LoadConfig(file));

        Assert.Equal(MessageAction.Quarantine, rulesets.Defaults.ActionFor(VerdictKind.HighSpam));
        var p = rulesets.Resolve(To("ceo@example.org"));
        Assert.Equal("example.com quarantines spam", p.RulesetName);
        Assert.Equal("[SPAM]", p.SubjectTagFor(VerdictKind.Spam));
        Assert.Equal((4.0, 10.0), (p.SpamThreshold!.Value, p.HighSpamThreshold!.Value));
    }

    [Fact]
    public void Should_accept_the_example_documented_in_the_defaults_file()
    {
        // Copied from the comment above `rulesets = []` in hocon/mailscanner.conf.
        var file = Path.Combine(_dir.FullName, "operator.conf");
        File.WriteAllText(file, """
            mailscanner.policy.rulesets = [
               { name = "example.com quarantines spam", match = ["to-domain:example.com"]
                 actions { spam = quarantine, high-spam = quarantine } }
               { name = "the CEO sees other tags", match = ["to:ceo@example.org"]
                 subject-tags { spam = "[SPAM]" }
                 spam-threshold = 4.0 }
               { name = "partner newsletters", match = ["from:*@partner.example", "from-domain:news.partner.example"]
                 actions { high-spam = delete } }
             ]
            """);

        var rulesets = Rulesets.FromConfig(GatewaySettingsLoader.LoadConfig(file));

        Assert.Equal(["example.com quarantines spam", "the CEO sees other tags", "partner newsletters"], rulesets.All.Select(r => r.Name));
        Assert.Equal(MessageAction.Quarantine, rulesets.Resolve(To("a@example.com")).ActionFor(VerdictKind.HighSpam));
        Assert.Equal(4.0, rulesets.Resolve(To("ceo@example.org")).SpamThreshold);
        Assert.Equal(MessageAction.Delete, rulesets.Resolve(new QueueEnvelope("x@news.partner.example", ["me@example.net"])).ActionFor(VerdictKind.HighSpam));
    }

    [Fact]
    public void Should_accept_an_empty_rulesets_list_in_an_operator_file()
    {
        var file = Path.Combine(_dir.FullName, "operator.conf");
        File.WriteAllText(file, "mailscanner.policy.rulesets = []\n");

        Assert.Empty(Rulesets.FromConfig(GatewaySettingsLoader.LoadConfig(file)).All);
    }

    [Fact]
    public void Should_reject_a_misspelt_policy_key_in_an_operator_file()
    {
        var file = Path.Combine(_dir.FullName, "operator.conf");
        File.WriteAllText(file, "mailscanner.policy.default.actions.spam = quarantine\n");

        var e = Assert.Throws<ConfigurationException>(() => GatewaySettingsLoader.LoadConfig(file));

        Assert.Equal("mailscanner.policy.default", e.Key);
    }
}
