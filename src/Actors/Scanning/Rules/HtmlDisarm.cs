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
        Run(html, settings, write: true);

    /// <summary>What <see cref="Disarm(string, HtmlSettings)"/> would remove, every kind included, without writing the result.</summary>
    public static IReadOnlyList<HtmlChange> Find(string html) =>
        Run(html, new HtmlSettings(HtmlTagAction.Deny, HtmlTagAction.Deny, HtmlTagAction.Deny, HtmlTagAction.Deny, false), write: false).Changes;

    private static (string Html, IReadOnlyList<HtmlChange> Changes) Run(string html, HtmlSettings settings, bool write)
    {
        var changes = new List<HtmlChange>();
        var output = new StringWriter(new StringBuilder(html.Length));
        // Text is copied back as written (entities too); attribute values come decoded and are encoded again.
        var tokenizer = new HtmlTokenizer(new StringReader(html)) { DecodeCharacterReferences = false };
        string? suppressing = null; // the element whose content is being dropped, until its end tag
        var nested = 0;
        while (tokenizer.ReadNextToken(out var token))
        {
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
                if (write) WriteOther(token, output);
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
            if (write) WriteTag(tag, settings, changes, output);
            else WriteTag(tag, settings, changes, TextWriter.Null);
        }
        return (write ? output.ToString() : "", changes);
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
            default:
                token.WriteTo(output);
                break;
        }
    }

    private static void WriteTag(HtmlTagToken tag, HtmlSettings settings, List<HtmlChange> changes, TextWriter output)
    {
        output.Write(tag.IsEndTag ? "</" : "<");
        output.Write(tag.Name);
        var name = tag.Name.ToLowerInvariant();
        foreach (var attribute in tag.Attributes)
        {
            if (!tag.IsEndTag && Removes(settings, HtmlThreat.Script) && IsScript(attribute, out var what))
            {
                changes.Add(new HtmlChange(HtmlThreat.Script, $"removed {what} in <{name}>"));
                continue;
            }
            output.Write(' ');
            output.Write(attribute.Name);
            if (attribute.Value is null) continue;
            // The tokenizer hands attribute values over decoded; encode them again.
            output.Write('=');
            output.Write(HtmlUtils.HtmlAttributeEncode(attribute.Value, '"'));
        }
        output.Write(tag.IsEmptyElement ? " />" : ">");
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
            var url = Normalized(attribute.Value);
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
            var css = Normalized(attribute.Value);
            if (css.Contains("expression(", StringComparison.Ordinal) || css.Contains("javascript:", StringComparison.Ordinal))
            {
                what = "script in style";
                return true;
            }
        }
        return false;
    }

    /// <summary>
    /// The (already entity-decoded) value as a browser reads it for scheme detection: whitespace and control
    /// characters dropped (browsers ignore them inside "java&#9;script:").
    /// </summary>
    private static string Normalized(string value)
    {
        var b = new StringBuilder(Math.Min(value.Length, 64));
        foreach (var c in value)
        {
            if (c <= ' ' || char.IsControl(c)) continue;
            b.Append(char.ToLowerInvariant(c));
            if (b.Length >= 64) break;
        }
        return b.ToString();
    }
}
