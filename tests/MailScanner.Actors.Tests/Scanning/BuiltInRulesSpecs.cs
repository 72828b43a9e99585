using System.Text;
using MailScanner.Actors.Scanning;
using MailScanner.Actors.Scanning.Rules;
using MimeKit;
using Xunit;
using static MailScanner.Actors.Tests.Scanning.TestMail;

namespace MailScanner.Actors.Tests.Scanning;

/// <summary>Every built-in rule with a message it must catch and a near miss it must let through.</summary>
public sealed class BuiltInRulesSpecs
{
    private static readonly RuleSettings Defaults = RuleSettings.Default;

    private static ScanReport Scan(MimeMessage message, RuleSettings? settings = null) =>
        BuiltInRules.Scan(Bytes(message), settings ?? Defaults);

    private static ScanReport ScanAttachment(string fileName, byte[] content, RuleSettings? settings = null) =>
        Scan(Message(Attachment(fileName, content)), settings);

    private static ScanFinding Single(ScanReport report, VerdictKind kind, string reasonStart)
    {
        var matching = report.Findings.Where(f => f.Kind == kind && f.Reason.StartsWith(reasonStart, StringComparison.Ordinal)).ToList();
        Assert.True(matching.Count == 1, $"expected one {kind} '{reasonStart}...' finding, got: {Describe(report)}");
        return matching[0];
    }

    private static void AssertClean(ScanReport report) =>
        Assert.True(report.Findings.Count == 0, $"expected no findings, got: {Describe(report)}");

    private static string Describe(ScanReport report) =>
        report.Findings.Count == 0 ? "(none)" : string.Join(" | ", report.Findings.Select(f => $"{f.Kind}: {f}"));

    // --- EICAR ------------------------------------------------------------------------------------------------

    [Fact]
    public void Should_report_eicar_in_a_plain_text_body_as_infected()
    {
        var message = Message();
        message.Body = new TextPart("plain") { Text = Encoding.ASCII.GetString(Eicar) };

        var report = Scan(message);

        Assert.Equal(BuiltInRules.ScannerName, report.Scanner);
        Single(report, VerdictKind.Infected, BuiltInRules.EicarReason);
        Assert.Equal(VerdictKind.Infected, Verdict.Of(report.Findings).Kind);
    }

    [Fact]
    public void Should_report_eicar_in_a_base64_attachment_naming_the_part()
    {
        var finding = Single(ScanAttachment("test.txt", Eicar), VerdictKind.Infected, BuiltInRules.EicarReason);

        Assert.Equal("test.txt", finding.PartName);
    }

    [Fact]
    public void Should_not_report_a_string_that_differs_from_eicar_by_one_character()
    {
        var almost = (byte[])Eicar.Clone();
        almost[^2] = (byte)'-';

        AssertClean(ScanAttachment("test.txt", almost));
    }

    [Fact]
    public void Should_find_eicar_in_a_zip_inside_a_forwarded_message()
    {
        var inner = Message(Attachment("report.zip", Zip(("docs/eicar.com.txt", Eicar)), "application/zip"));
        var outer = Message(Forwarded(inner, "fwd.eml"));

        var finding = Single(Scan(outer), VerdictKind.Infected, BuiltInRules.EicarReason);

        Assert.Equal("fwd.eml/report.zip/docs/eicar.com.txt", finding.PartName);
    }

    [Fact]
    public void Should_find_eicar_in_a_tar_gz()
    {
        var tgz = Gzip(Tar(("a/readme.txt", Text("hello")), ("a/eicar.txt", Eicar)));

        var finding = Single(ScanAttachment("bundle.tgz", tgz), VerdictKind.Infected, BuiltInRules.EicarReason);

        Assert.Equal("bundle.tgz/bundle.tar/a/eicar.txt", finding.PartName);
    }

