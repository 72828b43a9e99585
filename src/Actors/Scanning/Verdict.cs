namespace MailScanner.Actors.Scanning;

/// <summary>
/// What scanning concluded about one message. The kinds are ordered by severity: a message's verdict is the
/// most severe of its findings, and the reasons of all findings are kept for the log and the quarantine.
/// </summary>
public sealed record Verdict(VerdictKind Kind, IReadOnlyList<string> Reasons)
{
    public static readonly Verdict Clean = new(VerdictKind.Clean, Array.Empty<string>());
    public static Verdict Infected(string reason) => new(VerdictKind.Infected, new[] { reason });

    /// <summary>The verdict of a set of findings: the most severe kind, with every reason.</summary>
    public static Verdict Of(IReadOnlyCollection<ScanFinding> findings) => findings.Count == 0
        ? Clean
        : new Verdict(findings.MaxBy(f => Severity(f.Kind))!.Kind, findings.Select(f => f.ToString()).ToList());

    /// <summary>How severe a kind is; the enum's order, except that <see cref="VerdictKind.Unscannable"/> (added last) ranks above infected.</summary>
    public static int Severity(VerdictKind kind) => kind switch
    {
        VerdictKind.Unscannable => (int)VerdictKind.Infected + 1,
        VerdictKind.Unprocessable => (int)VerdictKind.Infected + 2,
        _ => (int)kind,
    };

    public override string ToString() => Reasons.Count == 0 ? Name(Kind)
        : $"{Name(Kind)} ({string.Join("; ", Reasons)})";

    /// <summary>The operator-facing spelling, as in headers and logs: <c>dangerous content</c>, <c>high spam</c>.</summary>
    public static string Name(VerdictKind kind) => kind switch
    {
        VerdictKind.Clean => "clean",
        VerdictKind.Spam => "spam",
        VerdictKind.HighSpam => "high spam",
        VerdictKind.DangerousContent => "dangerous content",
        VerdictKind.Infected => "infected",
        _ => kind.ToString().ToLowerInvariant(),
    };
}

/// <summary>Severity order matters (<see cref="Verdict.Severity"/>): <see cref="Verdict.Of"/> takes the most severe.</summary>
public enum VerdictKind
{
    Clean, Spam, HighSpam, DangerousContent, Infected,

    /// <summary>
    /// Not a scanner's finding: the message's processing was started <c>mailscanner.max-processing-attempts</c> times
    /// and never ended (a crash, an exception), so it is quarantined instead of being tried again. No policy applies.
    /// </summary>
    Unprocessable,

    /// <summary>
    /// Not a scanner's finding: a scanner daemon timed out on this message (while it answered others) in attempts that
    /// used up <c>mailscanner.max-processing-attempts</c>. The policy decides (by default: quarantine). Last, so that
    /// journals written before it existed keep their numbers.
    /// </summary>
    Unscannable,
}

/// <summary>
/// One thing a scanner found. <paramref name="PartName"/> names the MIME part or archive member it was found in
/// (as "attachment.zip/inner.exe"), or is null for the message as a whole; cleaning uses it to replace that part.
/// </summary>
public sealed record ScanFinding(VerdictKind Kind, string Reason, string? PartName = null)
{
    /// <summary>
    /// The IMAP position (<see cref="Mime.AnalyzedPart.MimePath"/>) of the MIME part the finding is about, when the
    /// scanner knows exactly which one it is: cleaning then replaces that part, and not every part that happens to
    /// carry the same <see cref="PartName"/> (two attachments called "invoice.pdf"). Null: cleaning goes by the name.
    /// </summary>
    public string? MimePath { get; init; }

    /// <summary>As the log, the quarantine and the warning in a cleaned message show it: the part name made printable.</summary>
    public override string ToString() => PartName is null ? Reason : $"{Reason} in {PrintableText.Of(PartName)}";
}

/// <summary>What one scanner (built-in rules, clamd, spamd) reports about one message.</summary>
public sealed record ScanReport(string Scanner, IReadOnlyList<ScanFinding> Findings, SpamScore? Spam = null)
{
    /// <summary>The message holds HTML with something the HTML settings disarm (script, iframe, object, form).</summary>
    public bool HasActiveHtml { get; init; }

    /// <summary>
    /// Why the scan could not be completed now and the message must be tried again later (other messages held the
    /// gateway's unpacking memory); null for a complete scan. A postponed report's findings are not a verdict.
    /// </summary>
    public string? Postponed { get; init; }

    /// <summary>
    /// The message as this scanner parsed it, when the cleaner is going to rewrite it (a finding or active HTML), so
    /// that it is not parsed a second time; null otherwise. It stays with the MessageActor that scanned the message.
    /// </summary>
    public Mime.ParsedMessage? Parsed { get; init; }

    public static ScanReport Nothing(string scanner) => new(scanner, Array.Empty<ScanFinding>());
}

/// <summary>A spam scanner's score against its threshold, with the names of the rules that fired.</summary>
public sealed record SpamScore(double Score, double Threshold, IReadOnlyList<string> Rules)
{
    /// <summary>
    /// Set when the message was larger than the scanner takes (<c>spamd.max-size</c>) and only its first
    /// <see cref="ScoredBytes"/> of <see cref="MessageBytes"/> were scored, as MailScanner and spamc do.
    /// </summary>
    public (long ScoredBytes, long MessageBytes)? Truncated { get; init; }
}
