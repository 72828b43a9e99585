using System.Text;
using MailScanner.Actors.Cleaning;
using MailScanner.Actors.Scanning;
using MailScanner.Actors.Scanning.Limits;
using MailScanner.Actors.Scanning.Mime;
using MailScanner.Actors.Scanning.Outlook;
using MailScanner.Actors.Scanning.Rules;
using MailScanner.Actors.Tests.TestSupport;
using MimeKit;
using Xunit;
using static MailScanner.Actors.Tests.Scanning.TestMail;
using Msg = MailScanner.Actors.Tests.TestSupport.OutlookMessageWriter;

namespace MailScanner.Actors.Tests.Scanning;

/// <summary>
/// What Outlook sends, taken apart as archives are (issue 16: "every layer analysed"): a winmail.dat (TNEF, read
/// with MimeKit's TnefReader) and an Outlook .msg (an MS-CFB compound file, read by our own bounded reader), wherever
/// they are (attached, in a zip). Their attachments meet the filename, filetype and EICAR rules under names that show
/// the way in (<c>winmail.dat/eicar.com</c>); bodies meet the text and HTML rules; what cannot be read, or would pass a
/// limit, is a finding that names the MIME part cleaning replaces.
/// </summary>
public sealed class OutlookContainerSpecs
{
    private static byte[] WithTnef(byte[] tnef, string fileName = "winmail.dat") =>
        Bytes(Message(Attachment(fileName, tnef, "application/ms-tnef")));

    private static byte[] WithMsg(byte[] msg, string fileName = "forwarded.msg") =>
        Bytes(Message(Attachment(fileName, msg, "application/vnd.ms-outlook")));

    private static IReadOnlyList<ScanFinding> Scan(byte[] message) => BuiltInRules.Scan(message, RuleSettings.Default).Findings;

    [Fact]
    public void Should_find_eicar_inside_a_winmail_dat_under_its_path()
    {
        var findings = Scan(WithTnef(TnefWriter.Write("see attached", new TnefWriter.Attachment("eicar.com", Eicar))));

        var eicar = Assert.Single(findings, f => f.Kind == VerdictKind.Infected);
        Assert.Equal("winmail.dat/eicar.com", eicar.PartName);
        Assert.Equal("2", eicar.MimePath);
    }

    [Fact]
    public void Should_apply_the_filename_and_filetype_rules_to_tnef_attachments()
    {
        var findings = Scan(WithTnef(TnefWriter.Write(null,
            new TnefWriter.Attachment("minutes.txt", Text("nothing here")), new TnefWriter.Attachment("invoice.pdf.exe", PortableExecutable()))));

        Assert.Contains(findings, f => f.Reason.StartsWith("filename:", StringComparison.Ordinal) && f.PartName == "winmail.dat/invoice.pdf.exe");
        Assert.Contains(findings, f => f.Reason.StartsWith("filetype:", StringComparison.Ordinal) && f.PartName == "winmail.dat/invoice.pdf.exe");
        Assert.DoesNotContain(findings, f => f.PartName == "winmail.dat/minutes.txt");
    }

    [Fact]
    public void Should_analyse_the_attachments_and_body_of_a_winmail_dat_as_parts()
    {
        var analysis = MessageAnalyzer.Analyze(WithTnef(TnefWriter.Write("Minutes attached.",
            new TnefWriter.Attachment("minutes.zip", Zip(("minutes.txt", Text("the minutes")))))), AnalysisLimits.Default);

        Assert.Empty(analysis.Findings);
        Assert.Contains(analysis.Parts, p => p.PartName == "winmail.dat/body.txt" && Encoding.UTF8.GetString(p.Content.Span) == "Minutes attached.");
        Assert.Contains(analysis.Parts, p => p.PartName == "winmail.dat/minutes.zip" && p.FileName == "minutes.zip" && p.ArchiveDepth == 1);
        Assert.Contains(analysis.Parts, p => p.PartName == "winmail.dat/minutes.zip/minutes.txt" && p.ArchiveDepth == 2 && p.MimePath == "2");
    }

