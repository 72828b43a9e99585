using System.Text;
using MailScanner.Actors.Cleaning;
using MailScanner.Actors.Scanning;
using MailScanner.Actors.Scanning.Rules;
using MimeKit;
using Xunit;
using static MailScanner.Actors.Tests.Scanning.TestMail;

namespace MailScanner.Actors.Tests.Cleaning;

/// <summary>Cleaning a scanned message: warnings for removed parts, verdict and spam headers, subject tags, HTML.</summary>
public sealed class MessageCleanerSpecs
{
    private const string EicarText = @"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

    /// <summary>Scans with the built-in rules (as the pipeline does) and cleans with MailScanner's infected action.</summary>
    private static (CleanedMessage Cleaned, MimeMessage Parsed) CleanInfected(byte[] message, string? tag = "{Virus?}")
    {
        var findings = BuiltInRules.Scan(message, RuleSettings.Default).Findings;
        Assert.NotEmpty(findings);
        var request = new CleaningRequest(Verdict.Of(findings.ToList()), findings, null, ReplaceDangerousParts: true, tag, null);
        var cleaned = MessageCleaner.Clean(message, request);
        return (cleaned, Parse(cleaned.Message));
    }

    private static CleanedMessage CleanWith(byte[] message, Verdict? verdict = null, SpamScore? spam = null, string? tag = null,
        HtmlSettings? html = null) =>
        MessageCleaner.Clean(message, new CleaningRequest(verdict ?? Verdict.Clean, [], spam, false, tag, html));

    private static MimeMessage Parse(byte[] bytes) => MimeMessage.Load(new MemoryStream(bytes));

    [Fact]
    public void Should_rewrite_the_rules_own_parse_of_a_message_exactly_as_a_fresh_parse_and_take_it_only_once()
    {
        // Active HTML and a banned attachment inside a forwarded message: disarming, replacing and tagging all at once.
        var message = Bytes(Message(
            new TextPart("html") { Text = "<p>hi <a href=\"http://evil.example.net/\">www.bank.example.com</a><script>x()</script></p>" },
            Forwarded(Message(new TextPart("plain") { Text = "inner" }, Attachment("run.exe", PortableExecutable()))),
            Attachment("notes.txt", Text("fine"))));
        var report = BuiltInRules.Scan(message, RuleSettings.Default);
        Assert.True(report.HasActiveHtml);
        Assert.NotEmpty(report.Findings);
        Assert.NotNull(report.Parsed);
        var request = new CleaningRequest(Verdict.Of(report.Findings.ToList()), report.Findings, null, ReplaceDangerousParts: true,
            "{Dangerous?}", RuleSettings.Default.Html);

        var fresh = MessageCleaner.Clean(message, request);
        var reused = MessageCleaner.Clean(message, request, report.Parsed);
        // The tree was changed by the first rewrite: a second one on the same report parses again, and gets the same.
        var again = MessageCleaner.Clean(message, request, report.Parsed);
        // Not the bytes the tree was parsed from (a copy): parsed again.
        var copy = MessageCleaner.Clean(message.ToArray(), request, BuiltInRules.Scan(message, RuleSettings.Default).Parsed);

        Assert.Contains(fresh.Changes, c => c.StartsWith("disarmed HTML", StringComparison.Ordinal));
        Assert.Contains(fresh.Changes, c => c.StartsWith("replaced", StringComparison.Ordinal));
        foreach (var cleaned in new[] { reused, again, copy })
        {
            Assert.Equal(fresh.Message, cleaned.Message);
            Assert.Equal(fresh.Changes, cleaned.Changes);
        }
        Assert.Null(report.Parsed!.Take(message, RuleSettings.Default.Limits.MaxMimeDepth));
    }

    [Fact]
    public void Should_hand_the_cleaner_no_parsed_message_when_there_is_nothing_to_rewrite()
    {
        var report = BuiltInRules.Scan(Bytes(Message(new TextPart("html") { Text = "<p>plain <b>HTML</b></p>" }, Attachment("notes.txt", Text("fine")))),
            RuleSettings.Default);

        Assert.False(report.HasActiveHtml);
        Assert.Empty(report.Findings);
        Assert.Null(report.Parsed);
    }

