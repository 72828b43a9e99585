using System.Text;
using Akka.Configuration;
using MailScanner.Actors.Configuration;
using MailScanner.Actors.Policy;
using MailScanner.Actors.Queue;
using MailScanner.Actors.Scanning;
using MailScanner.Actors.Scanning.Rules;
using Xunit;

namespace MailScanner.Actors.Tests.Policy;

/// <summary>The decision a MessageActor takes once a message is scanned: no actor, no files, only reports and policy in.</summary>
public sealed class MessageDecisionSpecs
{
    private static readonly QueueEnvelope Envelope = new("alice@example.org", ["bob@example.com"]);

    private static byte[] Message(string message) => Encoding.ASCII.GetBytes(message.ReplaceLineEndings("\r\n"));

    private static readonly byte[] PlainMessage = Message("From: alice@example.org\nTo: bob@example.com\nSubject: hello\n\nHi Bob.\n");

    private static MessageDecision Decide(byte[] message, Rulesets rulesets, params ScanReport[] reports) =>
        MessageDecision.Decide(Envelope, message, reports, rulesets, HtmlSettings.Default);

    private static Rulesets With(string hocon) =>
        Rulesets.FromConfig(ConfigurationFactory.ParseString(hocon).WithFallback(GatewaySettingsLoader.Defaults()));

    private static string Delivered(MessageDecision decision) => Encoding.ASCII.GetString(Assert.IsType<byte[]>(decision.DeliveredMessage));

    [Fact]
    public void Should_deliver_a_clean_message_with_its_headers_and_body_kept()
    {
        var decision = Decide(PlainMessage, Rulesets.Default, ScanReport.Nothing("rules"));

        Assert.Equal(VerdictKind.Clean, decision.Verdict.Kind);
        Assert.Equal(MessageAction.Deliver, decision.Action);
        Assert.StartsWith("From: alice@example.org\r\nTo: bob@example.com\r\n", Delivered(decision), StringComparison.Ordinal);
        Assert.Contains("Hi Bob.", Delivered(decision), StringComparison.Ordinal);
        Assert.False(decision.QuarantinedInsteadOfCleaned);
    }

    [Fact]
    public void Should_tag_spam_in_the_subject_and_deliver_it_under_the_defaults()
    {
        var spam = new ScanReport("spamd", [new ScanFinding(VerdictKind.Spam, "spam score 7.5 >= 5.0")], new SpamScore(7.5, 5.0, ["GTUBE"]));

        var decision = Decide(PlainMessage, Rulesets.Default, ScanReport.Nothing("rules"), spam);

        Assert.Equal(VerdictKind.Spam, decision.Verdict.Kind);
        Assert.Equal(MessageAction.Deliver, decision.Action);
        Assert.Contains("Subject: {Spam?} hello", Delivered(decision), StringComparison.Ordinal);
    }

    [Fact]
    public void Should_say_in_the_score_header_when_only_the_first_part_of_the_message_was_scored()
    {
        var spamd = new ScanReport("spamd", [], new SpamScore(1.2, 5.0, []) { Truncated = (65536, 3_000_000) });

        var decision = Decide(PlainMessage, Rulesets.Default, ScanReport.Nothing("rules"), spamd);

        Assert.Contains("X-MailScanner-Actors-SpamScore: 1.2 / 5.0 (first 65536 of 3000000 bytes scored)", Delivered(decision), StringComparison.Ordinal);
    }

    [Fact]
    public void Should_judge_the_spam_score_by_the_matching_rulesets_own_thresholds()
    {
        var rulesets = With("""
            mailscanner.policy.rulesets = [
              { name = "strict", match = ["to-domain:example.com"], spam-threshold = 3.0, high-spam-threshold = 7.0,
                actions { high-spam = quarantine } }
            ]
            """);
        // spamd said 7.5 against its own 10.0: not spam to spamd, high spam to this ruleset.
        var spamd = new ScanReport("spamd", [], new SpamScore(7.5, 10.0, ["SOME_RULE"]));

        var decision = Decide(PlainMessage, rulesets, spamd);

        Assert.Equal(VerdictKind.HighSpam, decision.Verdict.Kind);
        Assert.Contains(decision.Verdict.Reasons, reason => reason.Contains("(strict)", StringComparison.Ordinal));
        Assert.Equal(MessageAction.Quarantine, decision.Action);
        Assert.Null(decision.DeliveredMessage);
    }

    [Fact]
    public void Should_replace_an_infected_part_when_the_policy_delivers_cleaned()
    {
        var message = Message("""
            From: alice@example.org
            To: bob@example.com
            Subject: invoice
            MIME-Version: 1.0
            Content-Type: multipart/mixed; boundary="b"

            --b
            Content-Type: text/plain

            See attached.
            --b
            Content-Type: application/octet-stream
            Content-Disposition: attachment; filename="invoice.exe"

            VIRUS-PAYLOAD
            --b--
            """);
        var clamd = new ScanReport("clamd", [new ScanFinding(VerdictKind.Infected, "Win.Test.Virus FOUND", "invoice.exe") { MimePath = "2" }]);

        var decision = Decide(message, Rulesets.Default, ScanReport.Nothing("rules"), clamd);

        Assert.Equal(MessageAction.DeliverCleaned, decision.Action);
        var delivered = Delivered(decision);
        Assert.DoesNotContain("VIRUS-PAYLOAD", delivered, StringComparison.Ordinal);
        Assert.Contains("See attached.", delivered, StringComparison.Ordinal);
        Assert.Contains("Subject: {Virus?} invoice", delivered, StringComparison.Ordinal);
    }

    [Fact]
    public void Should_quarantine_instead_of_cleaning_when_the_finding_names_no_part()
    {
        var clamd = new ScanReport("clamd", [new ScanFinding(VerdictKind.Infected, "Eicar-Signature FOUND")]);

        var decision = Decide(PlainMessage, Rulesets.Default, ScanReport.Nothing("rules"), clamd);

        Assert.Equal(VerdictKind.Infected, decision.Verdict.Kind);
        Assert.Equal(MessageAction.Quarantine, decision.Action);
        Assert.True(decision.QuarantinedInsteadOfCleaned);
        Assert.Null(decision.DeliveredMessage);
    }

    [Fact]
    public void Should_decide_the_same_way_every_time_for_the_same_input()
    {
        var spam = new ScanReport("spamd", [new ScanFinding(VerdictKind.Spam, "spam")], new SpamScore(6, 5, []));

        var first = Decide(PlainMessage, Rulesets.Default, spam);
        var second = Decide(PlainMessage, Rulesets.Default, spam);

        Assert.Equal(first.Verdict.Kind, second.Verdict.Kind);
        Assert.Equal(first.Action, second.Action);
        Assert.Equal(first.DeliveredMessage, second.DeliveredMessage);
    }
}
