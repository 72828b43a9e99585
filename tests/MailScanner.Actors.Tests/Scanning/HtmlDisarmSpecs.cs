using MailScanner.Actors.Scanning.Rules;
using Xunit;

namespace MailScanner.Actors.Tests.Scanning;

public sealed class HtmlDisarmSpecs
{
    [Fact]
    public void Should_remove_scripts_with_their_content_and_keep_the_text()
    {
        var (html, changes) = HtmlDisarm.Disarm("<p>Hello <script type=\"text/javascript\">if (a < b) { steal(\"</p>\"); }</script>world</p>");

        Assert.Equal("<p>Hello world</p>", html);
        Assert.Equal(["removed <script> element"], changes);
    }

    [Fact]
    public void Should_remove_iframes_objects_embeds_and_applets()
    {
        var (html, changes) = HtmlDisarm.Disarm(
            "<div>a<iframe src=\"http://x.example/\">fallback</iframe>b<object data=\"x.swf\"><param name=a value=b><object>inner</object></object>c" +
            "<embed src=\"x.swf\">d<applet code=\"X.class\">no java</applet>e<frameset><frame src=\"f.html\"></frameset>f</div>");

        Assert.Equal("<div>abcdef</div>", html);
        Assert.Equal(["removed <iframe> element", "removed <object> element", "removed <embed> element", "removed <applet> element", "removed <frameset> element"], changes);
    }

    [Fact]
    public void Should_remove_form_tags_but_keep_what_is_inside()
    {
        var (html, changes) = HtmlDisarm.Disarm("<form action=\"http://evil.example/steal\" method=post>Password: <input type=\"password\" name=\"pw\"></form>");

        Assert.Equal("Password: <input type=\"password\" name=\"pw\">", html);
        Assert.Equal(["removed <form> tag (its content kept)"], changes);
    }

    [Fact]
    public void Should_remove_event_handlers_and_script_urls_but_keep_the_element()
    {
        var (html, changes) = HtmlDisarm.Disarm(
            "<body onload=\"go()\"><a href=\"javascript:steal()\" title=\"t\">x</a><img src=\"cid:logo\" ONERROR='go()'>" +
            "<a href=\"java&#x09;script:go()\">y</a><a href=\"https://example.com/\">ok</a></body>");

        Assert.Equal("<body><a title=\"t\">x</a><img src=\"cid:logo\"><a>y</a><a href=\"https://example.com/\">ok</a></body>", html);
        Assert.Equal(["removed onload handler in <body>", "removed javascript: URL in href in <a>", "removed onerror handler in <img>", "removed javascript: URL in href in <a>"], changes);
    }

    [Fact]
    public void Should_leave_harmless_html_exactly_as_written()
    {
        const string harmless = "<!DOCTYPE html><html><head><style>p { color: red }</style></head><body><!-- note -->" +
                                "<p class=\"x\">Fish &amp; chips &lt;script&gt; costs 5 &euro;</p><br/><a href=\"https://example.com/?a=1&amp;b=2\">link</a></body></html>";

        var (html, changes) = HtmlDisarm.Disarm(harmless);

        Assert.Equal(harmless.Replace("<br/>", "<br />"), html);
        Assert.Empty(changes);
    }

    [Fact]
    public void Should_remove_everything_after_an_unclosed_script()
    {
        var (html, _) = HtmlDisarm.Disarm("<p>before</p><script>document.write('<p>never ends')");

        Assert.Equal("<p>before</p>", html);
    }

    [Fact]
    public void Should_keep_what_the_settings_allow()
    {
        var settings = HtmlSettings.Default with { Form = HtmlTagAction.Allow, Iframe = HtmlTagAction.Allow };

        var (html, changes) = HtmlDisarm.Disarm("<form><iframe src=\"a.html\"></iframe></form><script>x</script>", settings);

        Assert.Equal("<form><iframe src=\"a.html\"></iframe></form>", html);
        Assert.Equal(HtmlThreat.Script, Assert.Single(changes).Threat);
    }

    /// <remarks>
    /// A tag cut off by the end of the text is kept as it is: a browser drops a tag the document ends inside (EOF in a
    /// tag is a parse error that emits nothing), so nothing in it can run. A stray end tag and an unclosed CDATA
    /// section hold nothing and go; an unclosed comment is closed, so that nothing after it is commented out by it.
    /// </remarks>
    [Theory]
    [InlineData("<", "<")]
    [InlineData("<a href=\"", "<a href=\"")]
    [InlineData("<script", "<script")]
    [InlineData("<a onclick=\"go()\"", "<a onclick=\"go()\"")]
    [InlineData("</script>", "")]
    [InlineData("<!--", "<!---->")]
    [InlineData("<p <p <p>>>", "<p <p <p>>>")]
    [InlineData("<![CDATA[", "")]
    public void Should_keep_broken_html_harmless_and_report_no_change(string broken, string disarmed)
    {
        var (html, changes) = HtmlDisarm.Disarm(broken);

        Assert.Equal(disarmed, html);
        Assert.Empty(changes);
    }