    /// <summary>The warning's text with its line breaks (it is wrapped for reading) turned back into spaces.</summary>
    private static string Flat(TextPart warning) => warning.Text.ReplaceLineEndings(" ").TrimEnd();

    private static string Decoded(MimeEntity entity) => entity is TextPart text ? text.Text : "";

    private static void AssertNoEicar(byte[] bytes) =>
        Assert.False(BuiltInRules.ContainsEicar(bytes), "the cleaned message still holds the EICAR string");

    [Fact]
    public void Should_replace_an_EICAR_attachment_by_a_warning_and_keep_the_other_parts()
    {
        var message = Message(Attachment("eicar.com", Eicar), Attachment("notes.txt", Text("keep me"), "text/plain"));

        var (cleaned, parsed) = CleanInfected(Bytes(message));

        AssertNoEicar(cleaned.Message);
        var parts = parsed.BodyParts.ToList();
        Assert.Equal(3, parts.Count);
        Assert.Equal("Hello, see attached.\n", Decoded(parts[0]).ReplaceLineEndings("\n"));
        var warning = Assert.IsType<TextPart>(parts[1]);
        Assert.Equal("eicar.com.txt", warning.FileName);
        Assert.Equal("utf-8", warning.ContentType.Charset);
        Assert.StartsWith("MailScanner.Actors removed the attachment \"eicar.com\" from this message: ", Flat(warning));
        Assert.Contains(BuiltInRules.EicarReason, Flat(warning));
        Assert.Contains("The original is kept in quarantine.", Flat(warning));
        Assert.Equal("keep me", Encoding.UTF8.GetString(((MimePart)parts[2]).Content!.Open().ReadAllBytes()));
        Assert.Equal("infected", parsed.Headers[MessageCleaner.VerdictHeader]);
        Assert.Contains(cleaned.Changes, c => c.StartsWith("replaced eicar.com (", StringComparison.Ordinal) && c.Contains(BuiltInRules.EicarReason));
    }

    [Fact]
    public void Should_replace_only_the_part_at_the_findings_mime_path_when_two_parts_share_its_name()
    {
        var message = Message(Attachment("invoice.pdf", Text("the real invoice")), Attachment("invoice.pdf", Eicar));
        var finding = new ScanFinding(VerdictKind.Infected, "virus Eicar-Test-Signature (clamd)", "invoice.pdf") { MimePath = "3" };

        var cleaned = MessageCleaner.Clean(Bytes(message),
            new CleaningRequest(Verdict.Of([finding]), [finding], null, ReplaceDangerousParts: true, null, null));

        AssertNoEicar(cleaned.Message);
        var parts = Parse(cleaned.Message).BodyParts.ToList();
        Assert.Equal(3, parts.Count);
        Assert.Equal("the real invoice", Encoding.UTF8.GetString(((MimePart)parts[1]).Content!.Open().ReadAllBytes()));
        Assert.Equal("invoice.pdf.txt", Assert.IsType<TextPart>(parts[2]).FileName);
        Assert.Single(cleaned.Changes, c => c.StartsWith("replaced invoice.pdf (", StringComparison.Ordinal));
    }

    [Fact]
    public void Should_replace_the_whole_zip_part_when_a_member_is_infected()
    {
        var zip = Zip(("readme.txt", Text("fine")), ("eicar.com", Eicar));
        var message = Message(Attachment("report.zip", zip, "application/zip"));

        var (cleaned, parsed) = CleanInfected(Bytes(message));

        AssertNoEicar(cleaned.Message);
        var parts = parsed.BodyParts.ToList();
        Assert.Equal(2, parts.Count);
        var warning = Assert.IsType<TextPart>(parts[1]);
        Assert.Equal("report.zip.txt", warning.FileName);
        Assert.Contains("\"report.zip\"", Flat(warning));
        Assert.Contains("report.zip/eicar.com", Flat(warning));
        Assert.DoesNotContain(parsed.BodyParts, p => p.ContentType.MimeType == "application/zip");
        Assert.Contains(cleaned.Changes, c => c.StartsWith("replaced report.zip (", StringComparison.Ordinal) && c.Contains("report.zip/eicar.com"));
    }