    [Fact]
    public void Should_keep_the_eicar_check_of_the_queue_pipeline()
    {
        // The engine supersedes EicarCheck: whatever that finds, this finds.
        var messages = new[]
        {
            Raw($"Subject: x\n\n{Encoding.ASCII.GetString(Eicar)}\n"),
            Bytes(Message(Attachment("e.bin", Eicar))),
        };
        foreach (var m in messages)
        {
            Assert.Equal(VerdictKind.Infected, EicarCheck.Scan(m).Kind);
            Assert.Equal(VerdictKind.Infected, Verdict.Of(BuiltInRules.Scan(m, Defaults).Findings).Kind);
        }
    }

    // --- Filename rules ---------------------------------------------------------------------------------------

    [Theory]
    [InlineData("setup.exe")]
    [InlineData("SCREEN.SCR")]
    [InlineData("run.bat")]
    [InlineData("script.js")]
    [InlineData("macro.vbs")]
    [InlineData("shortcut.lnk")]
    [InlineData("app.hta")]
    [InlineData("evil.exe. ")] // Windows drops the trailing dot and space
    public void Should_deny_a_denied_extension(string name)
    {
        var finding = Single(ScanAttachment(name, Text("not really a program")), VerdictKind.DangerousContent, "filename: .");

        Assert.Equal(name.Trim(), finding.PartName); // MimeKit trims the blank off a file name
    }

    [Theory]
    [InlineData("report.pdf")]
    [InlineData("archive.tar.gz.txt")]
    [InlineData("setup.exe.txt")] // a text file that mentions exe: the filetype rule judges its content
    [InlineData("executive-summary.docx")]
    [InlineData("exe")]
    public void Should_allow_a_name_whose_last_extension_is_not_denied(string name)
    {
        AssertClean(ScanAttachment(name, Text("just text")));
    }

    [Fact]
    public void Should_name_a_double_extension_as_filename_hiding()
    {
        var finding = Single(ScanAttachment("invoice.pdf.exe", Text("x")), VerdictKind.DangerousContent, "filename: possible filename hiding");

        Assert.Contains(".pdf hides .exe", finding.Reason);
    }

    [Fact]
    public void Should_see_through_spaces_padding_a_double_extension()
    {
        Single(ScanAttachment("invoice.pdf                    .scr", Text("x")), VerdictKind.DangerousContent, "filename: possible filename hiding");
    }

    [Theory]
    [InlineData("report.2024.pdf")]
    [InlineData("backup.tar.gz")]
    public void Should_allow_a_double_extension_that_hides_nothing(string name)
    {
        AssertClean(ScanAttachment(name, Text("x")));
    }

    [Fact]
    public void Should_let_an_allow_pattern_override_the_deny_list()
    {
        var settings = Defaults with { Filenames = Defaults.Filenames with { Allow = ["approved-*.EXE"] } };

        AssertClean(ScanAttachment("approved-tool.exe", Text("x"), settings));
        Single(ScanAttachment("unapproved-tool.exe", Text("x"), settings), VerdictKind.DangerousContent, "filename: .exe");
    }

    [Theory]
    [InlineData("invoice\u202Efdp.txt")] // displays as invoicetxt.pdf
    [InlineData("a\u0007b.txt")]
    [InlineData("line\nbreak.txt")]
    public void Should_deny_a_name_with_control_or_bidi_characters(string name)
    {
        var finding = Single(ScanAttachment(name, Text("x")), VerdictKind.DangerousContent, "filename: name contains control or bidi-override");

        Assert.DoesNotContain("\u202E", finding.Reason); // shown escaped in logs
    }

    [Fact]
    public void Should_allow_a_name_with_ordinary_non_ascii_letters()
    {
        AssertClean(ScanAttachment("résumé-Müller-履歴書.txt", Text("x")));
    }

