using MailScanner.Actors.Cleaning;
using MailScanner.Actors.Queue;
using MailScanner.Actors.Scanning;
using MailScanner.Actors.Scanning.Mime;
using MailScanner.Actors.Scanning.Rules;

namespace MailScanner.Actors.Policy;

/// <summary>
/// What is to be done with a scanned message, decided once: the verdict under the message's policy, the action the
/// policy gives that verdict, and, when the message is delivered, the message as it is delivered (cleaned and tagged).
/// It knows nothing of the MTA: the queue format wraps the delivered message in its envelope.
/// </summary>
/// <param name="QuarantinedInsteadOfCleaned">
/// The policy said deliver-cleaned, but a finding names no part that cleaning could replace, so the message is
/// quarantined instead (the caller logs it).
/// </param>
public sealed record MessageDecision(Verdict Verdict, MessageAction Action, byte[]? DeliveredMessage, bool QuarantinedInsteadOfCleaned = false)
{
    /// <summary>
    /// Pure: the same message, reports and policy give the same decision. <paramref name="message"/> is the RFC 5322
    /// message without the MTA's envelope; <paramref name="envelope"/> chooses the policy.
    /// </summary>
    public static MessageDecision Decide(QueueEnvelope envelope, ReadOnlyMemory<byte> message,
        IReadOnlyList<ScanReport> reports, Rulesets rulesets, HtmlSettings html, AnalysisLimits? limits = null)
    {
        var policy = rulesets.Resolve(envelope);
        var findings = reports.SelectMany(r => r.Findings).ToList();
        var spam = reports.Select(r => r.Spam).FirstOrDefault(score => score is not null);
        var verdict = VerdictUnder(policy, findings, spam);
        var action = policy.ActionFor(verdict.Kind);
        // Cleaning replaces the parts a finding names. A finding that names no part (a virus clamd finds in the
        // message but in no single part, or a limit of the analysis) leaves nothing to replace, and such a message
        // must not be delivered "cleaned" with its virus.
        var quarantinedInstead = action == MessageAction.DeliverCleaned &&
                                 findings.Any(f => f.Kind is VerdictKind.Infected or VerdictKind.DangerousContent && f.PartName is null);
        if (quarantinedInstead) action = MessageAction.Quarantine;
        if (!action.Delivers()) return new MessageDecision(verdict, action, null, quarantinedInstead);

        var request = new CleaningRequest(verdict, findings, spam, ReplaceDangerousParts: action == MessageAction.DeliverCleaned,
            policy.SubjectTagFor(verdict), html) { Limits = limits ?? AnalysisLimits.Default };
        var cleaned = MessageCleaner.CleanAsNeeded(message, request, reports.Any(r => r.HasActiveHtml),
            reports.Select(r => r.Parsed).FirstOrDefault(parsed => parsed is not null));
        // A dangerous part the cleaner could not cut out (not found in the MIME tree, a message it cannot rewrite)
        // would reach the recipient as it was: the message is quarantined whole instead.
        if (request.ReplaceDangerousParts && cleaned.Changes.Any(c => c.StartsWith("not replaced", StringComparison.Ordinal)))
            return new MessageDecision(verdict, MessageAction.Quarantine, null, QuarantinedInsteadOfCleaned: true);
        return new MessageDecision(verdict, action, cleaned.Message, quarantinedInstead);
    }

    /// <summary>A verdict decided before any scan: an earlier attempt's recorded delivery, or a message out of attempts.</summary>
    public static MessageDecision Already(Verdict verdict, MessageAction action) => new(verdict, action, null);

    /// <summary>A ruleset may set its own spam thresholds; they replace the spam scanner's.</summary>
    private static Verdict VerdictUnder(MessagePolicy policy, List<ScanFinding> findings, SpamScore? spam)
    {
        if (spam is null || (policy.SpamThreshold is null && policy.HighSpamThreshold is null)) return Verdict.Of(findings);
        var engineSaidHigh = findings.Any(f => f.Kind == VerdictKind.HighSpam);
        var judged = findings.Where(f => f.Kind is not (VerdictKind.Spam or VerdictKind.HighSpam)).ToList();
        var threshold = policy.SpamThreshold ?? spam.Threshold;
        if (policy.HighSpamThreshold is { } high ? spam.Score >= high : engineSaidHigh)
            judged.Add(new ScanFinding(VerdictKind.HighSpam, $"high spam score {spam.Score:F1} ({policy.RulesetName})"));
        else if (spam.Score >= threshold)
            judged.Add(new ScanFinding(VerdictKind.Spam, $"spam score {spam.Score:F1} >= {threshold:F1} ({policy.RulesetName})"));
        return Verdict.Of(judged);
    }
}