    [Fact]
    public void Should_decompress_the_rtf_body_of_a_winmail_dat_and_analyse_it()
    {
        var rtf = @"{\rtf1\ansi see below: " + Encoding.ASCII.GetString(Eicar) + "}";

        var findings = Scan(WithTnef(TnefWriter.Write(null, Msg.CompressedRtf(rtf), new TnefWriter.Attachment("minutes.txt", Text("minutes")))));

        Assert.Contains(findings, f => f.Kind == VerdictKind.Infected && f.PartName == "winmail.dat/body.rtf" && f.MimePath == "2");
    }

    [Fact]
    public void Should_analyse_a_message_attached_inside_a_winmail_dat_recursively()
    {
        var inner = TnefWriter.Write("forwarded", new TnefWriter.Attachment("eicar.com", Eicar));

        var findings = Scan(WithTnef(TnefWriter.Write("fyi", new TnefWriter.Attachment("notes.txt", Text("notes")), new TnefWriter.Attachment("Fwd", inner, IsMessage: true))));

        Assert.Contains(findings, f => f.Kind == VerdictKind.Infected && f.PartName == "winmail.dat/Fwd/eicar.com" && f.MimePath == "2");
    }

    [Fact]
    public void Should_stop_at_max_mime_depth_in_messages_attached_inside_each_other_in_tnef()
    {
        var tnef = TnefWriter.Write("innermost", new TnefWriter.Attachment("eicar.com", Eicar));
        for (var i = 0; i < 30; i++) tnef = TnefWriter.Write($"level {i}", new TnefWriter.Attachment($"level{i}", tnef, IsMessage: true));

        var findings = Scan(WithTnef(tnef));

        Assert.Contains(findings, f => f.Reason.StartsWith("mime: could not be analysed: limit max-mime-depth", StringComparison.Ordinal) && f.MimePath == "2");
    }

    [Theory]
    [InlineData(30)] // inside an attribute's header
    [InlineData(-9)] // inside the last attachment's data
    public void Should_report_a_truncated_winmail_dat_as_not_analysable(int cut)
    {
        var tnef = TnefWriter.Write("body", new TnefWriter.Attachment("report.txt", new byte[200]));
        var truncated = tnef[..(cut > 0 ? cut : tnef.Length + cut)];

        var finding = Assert.Single(Scan(WithTnef(truncated)), f => f.Reason.StartsWith("tnef: could not be analysed", StringComparison.Ordinal));
        Assert.Equal(VerdictKind.DangerousContent, finding.Kind);
        Assert.Equal("2", finding.MimePath);
    }

    [Fact]
    public void Should_report_a_winmail_dat_whose_checksums_do_not_match_as_not_analysable()
    {
        var tnef = TnefWriter.Write(null, new TnefWriter.Attachment("report.txt", Text("quarterly report")));
        tnef[^20] ^= 0x20; // one byte of the data attribute's value: its checksum no longer matches

        Assert.Contains(Scan(WithTnef(tnef)), f => f.Reason.StartsWith("tnef: could not be analysed: corrupt", StringComparison.Ordinal));
    }

    [Fact]
    public void Should_report_a_part_typed_tnef_without_a_tnef_signature_as_not_analysable() =>
        Assert.Contains(Scan(WithTnef(Text("not TNEF at all"))), f => f.Reason == "tnef: could not be analysed: corrupt (no TNEF signature)");