    [Theory]
    [InlineData("Content-Type: application/octet-stream\nContent-Disposition: attachment; filename=\"=?UTF-8?B?ZXZpbC5leGU=?=\"")]
    [InlineData("Content-Type: application/octet-stream\nContent-Disposition: attachment; filename*=UTF-8''evil%2Eexe")]
    [InlineData("Content-Type: application/octet-stream\nContent-Disposition: attachment; filename*0=\"ev\"; filename*1=\"il.exe\"")]
    [InlineData("Content-Type: application/octet-stream; name=\"evil.exe\"")]
    [InlineData("Content-Type: application/octet-stream; name=\"=?ISO-8859-1?Q?evil=2Eexe?=\"")]
    public void Should_read_the_file_name_from_any_of_its_encodings(string headers)
    {
        var raw = Raw($"""
            From: a@example.org
            To: b@example.com
            Subject: encodings
            MIME-Version: 1.0
            Content-Type: multipart/mixed; boundary="b1"

            --b1
            Content-Type: text/plain

            hi
            --b1
            {headers}
            Content-Transfer-Encoding: base64

            aGVsbG8=
            --b1--
            """);

        var finding = Single(BuiltInRules.Scan(raw, Defaults), VerdictKind.DangerousContent, "filename: .exe");

        Assert.Equal("evil.exe", finding.PartName);
    }

    [Fact]
    public void Should_apply_filename_rules_to_archive_members()
    {
        var finding = Single(ScanAttachment("bundle.zip", Zip(("docs/readme.txt", Text("hi")), ("bin/tool.exe", Text("x")))),
            VerdictKind.DangerousContent, "filename: .exe");

        Assert.Equal("bundle.zip/bin/tool.exe", finding.PartName);
    }

    [Fact]
    public void Should_allow_an_archive_of_harmless_files()
    {
        AssertClean(ScanAttachment("bundle.zip", Zip(("docs/readme.txt", Text("hi")), ("img/logo.png", [0x89, 0x50, 0x4E, 0x47]))));
    }

    [Fact]
    public void Should_name_a_gzipped_member_after_its_container()
    {
        var finding = Single(ScanAttachment("tool.exe.gz", Gzip(Text("x"))), VerdictKind.DangerousContent, "filename: .exe");

        Assert.Equal("tool.exe.gz/tool.exe", finding.PartName);
    }

    // --- Filetype rules ---------------------------------------------------------------------------------------

    [Fact]
    public void Should_deny_a_windows_executable_named_txt()
    {
        var finding = Single(ScanAttachment("notes.txt", PortableExecutable()), VerdictKind.DangerousContent, "filetype: Windows executable (PE)");

        Assert.Equal("notes.txt", finding.PartName);
    }

    [Fact]
    public void Should_deny_an_elf_executable_named_jpg_inside_a_zip()
    {
        var finding = Single(ScanAttachment("photos.zip", Zip(("holiday.jpg", Elf()))), VerdictKind.DangerousContent, "filetype: ELF");

        Assert.Equal("photos.zip/holiday.jpg", finding.PartName);
    }

    [Theory]
    [InlineData("notes.txt", "Plain notes, nothing to run.")]
    [InlineData("mz.txt", "MZ is how the postal code of this town starts; this text is long enough to have a header field.")]
    public void Should_allow_text_named_txt_even_when_it_starts_with_MZ(string name, string text)
    {
        AssertClean(ScanAttachment(name, Text(text)));
    }

    [Fact]
    public void Should_not_judge_filetypes_when_switched_off()
    {
        AssertClean(ScanAttachment("notes.txt", PortableExecutable(), Defaults with { DenyExecutableFiletypes = false }));
    }

    // --- Size limits ------------------------------------------------------------------------------------------

    [Fact]
    public void Should_deny_a_message_over_the_size_limit_and_allow_one_at_it()
    {
        var bytes = Bytes(Message());
        var at = Defaults with { Sizes = Defaults.Sizes with { MaxMessageBytes = bytes.Length } };
        var under = Defaults with { Sizes = Defaults.Sizes with { MaxMessageBytes = bytes.Length - 1 } };

        Assert.Empty(BuiltInRules.Scan(bytes, at).Findings);
        Assert.StartsWith("size: message is", Assert.Single(BuiltInRules.Scan(bytes, under).Findings).Reason);
    }

    [Fact]
    public void Should_deny_an_attachment_over_the_size_limit_and_allow_one_at_it()
    {
        var settings = Defaults with { Sizes = Defaults.Sizes with { MaxAttachmentBytes = 1000 } };

        AssertClean(ScanAttachment("a.bin", new byte[1000], settings));
        var finding = Single(ScanAttachment("a.bin", new byte[1001], settings), VerdictKind.DangerousContent, "size: attachment is 1001 bytes");
        Assert.Equal("a.bin", finding.PartName);
    }