    [Fact]
    public void Should_replace_the_forwarded_message_when_an_attachment_inside_it_is_infected()
    {
        var inner = Message(Attachment("report.zip", Zip(("eicar.com", Eicar)), "application/zip"));
        var message = Message(Forwarded(inner, "fwd.eml"), Attachment("notes.txt", Text("keep me"), "text/plain"));

        var (cleaned, parsed) = CleanInfected(Bytes(message));

        AssertNoEicar(cleaned.Message);
        var top = Assert.IsType<Multipart>(parsed.Body);
        Assert.Equal(3, top.Count);
        Assert.DoesNotContain(top, e => e is MessagePart);
        var warning = Assert.IsType<TextPart>(top[1]);
        Assert.Equal("fwd.eml.txt", warning.FileName);
        Assert.Contains("fwd.eml/report.zip/eicar.com", Flat(warning));
        Assert.Equal("notes.txt", ((MimePart)top[2]).FileName);
        Assert.Single(cleaned.Changes, c => c.StartsWith("replaced fwd.eml (", StringComparison.Ordinal));
    }

    [Fact]
    public void Should_replace_the_body_of_a_single_part_infected_message()
    {
        var message = Message();
        message.Body = Attachment("eicar.com", Eicar);

        var (cleaned, parsed) = CleanInfected(Bytes(message));

        AssertNoEicar(cleaned.Message);
        var warning = Assert.IsType<TextPart>(parsed.Body);
        Assert.Equal("eicar.com.txt", warning.FileName);
        Assert.Equal(ContentEncoding.SevenBit, warning.ContentTransferEncoding);
        Assert.Contains("\"eicar.com\"", Flat(warning));
    }

    [Fact]
    public void Should_only_tag_when_the_finding_names_no_part()
    {
        var message = Bytes(Message(Attachment("data.bin", new byte[10])));
        var findings = new[] { new ScanFinding(VerdictKind.Infected, "virus Eicar-Test-Signature (clamd)") };

        var cleaned = MessageCleaner.Clean(message,
            new CleaningRequest(Verdict.Of(findings), findings, null, ReplaceDangerousParts: true, "{Virus?}", null));

        var parsed = Parse(cleaned.Message);
        Assert.Equal("data.bin", ((MimePart)parsed.BodyParts.Last()).FileName);
        Assert.Equal("{Virus?} test", parsed.Subject);
        Assert.Contains(cleaned.Changes, c => c.StartsWith("not replaced:", StringComparison.Ordinal));
    }

    [Fact]
    public void Should_tag_the_subject_once_and_not_twice()
    {
        var message = Bytes(Message());

        var once = CleanWith(message, tag: "{Spam?}");
        var twice = CleanWith(once.Message, tag: "{Spam?}");

        Assert.Equal("{Spam?} test", Parse(once.Message).Subject);
        Assert.Contains("subject tagged {Spam?}", once.Changes);
        Assert.Equal("{Spam?} test", Parse(twice.Message).Subject);
        Assert.Contains("subject already tagged {Spam?}", twice.Changes);
    }

    [Fact]
    public void Should_add_a_subject_made_of_the_tag_when_there_is_none()
    {
        var message = Message();
        message.Headers.Remove(HeaderId.Subject);

        var cleaned = CleanWith(Bytes(message), tag: "{Virus?}");

        Assert.Equal("{Virus?}", Parse(cleaned.Message).Subject);
    }

    [Fact]
    public void Should_tag_an_encoded_word_subject_so_that_it_still_decodes()
    {
        var raw = Raw("""
            From: a@example.org
            To: b@example.com
            Subject: =?utf-8?B?w5xiZXJ3ZWlzdW5nIGbDvHIgU2llIOKCrA==?=
            MIME-Version: 1.0
            Content-Type: text/plain; charset=utf-8

            Hallo
            """);
        Assert.Equal("Überweisung für Sie €", Parse(raw).Subject);

        var cleaned = CleanWith(raw, tag: "{Spam?}");

        Assert.Equal("{Spam?} Überweisung für Sie €", Parse(cleaned.Message).Subject);
        var subjectLine = Encoding.ASCII.GetString(cleaned.Message).Split("\r\n").Single(l => l.StartsWith("Subject:", StringComparison.Ordinal));
        Assert.True(subjectLine.All(char.IsAscii), subjectLine);
    }

