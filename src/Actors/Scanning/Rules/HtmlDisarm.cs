using System.Text;
using MimeKit.Text;

namespace MailScanner.Actors.Scanning.Rules;

/// <summary>The kinds of active HTML that <see cref="HtmlSettings"/> configures one by one.</summary>
public enum HtmlThreat { Script, Iframe, Object, Form }

/// <summary>One thing <see cref="HtmlDisarm"/> removed (or, for an allowed kind, would have).</summary>
public sealed record HtmlChange(HtmlThreat Threat, string Description)
{
    public override string ToString() => Description;
}

/// <summary>
/// Removes active content from HTML: <c>&lt;script&gt;</c>, <c>&lt;iframe&gt;</c>, <c>&lt;object&gt;</c>,
/// <c>&lt;embed&gt;</c>, <c>&lt;applet&gt;</c> and frames with everything inside them, <c>&lt;form&gt;</c> tags
/// (keeping the text inside), <c>on*</c> event handlers and <c>javascript:</c>/<c>vbscript:</c> URLs. It works on
/// the tokens of MimeKit's HTML5 tokenizer (the same state machine a browser uses to find where a script ends),
/// not on regular expressions, and writes everything else back as it was.
/// </summary>
public static class HtmlDisarm
{
    private static readonly Dictionary<string, HtmlThreat> Elements = new(StringComparer.OrdinalIgnoreCase)
    {
        ["script"] = HtmlThreat.Script,
        ["iframe"] = HtmlThreat.Iframe,
        ["frame"] = HtmlThreat.Iframe,
        ["frameset"] = HtmlThreat.Iframe,
        ["object"] = HtmlThreat.Object,
        ["embed"] = HtmlThreat.Object,
        ["applet"] = HtmlThreat.Object,
    };

    /// <summary>Elements without an end tag: removing one must not swallow what follows it.</summary>
    private static readonly HashSet<string> Void = new(StringComparer.OrdinalIgnoreCase) { "embed", "frame" };

    /// <summary>Attributes whose value is a URL a browser may follow or load.</summary>
    private static readonly HashSet<string> UrlAttributes = new(StringComparer.OrdinalIgnoreCase)
    {
        "href", "src", "action", "formaction", "background", "lowsrc", "dynsrc", "data", "code", "codebase",
        "poster", "xlink:href", "srcdoc",
    };

    /// <summary>Disarms everything (every kind treated as <see cref="HtmlTagAction.Disarm"/>).</summary>
    public static (string Html, IReadOnlyList<string> Changes) Disarm(string html)
    {
        var (result, changes) = Disarm(html, HtmlSettings.Default);
        return (result, changes.Select(c => c.Description).ToList());
    }

    /// <summary>
    /// Removes the kinds that <paramref name="settings"/> does not allow (<see cref="HtmlTagAction.Disarm"/> and
    /// <see cref="HtmlTagAction.Deny"/> alike) and says what it removed.
    /// </summary>
    public static (string Html, IReadOnlyList<HtmlChange> Changes) Disarm(string html, HtmlSettings settings) =>
        Run(html, settings, new StringWriter(new StringBuilder(html.Length)), links: null);

    /// <summary>What <see cref="Disarm(string, HtmlSettings)"/> would remove, every kind included, without writing the result.</summary>
    public static IReadOnlyList<HtmlChange> Find(string html) => Inspect(html, phishingNet: false).Active;

    /// <summary>
    /// Everything the rules ask of one HTML body, from one tokenizing pass: what <see cref="Find"/> reports and,
    /// when <paramref name="phishingNet"/> is set, what <see cref="PhishingNet.Find"/> reports (empty otherwise).
    /// </summary>
    public static (IReadOnlyList<HtmlChange> Active, IReadOnlyList<PhishingLink> Links) Inspect(string html, bool phishingNet)
    {
        var links = phishingNet ? new PhishingNet.LinkCollector() : null;
        var (_, active) = Run(html, FindAll, output: null, links);
        return (active, links?.Finish() ?? (IReadOnlyList<PhishingLink>)Array.Empty<PhishingLink>());
    }

    private static readonly HtmlSettings FindAll =
        new(HtmlTagAction.Deny, HtmlTagAction.Deny, HtmlTagAction.Deny, HtmlTagAction.Deny, false);

    /// <summary>
    /// The one tokenizing loop. With <paramref name="output"/> null nothing is written (only the changes are
    /// collected); <paramref name="links"/>, when given, sees every token, those inside removed elements included.
    /// </summary>
    private static (string Html, IReadOnlyList<HtmlChange> Changes) Run(string html, HtmlSettings settings, StringWriter? output,
        PhishingNet.LinkCollector? links)
    {
        var changes = new List<HtmlChange>();
        // Text is copied back as written (entities too); attribute values come decoded and are encoded again.
        var tokenizer = new HtmlTokenizer(new StringReader(html)) { DecodeCharacterReferences = false };
        string? suppressing = null; // the element whose content is being dropped, until its end tag
        var nested = 0;
        while (tokenizer.ReadNextToken(out var token))
        {
            links?.Observe(token);
            if (suppressing is not null)
            {
                if (token is HtmlTagToken inner && inner.Name.Equals(suppressing, StringComparison.OrdinalIgnoreCase))
                {
                    if (!inner.IsEndTag && !inner.IsEmptyElement) nested++;
                    else if (inner.IsEndTag && nested-- == 0) suppressing = null;
                }
                continue;
            }
            if (token is not HtmlTagToken tag)
            {
                if (output is not null) WriteOther(token, output);
                continue;
            }
            if (Elements.TryGetValue(tag.Name, out var threat) && Removes(settings, threat))
            {
                if (!tag.IsEndTag)
                {
                    changes.Add(new HtmlChange(threat, $"removed <{tag.Name.ToLowerInvariant()}> element"));
                    if (!Void.Contains(tag.Name) && !(tag.IsEmptyElement && threat != HtmlThreat.Script))
                    {
                        suppressing = tag.Name;
                        nested = 0;
                    }
                }
                continue; // a stray end tag goes too
            }
            if (tag.Name.Equals("form", StringComparison.OrdinalIgnoreCase) && Removes(settings, HtmlThreat.Form))
            {
                if (!tag.IsEndTag) changes.Add(new HtmlChange(HtmlThreat.Form, "removed <form> tag (its content kept)"));
                continue;
            }
            if (output is not null) WriteTag(tag, settings, changes, output);
            else FindInTag(tag, settings, changes);
        }
        return (output?.ToString() ?? "", changes);
    }

