using MailScanner.Actors.Cleaning;
using MailScanner.Actors.Scanning;
using MailScanner.Actors.Scanning.Mime;
using MailScanner.Actors.Scanning.Rules;
using MimeKit;
using Xunit;
using static MailScanner.Actors.Tests.Scanning.TestMail;

namespace MailScanner.Actors.Tests.Scanning;

/// <summary>The analyzer names parts by position and the cleaner replaces the part at a position: they must mean the same part.</summary>
public sealed class PartPositionSpecs
{
    [Theory]
    [InlineData("", 1, "1")]
    [InlineData("1", 2, "1.2")]
    [InlineData("2.3", 1, "2.3.1")]
    public void Should_number_children_as_imap_does(string parent, int index, string child) =>
        Assert.Equal(child, PartPosition.Child(parent, index));

    [Theory]
    [InlineData("1.2.10", new[] { 1, 2, 10 })]
    [InlineData("0", null)]
    [InlineData("1..2", null)]
    [InlineData("1.x", null)]
    [InlineData("", null)]
    public void Should_read_a_shown_position_back_into_child_indexes(string shown, int[]? indexes) =>
        Assert.Equal(indexes, PartPosition.Indexes(shown));

    /// <summary>Each leaf holds its own marker; replacing the part at an analysed position must remove that marker.</summary>
    public static TheoryData<string> Messages() => new() { "nested", "forwarded at the top", "single part" };

    [Theory]
    [MemberData(nameof(Messages))]
    public void Should_replace_exactly_the_part_the_analyzer_names_by_its_position(string shape)
    {
        var message = Bytes(Build(shape));
        var leaves = MessageAnalyzer.Analyze(message, AnalysisLimits.Default).Parts.Where(p => p.Source == PartSource.MimePart).ToList();
        Assert.NotEmpty(leaves);

        foreach (var leaf in leaves)
        {
            var finding = new ScanFinding(VerdictKind.Infected, "virus Test (clamd)", leaf.PartName) { MimePath = leaf.MimePath };
            var cleaned = MessageCleaner.Clean(message, new CleaningRequest(Verdict.Of([finding]), [finding], null,
                ReplaceDangerousParts: true, SubjectTag: null, DisarmHtml: null));

            var left = Markers(cleaned.Message);
            Assert.DoesNotContain(Marker(leaf), left);
            // A part inside a forwarded message takes the whole forwarded message with it, and nothing outside it.
            var container = Container(leaf.PartName);
            foreach (var other in leaves.Where(o => Container(o.PartName) != container || container is null && o != leaf))
                Assert.Contains(Marker(other), left);
            Assert.Contains(cleaned.Changes, c => c.StartsWith("replaced ", StringComparison.Ordinal));
        }
    }

    [Theory]
    [MemberData(nameof(Messages))]
    public void Should_report_disarmed_html_at_the_position_the_analyzer_gives_it(string shape)
    {
        var message = Bytes(Build(shape));
        var html = Assert.Single(MessageAnalyzer.Analyze(message, AnalysisLimits.Default).Parts, p => p.ContentType == "text/html");

        var cleaned = MessageCleaner.Clean(message, new CleaningRequest(Verdict.Clean, [], null, false, null, HtmlSettings.Default));

        var disarmed = Assert.Single(cleaned.Changes, c => c.StartsWith("disarmed HTML in ", StringComparison.Ordinal));
        Assert.Contains($"part {html.MimePath}:", disarmed);
    }

    private static MimeMessage Build(string shape) => shape switch
    {
        "nested" => Mixed("body",
            new Multipart("alternative") { Leaf("plain", "alt-text"), Html("alt-html") },
            Attachment("a.exe", Text("marker:a")),
            Forwarded(Mixed("inner-body", Attachment("inner.exe", Text("marker:inner"))))),
        "forwarded at the top" => WithBody(Forwarded(Mixed("fwd-body", Html("fwd-html"), Attachment("b.exe", Text("marker:b"))), fileName: null)),
        _ => WithBody(Html("single")),
    };

    /// <summary>A multipart/mixed message whose first part is a text body holding marker <paramref name="body"/>.</summary>
    private static MimeMessage Mixed(string body, params MimeEntity[] parts)
    {
        var message = Message(parts);
        ((Multipart)message.Body!)[0] = Leaf("plain", body);
        return message;
    }

    private static MimeMessage WithBody(MimeEntity body)
    {
        var message = Message();
        message.Body = body;
        return message;
    }

    private static TextPart Leaf(string subtype, string name) => new(subtype) { Text = $"marker:{name}" };

    private static TextPart Html(string name) => new("html") { Text = $"<p>marker:{name}</p><script>alert(1)</script>" };

    private static string Marker(AnalyzedPart part)
    {
        var text = System.Text.Encoding.UTF8.GetString(part.Content.Span);
        var at = text.IndexOf("marker:", StringComparison.Ordinal);
        Assert.True(at >= 0, $"part {part.PartName} at {part.MimePath} holds no marker");
        return new string(text[at..].TakeWhile(c => c == ':' || c == '-' || char.IsAsciiLetterOrDigit(c)).ToArray());
    }

    private static HashSet<string> Markers(byte[] message) =>
        MessageAnalyzer.Analyze(message, AnalysisLimits.Default).Parts
            .Where(p => System.Text.Encoding.UTF8.GetString(p.Content.Span).Contains("marker:", StringComparison.Ordinal))
            .Select(Marker).ToHashSet();

    /// <summary>The forwarded message a part is inside (the first segment of its name), or null for a part of the message itself.</summary>
    private static string? Container(string partName) => partName.IndexOf('/') is > 0 and var slash ? partName[..slash] : null;
}
