using System.Text;
using MimeKit.Text;

namespace MailScanner.Actors.Scanning.Rules;

/// <summary>A link whose visible text names one host while its <c>href</c> goes to another.</summary>
public sealed record PhishingLink(string ShownHost, string ActualHost)
{
    /// <summary>The finding's reason, as operators read it.</summary>
    public string Reason => $"phishing: link text shows {ShownHost} but goes to {ActualHost}";
}

/// <summary>
/// MailScanner's phishing net: a link is suspicious when its text looks like an address (it has a scheme, starts
/// with <c>www.</c>, or is a host name under a common top-level domain) and that address's host is neither the
/// link's real host nor a parent domain of it. Text that is not an address ("click here", "report.pdf") is never
/// judged: only a claim the reader can be fooled by counts.
/// </summary>
public static class PhishingNet
{
    /// <summary>Top-level domains accepted for a bare host name in link text; others need a scheme or <c>www.</c>,
    /// so file names such as <c>run.sh</c> or <c>notes.md</c> are not mistaken for hosts.</summary>
    private static readonly HashSet<string> CommonTopLevelDomains = new(StringComparer.Ordinal)
    {
        "com", "net", "org", "edu", "gov", "mil", "int", "info", "biz", "io", "co", "uk", "us", "ca", "au", "nz",
        "de", "fr", "nl", "be", "ch", "at", "it", "es", "pt", "se", "no", "dk", "fi", "ie", "eu", "jp", "cn",
        "ru", "br", "in", "example", "bank", "app", "online", "site", "shop",
    };

    private const int MaxLinks = 10_000;
    private const int MaxTextLength = 2048;

    /// <summary>Every distinct mismatching link in <paramref name="html"/>, in document order.</summary>
    public static IReadOnlyList<PhishingLink> Find(string html)
    {
        var found = new List<PhishingLink>();
        var tokenizer = new HtmlTokenizer(new StringReader(html)) { DecodeCharacterReferences = true };
        string? href = null;
        var text = new StringBuilder();
        var links = 0;
        while (tokenizer.ReadNextToken(out var token))
        {
            switch (token)
            {
                case HtmlTagToken tag when tag.Name.Equals("a", StringComparison.OrdinalIgnoreCase):
                    if (href is not null) Judge(href, text.ToString(), found);
                    href = null;
                    text.Clear();
                    if (!tag.IsEndTag && ++links <= MaxLinks)
                        href = tag.Attributes.FirstOrDefault(a => a.Name.Equals("href", StringComparison.OrdinalIgnoreCase))?.Value;
                    break;
                case HtmlDataToken { Kind: HtmlTokenKind.Data } data when href is not null && text.Length < MaxTextLength:
                    text.Append(data.Data);
                    break;
            }
        }
        if (href is not null) Judge(href, text.ToString(), found);
        return found;
    }

    private static void Judge(string href, string text, List<PhishingLink> found)
    {
        var actual = HostOfHref(href);
        if (actual is null) return;
        var shown = HostShownIn(text);
        if (shown is null || SameSite(shown, actual)) return;
        var link = new PhishingLink(shown, actual);
        if (!found.Contains(link)) found.Add(link);
    }

    private static string? HostOfHref(string href)
    {
        if (!Uri.TryCreate(href.Trim(), UriKind.Absolute, out var uri)) return null;
        if (uri.Scheme is not ("http" or "https" or "ftp")) return null;
        return Host(uri);
    }

    /// <summary>The host the text claims to be, or null if the text does not look like an address.</summary>
    private static string? HostShownIn(string text)
    {
        var t = string.Join(' ', text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries))
            .Trim().TrimEnd('.', ',', ';', ':', ')', '!', '?').TrimStart('(', '<').TrimEnd('>');
        if (t.Length == 0 || t.Contains(' ', StringComparison.Ordinal)) return null;
        var lower = t.ToLowerInvariant();
        string candidate;
        if (lower.StartsWith("http://", StringComparison.Ordinal) || lower.StartsWith("https://", StringComparison.Ordinal)
            || lower.StartsWith("ftp://", StringComparison.Ordinal))
            candidate = t;
        else if (lower.StartsWith("www.", StringComparison.Ordinal))
            candidate = "http://" + t;
        else
        {
            var hostPart = lower.Split('/', '?', '#')[0];
            var labels = hostPart.Split('.');
            if (labels.Length < 2 || labels.Any(l => l.Length == 0 || !l.All(c => char.IsLetterOrDigit(c) || c == '-'))
                || !CommonTopLevelDomains.Contains(labels[^1]))
                return null;
            candidate = "http://" + t;
        }
        return Uri.TryCreate(candidate, UriKind.Absolute, out var uri) && uri.Host.Length > 0 ? Host(uri) : null;
    }

    private static string Host(Uri uri)
    {
        var host = uri.IdnHost.ToLowerInvariant().TrimEnd('.');
        return host.StartsWith("www.", StringComparison.Ordinal) ? host[4..] : host;
    }

    /// <summary>The link goes where it says, or to a subdomain of it (text "example.com", link to mail.example.com).</summary>
    private static bool SameSite(string shown, string actual) =>
        actual == shown || actual.EndsWith("." + shown, StringComparison.Ordinal);
}