    [Fact]
    public void Should_format_the_spam_headers_with_one_decimal_and_fold_long_rule_lists()
    {
        var rules = Enumerable.Range(1, 12).Select(i => $"SOME_LONG_RULE_NAME_{i}").Prepend("GTUBE").ToList();

        var cleaned = CleanWith(Bytes(Message()), new Verdict(VerdictKind.HighSpam, ["spamd"]), new SpamScore(1000, 5, rules));

        var parsed = Parse(cleaned.Message);
        Assert.Equal("high spam", parsed.Headers[MessageCleaner.VerdictHeader]);
        Assert.Equal("1000.0 / 5.0", parsed.Headers[MessageCleaner.SpamScoreHeader]);
        Assert.Equal(string.Join(", ", rules), parsed.Headers[MessageCleaner.SpamRulesHeader]!.Replace("\n", "").Replace("\r", "").Replace("\t", " ").Replace("  ", " ").Trim());
        var text = Encoding.ASCII.GetString(cleaned.Message);
        Assert.All(text.Split('\n'), line => Assert.True(line.TrimEnd('\r').Length <= 78, line));
        Assert.Equal("7.3 / 5.0", MessageCleaner.SpamScoreValue(new SpamScore(7.25001, 5, [])));
    }

    [Fact]
    public void Should_replace_a_forged_verdict_header()
    {
        var message = Message();
        message.Headers.Add("X-MailScanner-Actors", "clean");
        message.Headers.Add("x-mailscanner-actors-spamscore", "0.0 / 5.0");

        var cleaned = CleanWith(Bytes(message), new Verdict(VerdictKind.Spam, ["spamd"]), new SpamScore(6.5, 5, ["BAYES_99"]));

        var parsed = Parse(cleaned.Message);
        Assert.Equal(["spam"], parsed.Headers.Where(h => h.Field.Equals("X-MailScanner-Actors", StringComparison.OrdinalIgnoreCase)).Select(h => h.Value));
        Assert.Equal(["6.5 / 5.0"], parsed.Headers.Where(h => h.Field.Equals("X-MailScanner-Actors-SpamScore", StringComparison.OrdinalIgnoreCase)).Select(h => h.Value));
        Assert.Contains(cleaned.Changes, c => c.StartsWith("removed 1 X-MailScanner-Actors header", StringComparison.Ordinal));
    }