    [Fact]
    public void Should_pass_a_hundred_thousand_opening_brackets_through_in_bounded_time()
    {
        var brackets = new string('<', 100_000);
        var clock = System.Diagnostics.Stopwatch.StartNew();

        var (html, changes) = HtmlDisarm.Disarm(brackets);

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed}"); // a quadratic rescan would not
        Assert.Equal(brackets, html);
        Assert.Empty(changes);
    }
}

public sealed class PhishingNetSpecs
{
    [Fact]
    public void Should_catch_link_text_naming_another_host()
    {
        var link = Assert.Single(PhishingNet.Find("""<a href="http://evil.example/">https://bank.example.com</a>"""));

        Assert.Equal(new PhishingLink("bank.example.com", "evil.example"), link);
        Assert.Equal("phishing: link text shows bank.example.com but goes to evil.example", link.Reason);
    }

    [Theory]
    [InlineData("""<a href="http://paypal.com.evil.example/login">paypal.com</a>""", "paypal.com", "paypal.com.evil.example")]
    [InlineData("""<a href="http://192.0.2.7/x"><b>www.bank.example.com</b></a>""", "bank.example.com", "192.0.2.7")]
    [InlineData("""<A HREF='https://evil.example'>https://<span>bank</span>.example.com/login</A>""", "bank.example.com", "evil.example")]
    [InlineData("""<a href="https://evil.example">https&#58;//bank.example.com</a>""", "bank.example.com", "evil.example")]
    public void Should_catch_disguised_mismatches(string html, string shown, string actual)
    {
        Assert.Equal(new PhishingLink(shown, actual), Assert.Single(PhishingNet.Find(html)));
    }

    [Theory]
    [InlineData("""<a href="https://bank.example.com/login?x=1">https://bank.example.com</a>""")] // text is the href host
    [InlineData("""<a href="https://www.bank.example.com/">bank.example.com</a>""")] // www. is the same site
    [InlineData("""<a href="https://login.bank.example.com/">www.bank.example.com</a>""")] // a subdomain of what it shows
    [InlineData("""<a href="http://evil.example/">Click here</a>""")] // text is not an address at all
    [InlineData("""<a href="http://files.example.net/report.pdf">report.pdf</a>""")] // a file name, not a host
    [InlineData("""<a href="mailto:someone@example.com">https://bank.example.com</a>""")] // not a web link
    [InlineData("""<a name="top">https://bank.example.com</a>""")] // no href
    [InlineData("""<p>https://bank.example.com</p><a href="http://evil.example/">here</a>""")] // text outside the link
    public void Should_not_flag_honest_links(string html)
    {
        Assert.Empty(PhishingNet.Find(html));
    }

    [Theory]
    [InlineData("""<a href="https://evil.example">bank&#46;example&period;com</a>""", "bank.example.com")] // named and numeric
    [InlineData("""<a href="https://evil.example">https:&#x2F;&#x2F;bank.example.com</a>""", "bank.example.com")]
    public void Should_read_character_references_in_link_text_as_a_browser_shows_them(string html, string shown)
    {
        Assert.Equal(new PhishingLink(shown, "evil.example"), Assert.Single(PhishingNet.Find(html)));
    }

    [Fact]
    public void Should_find_active_content_and_phishing_links_in_one_pass_as_the_separate_finds_do()
    {
        const string html = """<body onload="go()"><a href="http://evil.example/">www.bank.example.com</a><script>var a = "<a href='http://x.example'>y.example.com</a>";</script>""" +
                            """<object data="x.swf"><a href="http://other.example/">https://shop.example.com</a></object>""" +
                            """<form action="javascript:send()"><a href="http://evil.example/">www.bank.example.com</a></form>""";

        var (active, links) = HtmlDisarm.Inspect(html, phishingNet: true);

        Assert.Equal(HtmlDisarm.Find(html), active);
        Assert.Equal(PhishingNet.Find(html), links);
        // A link inside a removed element is still judged; the same mismatch twice is reported once; script text is no link.
        Assert.Equal([new PhishingLink("bank.example.com", "evil.example"), new PhishingLink("shop.example.com", "other.example")], links);
        Assert.Equal(["removed onload handler in <body>", "removed <script> element", "removed <object> element", "removed <form> tag (its content kept)"],
            active.Select(c => c.Description));
        Assert.Empty(HtmlDisarm.Inspect(html, phishingNet: false).Links);
    }
}