    [Fact]
    public void Should_deny_more_attachments_than_the_limit_and_allow_exactly_the_limit()
    {
        var settings = Defaults with { Sizes = Defaults.Sizes with { MaxAttachments = 2 } };
        MimePart Part(int i) => Attachment($"f{i}.txt", Text("x"));

        AssertClean(Scan(Message(Part(1), Part(2)), settings));
        Single(Scan(Message(Part(1), Part(2), Part(3)), settings), VerdictKind.DangerousContent, "size: 3 attachments");
    }

    [Fact]
    public void Should_give_a_50_MB_attachment_a_verdict()
    {
        var big = new byte[50 * 1024 * 1024];
        new Random(7).NextBytes(big.AsSpan(0, 1024));
        var settings = Defaults with { Sizes = Defaults.Sizes with { MaxAttachmentBytes = 25L * 1024 * 1024 } };

        Single(ScanAttachment("big.bin", big, settings), VerdictKind.DangerousContent, "size: attachment is 52428800 bytes");
        AssertClean(ScanAttachment("big.bin", big)); // no limit by default, as in MailScanner
    }

    // --- Archives ---------------------------------------------------------------------------------------------

    [Fact]
    public void Should_report_an_encrypted_zip_member_as_unscannable()
    {
        var finding = Single(ScanAttachment("secret.zip", EncryptedZip("payload.doc", Text("ciphertext"))),
            VerdictKind.DangerousContent, "archive: encrypted");

        Assert.Equal("secret.zip/payload.doc", finding.PartName);
    }

    [Fact]
    public void Should_allow_an_encrypted_zip_when_configured()
    {
        AssertClean(ScanAttachment("secret.zip", EncryptedZip("payload.doc", Text("x")), Defaults with { AllowEncryptedArchives = true }));
    }

    [Fact]
    public void Should_report_a_corrupt_zip()
    {
        var zip = Zip(("a.txt", Text(new string('a', 5000))));
        var truncated = zip.AsSpan(0, zip.Length / 2).ToArray();

        var report = ScanAttachment("broken.zip", truncated);

        Assert.Contains(report.Findings, f => f.Kind == VerdictKind.DangerousContent && f.Reason.StartsWith("archive: cannot be unpacked", StringComparison.Ordinal));
    }

    // --- HTML -------------------------------------------------------------------------------------------------

    [Fact]
    public void Should_not_make_disarmable_html_a_finding_by_default()
    {
        AssertClean(Scan(HtmlMessage("<p>hi</p><script>alert(1)</script><form action=x><input></form>")));
    }

    [Fact]
    public void Should_report_denied_html_and_not_allowed_or_absent_html()
    {
        var deny = Defaults with { Html = Defaults.Html with { Script = HtmlTagAction.Deny, Iframe = HtmlTagAction.Deny } };

        var report = Scan(HtmlMessage("<p>hi</p><script>alert(1)</script><iframe src=x></iframe><form></form>"), deny);

        Single(report, VerdictKind.DangerousContent, "html: <script> element");
        Single(report, VerdictKind.DangerousContent, "html: <iframe> element");
        Assert.Equal(2, report.Findings.Count); // forms are still only disarmed
        AssertClean(Scan(HtmlMessage("<p>hi <b>there</b></p>"), deny));
    }

    [Fact]
    public void Should_report_a_phishing_link_in_an_html_body()
    {
        var report = Scan(HtmlMessage("""<p>Log in at <a href="http://evil.example/">https://bank.example.com</a></p>"""));

        var finding = Single(report, VerdictKind.DangerousContent, "phishing:");
        Assert.Equal("phishing: link text shows bank.example.com but goes to evil.example", finding.Reason);
    }

    [Fact]
    public void Should_not_report_phishing_when_the_net_is_off()
    {
        AssertClean(Scan(HtmlMessage("""<a href="http://evil.example/">https://bank.example.com</a>"""),
            Defaults with { Html = Defaults.Html with { PhishingNet = false } }));
    }
}
