using MailScanner.Actors.Scanning.Limits;
using MailScanner.Actors.Scanning.Mime;

namespace MailScanner.Actors.Scanning.Rules;

/// <summary>
/// The built-in scanner: what a gateway can decide about a message without clamd or spamd. It runs
/// <see cref="MessageAnalyzer"/> and then, on every part and archive member: EICAR, filename rules, filetype rules,
/// size limits, encrypted archives, and on every HTML body the configured HTML rules and the phishing net.
/// Findings are <see cref="VerdictKind.Infected"/> for EICAR and <see cref="VerdictKind.DangerousContent"/> for the
/// rest; each reason starts with its rule's name (<c>filename:</c>, <c>filetype:</c>, <c>size:</c>,
/// <c>archive:</c>, <c>mime:</c>, <c>html:</c>, <c>phishing:</c>) so tagging can tell them apart (MailScanner's
/// <c>{Filename?}</c> tag is for <c>filename:</c> and <c>filetype:</c>). Pure: no I/O, no state.
/// </summary>
public static class BuiltInRules
{
    /// <summary>The <see cref="ScanReport.Scanner"/> name of this scanner.</summary>
    public const string ScannerName = "built-in";

    /// <summary>The reason of an EICAR finding.</summary>
    public const string EicarReason = "EICAR test signature";

    /// <summary>The 68-byte EICAR anti-virus test file, which every scanner must report as a virus.</summary>
    public static ReadOnlySpan<byte> EicarSignature =>
        @"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"u8;

    /// <summary>Scans one RFC 5322 message (without queue envelope) outside any gateway's budget. Never throws for bad input.</summary>
    public static ScanReport Scan(ReadOnlyMemory<byte> message, RuleSettings settings) =>
        Scan(message, settings, UnpackBudget.Unbounded());

    /// <summary>
    /// Scans one RFC 5322 message (without queue envelope), decoding and unpacking within <paramref name="budget"/>
    /// (the gateway's, shared by every message in flight). Never throws for bad input.
    /// </summary>
    public static ScanReport Scan(ReadOnlyMemory<byte> message, RuleSettings settings, UnpackBudget budget)
    {
        if (!settings.Enabled)
        {
            var eicar = EicarCheck.Scan(message);
            return new ScanReport(ScannerName, eicar.Kind == VerdictKind.Clean
                ? Array.Empty<ScanFinding>()
                : eicar.Reasons.Select(reason => new ScanFinding(VerdictKind.Infected, reason)).ToList());
        }
        var findings = new List<ScanFinding>();
        var sizes = settings.Sizes;
        if (sizes.MaxMessageBytes > 0 && message.Length > sizes.MaxMessageBytes)
            findings.Add(Dangerous($"size: message is {message.Length} bytes, more than the limit of {sizes.MaxMessageBytes}", null));

        // A uuencoded or yEnc block in the body is a file: the full analysis decodes it.
        if (PlainTextMessage.BodyOffset(message.Span) is { } body && !EncodedBlocks.MayContain(message.Span[body..]))
            return ScanPlainText(message.Span, body, settings, findings);

        // The parts hold decoded bytes taken from the budget until the rules are done with them.
        using var account = budget.Open(settings.Limits.MaxUnpackedBytes);
        var analysis = MessageAnalyzer.Analyze(message, settings.Limits, account);
        if (account.Postponed)
            return new ScanReport(ScannerName, analysis.Findings)
            {
                Postponed = $"other messages hold the gateway's unpacking memory (limits.unpack-memory = {budget.Capacity} bytes)",
            };
        var activeHtml = false;
        findings.AddRange(analysis.Findings);

        var eicarParts = new List<AnalyzedPart>();
        var attachments = 0;
        foreach (var part in analysis.Parts)
        {
            if (part.Source == PartSource.MimePart && part.IsAttachment)
            {
                attachments++;
                if (sizes.MaxAttachmentBytes > 0 && part.DecodedSize > sizes.MaxAttachmentBytes)
                    findings.Add(DangerousIn($"size: attachment is {part.DecodedSize} bytes, more than the limit of {sizes.MaxAttachmentBytes}", part));
            }
            if (part.Unscannable is { } why)
            {
                if (!part.IsEncrypted)
                    findings.Add(DangerousIn($"archive: member {why}", part));
                else if (!settings.AllowEncryptedArchives)
                    findings.Add(DangerousIn("archive: encrypted (password-protected) member cannot be scanned", part));
            }
            if (ContainsEicar(part.Content.Span)) eicarParts.Add(part);
            if (part.FileName is { } name && FilenameRule.Check(name, settings.Filenames) is { } filenameReason)
                findings.Add(DangerousIn(filenameReason, part));
            if (settings.DenyExecutableFiletypes && FiletypeRule.Executable(part.Content.Span) is { } type)
                findings.Add(DangerousIn($"filetype: {type} content", part));
            if (part.Html is { } html) activeHtml |= Html(html, part.PartName, settings.Html, findings);
        }
        if (sizes.MaxAttachments > 0 && attachments > sizes.MaxAttachments)
            findings.Add(Dangerous($"size: {attachments} attachments, more than the limit of {sizes.MaxAttachments}", null));
        // An uncompressed archive (tar) holds the string too; name only the innermost part that has it.
        foreach (var part in eicarParts.Where(p => !eicarParts.Any(q => q.PartName.StartsWith(p.PartName + "/", StringComparison.Ordinal))))
            findings.Add(new ScanFinding(VerdictKind.Infected, EicarReason, part.PartName) { MimePath = part.MimePath });
        // The raw search also finds EICAR where no part holds it: a header, or MIME too broken to take apart.
        if (eicarParts.Count == 0 && ContainsEicar(message.Span))
            findings.Add(new ScanFinding(VerdictKind.Infected, EicarReason));
        // Only a message with a finding or active HTML is rewritten by the cleaner, which then takes this tree.
        return new ScanReport(ScannerName, findings)
        {
            HasActiveHtml = activeHtml,
            Parsed = activeHtml || findings.Count > 0 ? analysis.Parsed : null,
        };
    }