    [Fact]
    public void Should_disarm_a_script_in_html_and_keep_its_charset()
    {
        var message = Message();
        var html = new TextPart("html");
        html.SetText("iso-8859-1", "<p>Grüße</p><script>alert(1)</script><a href=\"https://example.com\" onclick=\"x()\">ok</a>");
        message.Body = html;

        var cleaned = CleanWith(Bytes(message), html: HtmlSettings.Default);

        var part = Assert.IsType<TextPart>(Parse(cleaned.Message).Body);
        Assert.Equal("iso-8859-1", part.ContentType.Charset);
        Assert.Contains("<p>Grüße</p>", part.Text);
        Assert.DoesNotContain("script", part.Text, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("onclick", part.Text, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("href=\"https://example.com\"", part.Text);
        Assert.Contains(cleaned.Changes, c => c.StartsWith("disarmed HTML in part 1:", StringComparison.Ordinal) && c.Contains("<script>"));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Should_leave_a_clean_message_byte_identical_but_for_the_verdict_header(bool crlf)
    {
        var built = Bytes(Message(Attachment("data.bin", new byte[3000]), Attachment("notes.txt", Text("hello"), "text/plain")));
        var original = crlf ? Encoding.Latin1.GetBytes(Encoding.Latin1.GetString(built).ReplaceLineEndings("\r\n")) : built;
        var newline = crlf ? "\r\n" : "\n";

        var cleaned = CleanWith(original);

        var expected = InsertBeforeBlankLine(original, $"X-MailScanner-Actors: clean{newline}", newline);
        Assert.Equal(Encoding.Latin1.GetString(expected), Encoding.Latin1.GetString(cleaned.Message));
        Assert.Equal(["added X-MailScanner-Actors: clean"], cleaned.Changes);
    }

    private static byte[] InsertBeforeBlankLine(byte[] message, string header, string newline)
    {
        var text = Encoding.Latin1.GetString(message);
        var end = text.IndexOf(newline + newline, StringComparison.Ordinal) + newline.Length;
        return Encoding.Latin1.GetBytes(text[..end] + header + text[end..]);
    }

    [Theory]
    [InlineData("")]
    [InlineData("\n\nbody without headers\n")]
    [InlineData("Subject: hi\n")]
    [InlineData("\u0001\u00ff\u0000garbage without a colon\nX-MailScanner-Actors: clean\n\n--b\n")]
    public void Should_add_the_headers_to_a_malformed_message(string raw)
    {
        var bytes = Encoding.Latin1.GetBytes(raw);

        var cleaned = MessageCleaner.Clean(bytes,
            new CleaningRequest(Verdict.Infected("virus X"), [new ScanFinding(VerdictKind.Infected, "virus X", "x.exe")], null, true, "{Virus?}", HtmlSettings.Default));

        var text = Encoding.Latin1.GetString(cleaned.Message);
        Assert.Contains("X-MailScanner-Actors: infected", text);
        Assert.DoesNotContain("X-MailScanner-Actors: clean", text);
        Assert.Contains("{Virus?}", text);
    }

    [Fact]
    public void Should_add_the_headers_by_a_header_only_rewrite_when_mime_cannot_be_rewritten()
    {
        var raw = Raw("""
            From: a@example.org
            Subject: =?utf-8?B?w5xiZXJ3ZWlzdW5n?=
            X-MailScanner-Actors: clean
             continued forged value
            Content-Type: multipart/mixed; boundary="b"

            --b
            broken
            """);
        var request = new CleaningRequest(new Verdict(VerdictKind.Spam, ["spamd"]), [], new SpamScore(9.04, 5, ["A", "B"]), false, "{Spam?}", null);

        var cleaned = MessageCleaner.CleanRaw(raw, request, "test");

        var parsed = Parse(cleaned.Message);
        Assert.Equal("{Spam?} Überweisung", parsed.Subject);
        Assert.Equal(["spam"], parsed.Headers.Where(h => h.Field == "X-MailScanner-Actors").Select(h => h.Value));
        Assert.Equal("9.0 / 5.0", parsed.Headers[MessageCleaner.SpamScoreHeader]);
        Assert.Equal("A, B", parsed.Headers[MessageCleaner.SpamRulesHeader]);
        Assert.EndsWith("\r\n\r\n--b\r\nbroken", Encoding.ASCII.GetString(cleaned.Message));
        Assert.StartsWith("message could not be rewritten as MIME (test)", cleaned.Changes[0]);
    }

    [Fact]
    public void Should_rewrite_only_the_header_lines_it_changes_and_end_every_header_line_as_the_first_one_ends()
    {
        // CRLF first, then a bare LF and doubled CRs; forged headers with a continuation; 8-bit bytes that must survive.
        var raw = Encoding.Latin1.GetBytes(
            "From: a@example.org\r\n" +
            "X-MailScanner-Actors: clean\r\n\tforged continuation\n" +
            "Subject: hello \u00e9t\u00e9\r\r\n" +
            "x-mailscanner-actors-spamscore : 99\r\n" +
            "X-Other: \u00ff\r\n" +
            "\r\nbody\nwith\r\nmixed endings\n");
        var request = new CleaningRequest(Verdict.Clean, [], null, false, "{Spam?}", null);

        var cleaned = MessageCleaner.CleanAsNeeded(raw, request, hasActiveHtml: false);

        Assert.Equal(Encoding.Latin1.GetBytes(
            "From: a@example.org\r\n" +
            "Subject: {Spam?} hello \u00e9t\u00e9\r\n" +
            "X-Other: \u00ff\r\n" +
            "X-MailScanner-Actors: clean\r\n" +
            "\r\nbody\nwith\r\nmixed endings\n"), cleaned.Message);
        Assert.Equal([
            "message could not be rewritten as MIME (nothing to rewrite but headers); headers added by a header-only rewrite",
            "removed 1 X-MailScanner-Actors header(s) already in the message",
            "removed 1 X-MailScanner-Actors-SpamScore header(s) already in the message",
            "subject tagged {Spam?}",
            "added X-MailScanner-Actors: clean",
        ], cleaned.Changes);
    }
}

internal static class StreamExtensions
{
    public static byte[] ReadAllBytes(this Stream stream)
    {
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }
}
