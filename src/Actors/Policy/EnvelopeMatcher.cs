using System.Text.RegularExpressions;
using MailScanner.Actors.Queue;

namespace MailScanner.Actors.Policy;

/// <summary>Which side of the envelope a matcher looks at.</summary>
public enum EnvelopeSide { Sender, Recipient }

/// <summary>
/// One <c>match</c> entry of a ruleset: <c>to:</c>, <c>from:</c>, <c>to-domain:</c> or <c>from-domain:</c> followed by
/// an address or a domain. Matching is case-insensitive. An address may use <c>*</c> in its local part only
/// (<c>from:*@partner.example</c>, <c>to:sales-*@example.com</c>); its domain is always literal. A domain matches
/// exactly that domain: <c>to-domain:example.com</c> does not match <c>sub.example.com</c> (list it too) nor
/// <c>example.com.evil</c>. The empty sender of a bounce (<c>&lt;&gt;</c>) is matched by no <c>from</c> matcher.
/// </summary>
public sealed class EnvelopeMatcher
{
    private readonly Regex? _localPart;   // null for a domain matcher
    private readonly string _domain;      // lower-case, without a trailing dot

    private EnvelopeMatcher(string text, EnvelopeSide side, Regex? localPart, string domain)
    {
        Text = text;
        Side = side;
        _localPart = localPart;
        _domain = domain;
    }

    /// <summary>The matcher as written in the configuration (trimmed).</summary>
    public string Text { get; }

    public EnvelopeSide Side { get; }

    public override string ToString() => Text;

    /// <summary>Whether the sender (for <c>from</c> matchers) or any recipient (for <c>to</c> matchers) matches.</summary>
    public bool Matches(QueueEnvelope envelope) => Side == EnvelopeSide.Sender
        ? MatchesAddress(envelope.Sender)
        : envelope.Recipients.Any(MatchesAddress);

    /// <summary>Whether one bare envelope address (angle brackets tolerated) matches.</summary>
    public bool MatchesAddress(string address)
    {
        var bare = address.Trim();
        if (bare.Length >= 2 && bare[0] == '<' && bare[^1] == '>') bare = bare[1..^1].Trim();
        var at = bare.LastIndexOf('@');
        if (at <= 0 || at == bare.Length - 1) return false;
        var domain = bare[(at + 1)..].TrimEnd('.');
        if (!string.Equals(domain, _domain, StringComparison.OrdinalIgnoreCase)) return false;
        return _localPart is null || _localPart.IsMatch(bare[..at]);
    }

    /// <summary>Parses one <c>match</c> entry; on failure <paramref name="problem"/> says why in an operator's words.</summary>
    public static bool TryParse(string text, out EnvelopeMatcher? matcher, out string problem)
    {
        matcher = null;
        var trimmed = text.Trim();
        var colon = trimmed.IndexOf(':');
        if (colon < 0)
        {
            problem = $"'{trimmed}' is not a matcher (write to:, from:, to-domain: or from-domain: before the address or domain)";
            return false;
        }
        var kind = trimmed[..colon].Trim().ToLowerInvariant();
        var value = trimmed[(colon + 1)..].Trim();
        var (side, isDomain) = kind switch
        {
            "to" => (EnvelopeSide.Recipient, false),
            "from" => (EnvelopeSide.Sender, false),
            "to-domain" => (EnvelopeSide.Recipient, true),
            "from-domain" => (EnvelopeSide.Sender, true),
            _ => ((EnvelopeSide?)null, false),
        };
        if (side is null)
        {
            problem = $"'{trimmed}': unknown matcher '{kind}:' (known: to:, from:, to-domain:, from-domain:)";
            return false;
        }

        string local = "", domain;
        if (isDomain)
        {
            domain = value;
            if (domain.Contains('@'))
            {
                problem = $"'{trimmed}': a domain has no '@' (use {(side == EnvelopeSide.Sender ? "from:" : "to:")} for an address)";
                return false;
            }
        }
        else
        {
            var at = value.LastIndexOf('@');
            if (at <= 0 || at == value.Length - 1)
            {
                problem = $"'{trimmed}': an address needs a local part and a domain, as user@example.com or *@example.com";
                return false;
            }
            local = value[..at];
            domain = value[(at + 1)..];
        }
        domain = domain.TrimEnd('.');
        if (domain.Length == 0 || domain.Contains('*') || domain.Any(c => char.IsWhiteSpace(c) || char.IsControl(c) || c is '@' or '<' or '>'))
        {
            problem = $"'{trimmed}': '{domain}' is not a domain (no wildcards or spaces; list each domain or sub-domain)";
            return false;
        }
        if (local.Any(c => char.IsWhiteSpace(c) || char.IsControl(c) || c is '<' or '>'))
        {
            problem = $"'{trimmed}': the local part may not hold spaces or angle brackets";
            return false;
        }

        Regex? localPart = isDomain ? null : new Regex(
            "^" + string.Join(".*", local.Split('*').Select(Regex.Escape)) + "$",
            RegexOptions.IgnoreCase | RegexOptions.CultureInvariant | RegexOptions.Singleline, TimeSpan.FromSeconds(1));
        matcher = new EnvelopeMatcher(trimmed, side.Value, localPart, domain.ToLowerInvariant());
        problem = "";
        return true;
    }
}