    /// <summary>
    /// A message that is one literal text/plain part, with no file name, has nothing MIME could hide: the rules
    /// that apply to it (EICAR, filetype of the body) read the raw bytes, and parsing it would cost more than
    /// everything else the gateway does with it.
    /// </summary>
    private static ScanReport ScanPlainText(ReadOnlySpan<byte> message, int bodyOffset, RuleSettings settings, List<ScanFinding> findings)
    {
        const string body = "part 1", position = "1";
        if (ContainsEicar(message)) findings.Add(new ScanFinding(VerdictKind.Infected, EicarReason, body) { MimePath = position });
        if (settings.DenyExecutableFiletypes && FiletypeRule.Executable(message[bodyOffset..]) is { } type)
            findings.Add(Dangerous($"filetype: {type} content", body) with { MimePath = position });
        return new ScanReport(ScannerName, findings);
    }

    /// <summary>Whether <paramref name="content"/> holds the EICAR test string anywhere.</summary>
    public static bool ContainsEicar(ReadOnlySpan<byte> content) => content.IndexOf(EicarSignature) >= 0;

    /// <summary>Applies the HTML rules to one HTML body; true when it holds anything the HTML settings do not allow.</summary>
    private static bool Html(string html, string partName, HtmlSettings settings, List<ScanFinding> findings)
    {
        // One tokenizing pass finds every active element and every phishing link; denied elements are findings,
        // the rest only need disarming.
        var (active, links) = HtmlDisarm.Inspect(html, settings.PhishingNet);
        if (settings.Script == HtmlTagAction.Deny || settings.Iframe == HtmlTagAction.Deny ||
            settings.Object == HtmlTagAction.Deny || settings.Form == HtmlTagAction.Deny)
        {
            HashSet<string>? reported = null;
            foreach (var change in active)
            {
                if (ActionFor(settings, change.Threat) != HtmlTagAction.Deny || !(reported ??= []).Add(change.Description)) continue;
                findings.Add(Dangerous($"html: {change.Description.Replace("removed ", "", StringComparison.Ordinal)} is not allowed", partName));
            }
        }
        foreach (var link in links)
            findings.Add(Dangerous(link.Reason, partName));
        foreach (var change in active)
            if (ActionFor(settings, change.Threat) != HtmlTagAction.Allow) return true;
        return false;
    }

    private static HtmlTagAction ActionFor(HtmlSettings settings, HtmlThreat threat) => threat switch
    {
        HtmlThreat.Script => settings.Script,
        HtmlThreat.Iframe => settings.Iframe,
        HtmlThreat.Object => settings.Object,
        _ => settings.Form,
    };

    private static ScanFinding Dangerous(string reason, string? partName) => new(VerdictKind.DangerousContent, reason, partName);

    /// <summary>A finding about one analysed part, with the position of the MIME part that cleaning replaces for it.</summary>
    private static ScanFinding DangerousIn(string reason, AnalyzedPart part) =>
        new(VerdictKind.DangerousContent, reason, part.PartName) { MimePath = part.MimePath };
}