    [Fact]
    public void Should_take_tnef_attachments_from_the_message_unpack_limit()
    {
        var message = WithTnef(TnefWriter.Write(null, new TnefWriter.Attachment("big.bin", new byte[300_000])));
        var limits = AnalysisLimits.Default with { MaxUnpackedBytes = 100_000 };

        var analysis = MessageAnalyzer.Analyze(message, limits);

        Assert.Contains(analysis.Findings, f => f.Reason.StartsWith("tnef: could not be analysed: limit max-unpacked-bytes", StringComparison.Ordinal));
        Assert.DoesNotContain(analysis.Parts, p => p.PartName == "winmail.dat/big.bin");
    }

    [Fact]
    public void Should_replace_a_winmail_dat_that_carried_a_virus_when_cleaning()
    {
        var message = WithTnef(TnefWriter.Write("see attached", new TnefWriter.Attachment("eicar.com", Eicar)));
        var findings = Scan(message);

        var cleaned = MessageCleaner.Clean(message, new CleaningRequest(Verdict.Of(findings), findings, null, ReplaceDangerousParts: true, null, null));

        var parts = MimeMessage.Load(new MemoryStream(cleaned.Message)).BodyParts.ToList();
        Assert.DoesNotContain(parts, p => p is MimePart { ContentType.MimeType: "application/ms-tnef" });
        Assert.Contains(cleaned.Changes, c => c.StartsWith("replaced winmail.dat", StringComparison.Ordinal));
        Assert.DoesNotContain(BuiltInRules.Scan(cleaned.Message, RuleSettings.Default).Findings, f => f.Kind == VerdictKind.Infected);
    }

    [Fact]
    public void Should_find_eicar_in_an_outlook_message_inside_a_zip()
    {
        var msg = Msg.Write(new Msg.Message("see attached", null, [new Msg.Attachment("eicar.com", Eicar)]));

        var findings = Scan(Bytes(Message(Attachment("mail.zip", Zip(("forwarded.msg", msg))))));

        Assert.Contains(findings, f => f.Kind == VerdictKind.Infected && f.PartName == "mail.zip/forwarded.msg/eicar.com" && f.MimePath == "2");
    }

    [Fact]
    public void Should_analyse_the_bodies_of_an_outlook_message_as_text_and_html()
    {
        var body = "see below\r\n\r\nbegin 644 eicar.com\r\n" + Uuencoded(Eicar) + "`\r\nend\r\n";
        var msg = Msg.Write(new Msg.Message(body, "<html><body><a href=\"http://evil.example/\">https://bank.example/</a></body></html>", []));

        var analysis = MessageAnalyzer.Analyze(WithMsg(msg), AnalysisLimits.Default);
        var findings = Scan(WithMsg(msg));

        Assert.Contains(analysis.Parts, p => p.PartName == "forwarded.msg/body.html" && p.Html!.Contains("bank.example", StringComparison.Ordinal));
        Assert.Contains(findings, f => f.Kind == VerdictKind.Infected && f.PartName == "forwarded.msg/body.txt/eicar.com");
        Assert.Contains(findings, f => f.Reason.StartsWith("phishing:", StringComparison.Ordinal) && f.PartName == "forwarded.msg/body.html");
    }

    [Fact]
    public void Should_decompress_the_rtf_body_of_an_outlook_message_and_analyse_it()
    {
        var rtf = @"{\rtf1\ansi see below: " + Encoding.ASCII.GetString(Eicar) + "}";
        var msg = Msg.Write(new Msg.Message(null, null, [], Msg.CompressedRtf(rtf)));

        var analysis = MessageAnalyzer.Analyze(WithMsg(msg), AnalysisLimits.Default);

        var body = Assert.Single(analysis.Parts, p => p.PartName == "forwarded.msg/body.rtf");
        Assert.Equal(rtf, Encoding.ASCII.GetString(body.Content.Span));
        Assert.Contains(Scan(WithMsg(msg)), f => f.Kind == VerdictKind.Infected && f.PartName == "forwarded.msg/body.rtf");
    }

