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
    /// <remarks><see cref="HtmlDisarm.Inspect"/> finds the same links in the pass that looks for active content.</remarks>
    public static IReadOnlyList<PhishingLink> Find(string html)
    {
        var links = new LinkCollector();
        var tokenizer = new HtmlTokenizer(new StringReader(html)) { DecodeCharacterReferences = false };
        while (tokenizer.ReadNextToken(out var token)) links.Observe(token);
        return links.Finish();
    }

    /// <summary>
    /// Judges the links of one document as its tokens go by, so that the tokenizing pass can be shared. The tokens
    /// must come from a tokenizer that leaves character references in text alone (<c>DecodeCharacterReferences =
    /// false</c>, as <see cref="HtmlDisarm"/> needs them): the text of a link is decoded here, and only when it
    /// holds a reference at all.
    /// </summary>
    internal sealed class LinkCollector
    {
        private readonly List<PhishingLink> _found = [];
        private readonly StringBuilder _text = new();
        private string? _href;
        private int _links;

        public void Observe(HtmlToken token)
        {
            switch (token)
            {
                case HtmlTagToken tag when tag.Name.Length == 1 && (tag.Name[0] is 'a' or 'A'):
                    if (_href is not null) Judge(_href, _text.ToString(), _found);
                    _href = null;
                    _text.Clear();
                    if (!tag.IsEndTag && ++_links <= MaxLinks) _href = Href(tag);
                    break;
                case HtmlDataToken { Kind: HtmlTokenKind.Data } data when _href is not null && _text.Length < MaxTextLength:
                    _text.Append(Decoded(data.Data));
                    break;
            }
        }

        /// <summary>The distinct mismatching links seen, in document order (a link left open at the end included).</summary>
        public IReadOnlyList<PhishingLink> Finish()
        {
            if (_href is not null) Judge(_href, _text.ToString(), _found);
            _href = null;
            _text.Clear();
            return _found;
        }

        private static string? Href(HtmlTagToken tag)
        {
            var attributes = tag.Attributes; // indexed: a foreach boxes the enumerator once per tag
            for (var i = 0; i < attributes.Count; i++)
                if (attributes[i].Name.Equals("href", StringComparison.OrdinalIgnoreCase)) return attributes[i].Value;
            return null;
        }
    }

    /// <summary>
    /// Text as a tokenizer that decodes character references hands it over. A data token ends where a tag starts,
    /// so the text is decoded with a '&lt;' after it, exactly as the reference was ended in the document.
    /// </summary>
    private static string Decoded(string raw)
    {
        if (!raw.Contains('&', StringComparison.Ordinal)) return raw;
        var tokenizer = new HtmlTokenizer(new StringReader(raw + "<")) { DecodeCharacterReferences = true };
        return tokenizer.ReadNextToken(out var token) && token is HtmlDataToken data ? data.Data : raw;
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
