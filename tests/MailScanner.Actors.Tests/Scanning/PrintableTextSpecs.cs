using MailScanner.Actors.Cleaning;
using MailScanner.Actors.Quarantine;
using MailScanner.Actors.Scanning;
using MailScanner.Actors.Scanning.Rules;
using Xunit;
using static MailScanner.Actors.Tests.Scanning.TestMail;

namespace MailScanner.Actors.Tests.Scanning;

/// <summary>One sanitiser for every name from the mail that a person reads.</summary>
public sealed class PrintableTextSpecs
{
    [Theory]
    [InlineData("invoice\u202Efdp.exe", "invoice\\u202Efdp.exe")] // right-to-left override
    [InlineData("a\u200Eb\u200Fc\u061Cd", "a\\u200Eb\\u200Fc\\u061Cd")] // the marks
    [InlineData("x\u2066y\u2069", "x\\u2066y\\u2069")] // isolates
    [InlineData("zero\u200Bwidth\uFEFF", "zero\\u200Bwidth\\uFEFF")] // other format characters
    [InlineData("tab\there\nnew\u007F\u0085", "tab\\u0009here\\u000Anew\\u007F\\u0085")] // C0, DEL, C1
    [InlineData("line\u2028para\u2029", "line\\u2028para\\u2029")]
    [InlineData("tag\U000E0041", "tag\\U000E0041")] // an invisible tag character, beyond the BMP
    [InlineData("Grüße 📎 résumé.pdf", "Grüße 📎 résumé.pdf")] // what a screen shows as it is stays
    public void Should_show_every_control_and_format_character_escaped(string text, string shown) =>
        Assert.Equal(shown, PrintableText.Of(text));

    [Fact]
    public void Should_escape_a_lone_surrogate() => // built here: test data with one would not survive serialisation
        Assert.Equal("lone\\uD800 end", PrintableText.Of("lone" + '\uD800' + " end"));

    [Fact]
    public void Should_escape_every_character_of_category_Cf_and_Cc_in_the_BMP()
    {
        for (var c = char.MinValue; c < char.MaxValue; c++)
        {
            if (char.IsSurrogate(c)) continue;
            var category = char.GetUnicodeCategory(c);
            var hidden = category is System.Globalization.UnicodeCategory.Format or System.Globalization.UnicodeCategory.Control;
            if (hidden) Assert.Equal($"\\u{(int)c:X4}", PrintableText.Of(c.ToString()));
            if (PrintableText.IsBidiControl(c)) Assert.True(hidden, $"U+{(int)c:X4} is a bidi control but not hidden");
        }
    }

    [Fact]
    public void Should_cut_long_text_and_say_so()
    {
        var shown = PrintableText.Of(new string('a', 10_000));
        Assert.Equal(PrintableText.MaxLength + 3, shown.Length);
        Assert.EndsWith("...", shown);
    }

    [Theory]
    [InlineData(null, null)]
    [InlineData("  ", null)]
    [InlineData(" report.pdf ", "report.pdf")]
    public void Should_show_no_name_for_a_blank_one(string? name, string? shown) => Assert.Equal(shown, PrintableText.OfName(name));

    [Fact]
    public void Should_not_let_a_bidi_mark_from_a_file_name_reach_the_warning_in_a_cleaned_message()
    {
        const string name = "photo\u200Fgpj.exe";
        var message = Bytes(Message(Attachment(name, Text("MZ"))));
        var finding = new ScanFinding(VerdictKind.DangerousContent, "filename: .exe files are not allowed", name);

        var cleaned = MessageCleaner.Clean(message, new CleaningRequest(Verdict.Of([finding]), [finding], null, true, null, null));

        var text = System.Text.Encoding.UTF8.GetString(cleaned.Message);
        Assert.DoesNotContain("\u200F", text);
        Assert.Contains(cleaned.Changes, c => c.StartsWith("replaced photo\\u200Fgpj.exe (", StringComparison.Ordinal) && !c.Contains('\u200F'));
    }

    [Fact]
    public void Should_show_a_finding_and_a_quarantine_entry_without_hidden_characters()
    {
        var finding = new ScanFinding(VerdictKind.Infected, "virus X (clamd)", "a.zip/\u202Eexe.txt");
        Assert.Equal("virus X (clamd) in a.zip/\\u202Eexe.txt", finding.ToString());

        var entry = new QuarantineEntry("20260101-000000-0123456789abcdef", "/q/20260101/x",
            new QuarantineMetadata(new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc), "123", "803-123-abc",
                "evil\u200E@example.org", ["rcpt\t1@example.com"], VerdictKind.Infected, [finding.ToString()]),
            Release: null);

        Assert.DoesNotContain('\u200E', QuarantineText.ListLine(entry));
        Assert.Equal(6, QuarantineText.ListLine(entry).Split('\t').Length);
        var shown = QuarantineText.Describe(entry);
        Assert.Contains("evil\\u200E@example.org", shown);
        Assert.Contains("rcpt\\u00091@example.com", shown);
    }

    [Fact]
    public void Should_show_the_queue_format_and_the_files_a_quarantined_entry_was_stored_from()
    {
        var metadata = new QuarantineMetadata(new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc), "1abcde-00000A-xy", "803-123-abc",
            "a@example.org", ["b@example.com"], VerdictKind.Infected, ["virus X (clamd)"]);

        var exim = QuarantineText.Describe(new QuarantineEntry("20260101-000000-0123456789abcdef", "/q/20260101/x",
            metadata with { QueueFormat = "exim", PartLengths = [812, 40960] }, Release: null));
        var older = QuarantineText.Describe(new QuarantineEntry("20260101-000000-0123456789abcdef", "/q/20260101/x", metadata, Release: null));

        Assert.Contains("format:      exim\n", exim);
        Assert.Contains("files:       2, primary first: 812 + 40960 bytes", exim);
        Assert.Contains("format:      not recorded (stored before the format was)", older);
        Assert.DoesNotContain("files:", older);
    }
}