    [Fact]
    public void Should_refuse_a_compressed_rtf_body_that_declares_more_than_it_can_hold()
    {
        // MimeKit would size its output from this header: two gigabytes for a few bytes.
        var msg = Msg.Write(new Msg.Message(null, null, [], Msg.CompressedRtf(@"{\rtf1 x}", declaredSize: int.MaxValue)));

        var finding = Assert.Single(Scan(WithMsg(msg)), f => f.Reason.StartsWith("rtf: could not be analysed: corrupt", StringComparison.Ordinal));
        Assert.Equal(("forwarded.msg/body.rtf", "2"), (finding.PartName, finding.MimePath));
    }

    [Fact]
    public void Should_analyse_a_message_attached_to_an_outlook_message_recursively()
    {
        var inner = new Msg.Message("the virus, forwarded", null, [new Msg.Attachment("payload.zip", Zip(("eicar.com", Eicar)))]);
        var msg = Msg.Write(new Msg.Message("fyi", null, [new Msg.Attachment("notes.txt", Text("notes")), new Msg.Attachment("Fwd", Embedded: inner)]));

        var findings = Scan(WithMsg(msg));

        Assert.Contains(findings, f => f.Kind == VerdictKind.Infected && f.PartName == "forwarded.msg/Fwd/payload.zip/eicar.com");
    }

    [Fact]
    public void Should_analyse_the_streams_of_an_ole_object_embedded_in_an_outlook_message()
    {
        var ole = new[] { Msg.Node.Stream("CompObj", Text("Package")), Msg.Node.Folder("Inner", [Msg.Node.Stream("CONTENTS", Eicar)]) };
        var msg = Msg.Write(new Msg.Message("see the drawing", null, [new Msg.Attachment("Drawing", Ole: ole)]));

        var findings = Scan(WithMsg(msg));

        Assert.Contains(findings, f => f.Kind == VerdictKind.Infected && f.PartName == "forwarded.msg/Drawing/Inner/CONTENTS");
    }

    [Fact]
    public void Should_read_large_attachments_from_regular_sectors_and_small_ones_from_the_mini_stream()
    {
        var large = Enumerable.Range(0, 70_000).Select(i => (byte)(i * 7)).ToArray();
        var file = CompoundFile.Open(Msg.Write(new Msg.Message(null, null, [new Msg.Attachment("large.bin", large), new Msg.Attachment("small.bin", Text("small"))])), 1000);

        var message = new OutlookMessage(file, file.Root);
        var attachments = message.Attachments().ToList();

        Assert.Equal(["large.bin", "small.bin"], attachments.Select(a => a.FileName));
        Assert.Equal(large, file.Read(attachments[0].Data!));
        Assert.Equal("small", Encoding.UTF8.GetString(file.Read(attachments[1].Data!)));
    }

    [Theory]
    [InlineData(Msg.Damage.SectorChainLoop, "sector chain loops")]
    [InlineData(Msg.Damage.ChainEndsEarly, "sector chain ends early")]
    [InlineData(Msg.Damage.SizeBeyondFile, "more than the file")]
    [InlineData(Msg.Damage.DirectoryCycle, "a cycle")]
    [InlineData(Msg.Damage.SharedEntries, "belongs to two storages")]
    public void Should_report_a_malformed_outlook_message_as_not_analysable(Msg.Damage damage, string why)
    {
        var msg = Msg.Write(new Msg.Message("hello", null, [new Msg.Attachment("data.bin", new byte[10_000]), new Msg.Attachment("notes.txt", Text("notes"))]), damage);

        var finding = Assert.Single(Scan(WithMsg(msg)), f => f.Reason.StartsWith("outlook: could not be analysed: corrupt", StringComparison.Ordinal));
        Assert.Contains(why, finding.Reason, StringComparison.Ordinal);
        Assert.Equal(("forwarded.msg", "2"), (finding.PartName, finding.MimePath));
    }