    private static bool Removes(HtmlSettings settings, HtmlThreat threat) => threat switch
    {
        HtmlThreat.Script => settings.Script,
        HtmlThreat.Iframe => settings.Iframe,
        HtmlThreat.Object => settings.Object,
        _ => settings.Form,
    } != HtmlTagAction.Allow;

    private static void WriteOther(HtmlToken token, TextWriter output)
    {
        switch (token)
        {
            case HtmlDataToken { Kind: HtmlTokenKind.Data or HtmlTokenKind.ScriptData } data:
                output.Write(data.Data);
                break;
            case HtmlCommentToken { IsBogusComment: true } bogus:
                // A browser reads "</=x<a href=...>" as one bogus comment, up to the first '>'. MimeKit writes it back
                // as "<=x<a href=...>", which a browser reads as text followed by a live tag: what was inert would come
                // alive in the disarmed copy (found by ParserFuzzSpecs). Written as a real comment it stays inert; its
                // text holds no '>' (that ended it), so nothing inside can close it early.
                output.Write("<!-- ");
                output.Write(bogus.Comment);
                output.Write(" -->");
                break;
            default:
                token.WriteTo(output);
                break;
        }
    }

    private static void WriteTag(HtmlTagToken tag, HtmlSettings settings, List<HtmlChange> changes, TextWriter output)
    {
        output.Write(tag.IsEndTag ? "</" : "<");
        output.Write(tag.Name);
        var attributes = tag.Attributes;
        for (var i = 0; i < attributes.Count; i++)
        {
            var attribute = attributes[i];
            if (!tag.IsEndTag && Removes(settings, HtmlThreat.Script) && IsScript(attribute, out var what))
            {
                changes.Add(new HtmlChange(HtmlThreat.Script, $"removed {what} in <{tag.Name.ToLowerInvariant()}>"));
                continue;
            }
            output.Write(' ');
            output.Write(attribute.Name);
            if (attribute.Value is null) continue;
            // The tokenizer hands attribute values over decoded; encode them again.
            output.Write('=');
            HtmlUtils.HtmlAttributeEncode(output, attribute.Value, '"');
        }
        output.Write(tag.IsEmptyElement ? " />" : ">");
    }

    /// <summary>What <see cref="WriteTag"/> would remove from a kept tag's attributes, without writing anything.</summary>
    private static void FindInTag(HtmlTagToken tag, HtmlSettings settings, List<HtmlChange> changes)
    {
        if (tag.IsEndTag || !Removes(settings, HtmlThreat.Script)) return;
        // Indexed, not foreach: the collection's enumerator is an interface, one boxed enumerator per tag of every HTML part.
        var attributes = tag.Attributes;
        for (var i = 0; i < attributes.Count; i++)
        {
            if (IsScript(attributes[i], out var what))
                changes.Add(new HtmlChange(HtmlThreat.Script, $"removed {what} in <{tag.Name.ToLowerInvariant()}>"));
        }
    }

    /// <summary>An event handler, a script URL, or a CSS expression: script by another name.</summary>
    private static bool IsScript(HtmlAttribute attribute, out string what)
    {
        what = "";
        if (attribute.Name.StartsWith("on", StringComparison.OrdinalIgnoreCase) && attribute.Name.Length > 2)
        {
            what = $"{attribute.Name.ToLowerInvariant()} handler";
            return true;
        }
        if (attribute.Value is null) return false;
        if (UrlAttributes.Contains(attribute.Name))
        {
            Span<char> buffer = stackalloc char[NormalizedLength];
            var url = Normalized(attribute.Value, buffer);
            foreach (var scheme in (ReadOnlySpan<string>)["javascript:", "vbscript:", "livescript:", "data:text/html"])
            {
                if (!url.StartsWith(scheme, StringComparison.Ordinal)) continue;
                what = $"{scheme.TrimEnd(':').Split(':')[0]}: URL in {attribute.Name.ToLowerInvariant()}";
                return true;
            }
            return false;
        }
        if (attribute.Name.Equals("style", StringComparison.OrdinalIgnoreCase))
        {
            Span<char> buffer = stackalloc char[NormalizedLength];
            var css = Normalized(attribute.Value, buffer);
            if (css.Contains("expression(", StringComparison.Ordinal) || css.Contains("javascript:", StringComparison.Ordinal))
            {
                what = "script in style";
                return true;
            }
        }
        return false;
    }

    private const int NormalizedLength = 64;

    /// <summary>
    /// The (already entity-decoded) value as a browser reads it for scheme detection: whitespace and control
    /// characters dropped (browsers ignore them inside "java&#9;script:").
    /// </summary>
    private static ReadOnlySpan<char> Normalized(string value, Span<char> buffer)
    {
        var length = 0;
        foreach (var c in value)
        {
            if (c <= ' ' || char.IsControl(c)) continue;
            buffer[length++] = char.ToLowerInvariant(c);
            if (length >= buffer.Length) break;
        }
        return buffer[..length];
    }
}
