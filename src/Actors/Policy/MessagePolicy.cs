using MailScanner.Actors.Scanning;

namespace MailScanner.Actors.Policy;

/// <summary>
/// What to do with a message of each verdict, as decided for one message's envelope by <see cref="Rulesets.Resolve"/>:
/// the action per verdict, the subject tag per verdict, and optional spam thresholds that override the spam
/// scanner's own. <see cref="RulesetName"/> says which ruleset it came from (<c>defaults</c> when none matched), for
/// the log and the quarantine metadata.
/// </summary>
/// <param name="SpamThreshold">A spam score at or over this is spam; null = the spam scanner's own threshold (spamd's required_score).</param>
/// <param name="HighSpamThreshold">A spam score at or over this is high spam; null = the spam scanner's own (<c>mailscanner.scanners.spamd.high-spam-score</c>).</param>
public sealed record MessagePolicy(
    IReadOnlyDictionary<VerdictKind, MessageAction> Actions,
    IReadOnlyDictionary<VerdictKind, string> SubjectTags,
    double? SpamThreshold,
    double? HighSpamThreshold,
    string RulesetName)
{
    /// <summary>The subject tag MailScanner uses for dangerous content that is only about file names and types.</summary>
    public const string DefaultFilenameSubjectTag = "{Filename?}";

    /// <summary>The name of the policy used when no ruleset matches.</summary>
    public const string DefaultsName = "defaults";

    /// <summary>
    /// The tag for <see cref="VerdictKind.DangerousContent"/> when every dangerous finding is a filename or
    /// filetype rule (see <see cref="SubjectTagFor(Verdict)"/>); empty = no tag.
    /// </summary>
    public string FilenameSubjectTag { get; init; } = DefaultFilenameSubjectTag;

    /// <summary>MailScanner's behaviour: viruses and dangerous content delivered cleaned (original quarantined), spam delivered tagged.</summary>
    public static readonly MessagePolicy MailScannerDefaults = new(
        new Dictionary<VerdictKind, MessageAction>
        {
            [VerdictKind.Clean] = MessageAction.Deliver,
            [VerdictKind.Spam] = MessageAction.Deliver,
            [VerdictKind.HighSpam] = MessageAction.Deliver,
            [VerdictKind.DangerousContent] = MessageAction.DeliverCleaned,
            [VerdictKind.Infected] = MessageAction.DeliverCleaned,
            // Never fully scanned: not MailScanner's (it has no such verdict), ours.
            [VerdictKind.Unscannable] = MessageAction.Quarantine,
        },
        new Dictionary<VerdictKind, string>
        {
            [VerdictKind.Spam] = "{Spam?}",
            [VerdictKind.HighSpam] = "{Spam?}",
            [VerdictKind.DangerousContent] = "{Dangerous Content?}",
            [VerdictKind.Infected] = "{Virus?}",
            [VerdictKind.Unscannable] = "{Unscanned?}",
        },
        SpamThreshold: null,
        HighSpamThreshold: null,
        DefaultsName);

    /// <summary>The action for a verdict; a kind missing from <see cref="Actions"/> falls back to MailScanner's default.</summary>
    public MessageAction ActionFor(VerdictKind kind) =>
        Actions.TryGetValue(kind, out var action) ? action
        : ReferenceEquals(this, MailScannerDefaults) ? MessageAction.Deliver
        : MailScannerDefaults.ActionFor(kind);

    /// <summary>The subject tag for a verdict kind, or null when messages of that kind are not tagged.</summary>
    public string? SubjectTagFor(VerdictKind kind) =>
        SubjectTags.TryGetValue(kind, out var tag) && !string.IsNullOrWhiteSpace(tag) ? tag : null;

    /// <summary>
    /// The subject tag for a verdict. Like <see cref="SubjectTagFor(VerdictKind)"/>, except that dangerous content
    /// found only by the filename and filetype rules (every dangerous reason starts with <c>filename:</c> or
    /// <c>filetype:</c>) gets <see cref="FilenameSubjectTag"/>, as MailScanner tags such mail <c>{Filename?}</c>.
    /// A verdict keeps only its reasons, not each one's kind: reasons of spam findings (spamd's
    /// <c>spam score ...</c> / <c>high spam score ...</c>) are not dangerous findings and are ignored here.
    /// </summary>
    public string? SubjectTagFor(Verdict verdict)
    {
        if (verdict.Kind == VerdictKind.DangerousContent && IsOnlyAboutFiles(verdict.Reasons))
            return string.IsNullOrWhiteSpace(FilenameSubjectTag) ? null : FilenameSubjectTag;
        return SubjectTagFor(verdict.Kind);
    }

    private static bool IsOnlyAboutFiles(IReadOnlyList<string> reasons)
    {
        var dangerous = reasons.Where(r => !IsSpamReason(r)).ToList();
        return dangerous.Count > 0 && dangerous.All(r =>
            r.StartsWith("filename:", StringComparison.Ordinal) || r.StartsWith("filetype:", StringComparison.Ordinal));
    }

    private static bool IsSpamReason(string reason) =>
        reason.StartsWith(Verdict.Name(VerdictKind.Spam) + " score ", StringComparison.Ordinal)
        || reason.StartsWith(Verdict.Name(VerdictKind.HighSpam) + " score ", StringComparison.Ordinal);
}