    [Fact]
    public void Should_report_a_truncated_outlook_message_as_not_analysable()
    {
        var msg = Msg.Write(new Msg.Message("hello", null, [new Msg.Attachment("data.bin", new byte[10_000])]));

        Assert.Contains(Scan(WithMsg(msg[..(msg.Length / 2)])), f => f.Reason.StartsWith("outlook: could not be analysed: corrupt", StringComparison.Ordinal));
    }

    [Fact]
    public void Should_leave_a_compound_file_that_is_no_message_to_the_other_rules()
    {
        var document = Msg.CompoundFileWriter.Write(Msg.Node.Folder("Root Entry", [Msg.Node.Stream("WordDocument", new byte[5000])]));

        Assert.Empty(Scan(Bytes(Message(Attachment("report.doc", document)))));
        Assert.Contains(Scan(WithMsg(document)), f => f.Reason == "outlook: could not be analysed: a compound file without message properties");
    }

    [Fact]
    public void Should_stop_at_max_mime_depth_in_outlook_messages_nested_in_each_other()
    {
        var message = new Msg.Message("innermost", null, [new Msg.Attachment("eicar.com", Eicar)]);
        for (var i = 0; i < 30; i++) message = new Msg.Message($"level {i}", null, [new Msg.Attachment($"level{i}", Embedded: message)]);

        var findings = Scan(WithMsg(Msg.Write(message)));

        Assert.Contains(findings, f => f.Reason.StartsWith("mime: could not be analysed: limit max-mime-depth", StringComparison.Ordinal) && f.MimePath == "2");
    }

    [Fact]
    public void Should_count_outlook_attachments_against_max_archive_members()
    {
        var msg = Msg.Write(new Msg.Message(null, null, Enumerable.Range(0, 12).Select(i => new Msg.Attachment($"f{i}.txt", Text("x"))).ToList()));

        var analysis = MessageAnalyzer.Analyze(WithMsg(msg), AnalysisLimits.Default with { MaxArchiveMembers = 10 });

        Assert.Contains(analysis.Findings, f => f.Reason.StartsWith("archive: could not be analysed: limit max-archive-members", StringComparison.Ordinal));
        Assert.Equal(10, analysis.Parts.Count(p => p.Source == PartSource.ArchiveMember));
    }

    [Fact]
    public void Should_take_outlook_and_tnef_content_from_the_gateway_budget_and_give_it_all_back()
    {
        var budget = new UnpackBudget(64 * 1024 * 1024);
        var msg = Msg.Write(new Msg.Message("hello", null, [new Msg.Attachment("data.bin", new byte[200_000])]));
        var tnef = TnefWriter.Write("hello", new TnefWriter.Attachment("data.bin", new byte[200_000]));

        using (var account = budget.Open(AnalysisLimits.Default.MaxUnpackedBytes))
        {
            MessageAnalyzer.Analyze(Bytes(Message(Attachment("a.msg", msg), Attachment("winmail.dat", tnef, "application/ms-tnef"))), AnalysisLimits.Default, account);
            Assert.True(account.Used >= 2 * 200_000, $"only {account.Used} bytes were taken");
        }

        Assert.Equal(0, budget.InUse);
    }

    private static string Uuencoded(byte[] data)
    {
        var b = new StringBuilder();
        foreach (var line in data.Chunk(45))
        {
            b.Append((char)(0x20 + line.Length));
            for (var i = 0; i < line.Length; i += 3)
            {
                int b0 = line[i], b1 = i + 1 < line.Length ? line[i + 1] : 0, b2 = i + 2 < line.Length ? line[i + 2] : 0;
                foreach (var sextet in new[] { b0 >> 2, ((b0 & 3) << 4) | (b1 >> 4), ((b1 & 15) << 2) | (b2 >> 6), b2 & 63 })
                    b.Append(sextet == 0 ? '`' : (char)(0x20 + sextet));
            }
            b.Append("\r\n");
        }
        return b.ToString();
    }
}
