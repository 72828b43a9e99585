using System.Diagnostics;
using System.Text;
using CsCheck;
using MailScanner.Actors.Cleaning;
using MailScanner.Actors.Queue.ZMailer;
using MailScanner.Actors.Scanning;
using MailScanner.Actors.Scanning.Limits;
using MailScanner.Actors.Scanning.Rules;
using MailScanner.Actors.Tests.Scanning;
using MailScanner.Actors.Tests.TestSupport;
using MimeKit;
using Xunit;

namespace MailScanner.Actors.Tests.Fuzz;

/// <summary>
/// Every parser that reads what a sender controls, fed random and mutated input (truncations, bit flips, spliced
/// messages, a line repeated thousands of times, a line hundreds of kilobytes long): it answers, it does not throw,
/// and it does not take long. The test command runs <see cref="Iterations"/> cases per parser; set
/// <c>MAILSCANNER_FUZZ_ITERATIONS</c> for a longer run by hand. A failure prints its CsCheck seed and the shrunk
/// input: keep that input as a regression case below, so it is checked on every run whatever the generators become.
/// </summary>
public sealed class ParserFuzzSpecs
{
    private static readonly long Iterations =
        long.TryParse(Environment.GetEnvironmentVariable("MAILSCANNER_FUZZ_ITERATIONS"), out var n) && n > 0 ? n : 150;

    /// <summary>A case may take this long at the most: a parser that is quadratic on some input shows up here.</summary>
    private static readonly TimeSpan PerCase = TimeSpan.FromSeconds(10);


    /// <summary>Well-formed messages of every shape the analyser knows, for the mutations to start from.</summary>
    private static readonly byte[][] Seeds =
    [
        TestMail.Raw("From: a@example.org\nTo: b@example.com\nSubject: plain\n\nHello.\n"),
        TestMail.Bytes(TestMail.Message(TestMail.Attachment("eicar.com", TestMail.Eicar))),
        TestMail.Bytes(TestMail.Message(TestMail.Attachment("docs.zip", TestMail.Zip(("a.txt", TestMail.Text("hello")), ("b.exe", TestMail.PortableExecutable()))))),
        TestMail.Bytes(TestMail.Message(TestMail.Attachment("t.tar", TestMail.Tar(("x.txt", TestMail.Text("tar member")))))),
        TestMail.Bytes(TestMail.Message(TestMail.Attachment("g.gz", TestMail.Gzip(TestMail.Eicar)))),
        TestMail.Bytes(TestMail.HtmlMessage("<html><body><a href=\"http://evil.example/\">https://bank.example/</a><script>x()</script><iframe src=x></iframe></body></html>")),
        TestMail.Bytes(TestMail.Message(TestMail.Forwarded(TestMail.Message(TestMail.Attachment("inner.pdf.exe", TestMail.PortableExecutable()))))),
        // Issue 16's hidden layers: .eml in a zip, uuencode, yEnc, encoded attached messages, lying and truncated archives.
        .. HostileCorpus.EicarCarriers().Select(carrier => carrier.Message),
    ];

    private static readonly Gen<byte[]> MutatedMessages =
        Gen.Select(Gen.Int[0, Seeds.Length - 1], Gen.Int[0, 5], Gen.Int[0, int.MaxValue], Gen.Int[0, int.MaxValue], Mutate);

    private static readonly Gen<byte[]> Messages = Gen.Frequency((4, MutatedMessages), (1, Gen.Byte.Array[0, 4096]));

    private static byte[] Mutate(int seed, int kind, int a, int b)
    {
        var original = Seeds[seed];
        var at = a % (original.Length + 1);
        switch (kind)
        {
            case 0: // truncated anywhere
                return original[..at];
            case 1: // a few bits flipped
                var flipped = (byte[])original.Clone();
                for (var i = 0; i < 1 + b % 8 && flipped.Length > 0; i++)
                    flipped[(at + i * 7919) % flipped.Length] ^= (byte)(1 << ((b >> i) & 7));
                return flipped;
            case 2: // the head of one message spliced onto the tail of another
                var other = Seeds[b % Seeds.Length];
                return [.. original[..at], .. other[(b % (other.Length + 1))..]];
            case 3: // one line repeated thousands of times (headers, boundaries)
                var start = Array.LastIndexOf(original, (byte)'\n', Math.Max(0, at - 1)) + 1;
                var end = Array.IndexOf(original, (byte)'\n', at);
                var line = original[start..(end < 0 ? original.Length : end + 1)];
                var repeated = Enumerable.Repeat(line, 1 + b % 3000).SelectMany(l => l);
                return [.. original[..start], .. repeated, .. original[start..]];
            case 4: // one enormous line
                return [.. original[..at], .. Enumerable.Repeat((byte)'x', b % 300_000), .. original[at..]];
            default: // nesting: the message wrapped in itself as an attachment, several times
                var nested = original;
                for (var i = 0; i < 1 + b % 6; i++)
                    nested = TestMail.Bytes(TestMail.Message(TestMail.Attachment($"layer{i}.eml", nested, "message/rfc822")));
                return nested;
        }
    }

    [Fact]
    public void Should_parse_any_bytes_as_a_zmailer_queue_file_or_say_why_not() =>
        Gen.Byte.Array[0, 2048].Select(Gen.Int[0, 3], (bytes, prefix) => prefix switch
            {
                0 => bytes,
                1 => [.. "from <a@b>\nto <c@d>\n"u8, .. bytes],
                2 => [.. "from <a@b>\nto <c@d>\nenv-end\n"u8, .. bytes],
                _ => [.. bytes, .. "\nenv-end\n"u8],
            })
            .Sample(bytes => Bounded(() => Assert.NotNull(ZMailerQueueFile.Parse(bytes))), iter: Iterations * 10, threads: 1);

    [Fact]
    public void Should_scan_any_message_with_the_built_in_rules_without_throwing() =>
        Messages.Sample(message => Bounded(() =>
        {
            // A small budget, so that the budget's refusals are fuzzed too: it is never exceeded and always given back.
            var budget = new UnpackBudget(4 * 1024 * 1024);
            var report = BuiltInRules.Scan(message, RuleSettings.Default, budget);
            Assert.All(report.Findings, finding => Assert.False(string.IsNullOrWhiteSpace(finding.Reason)));
            Assert.True(budget.Peak <= budget.Capacity, $"held {budget.Peak} of {budget.Capacity}");
            Assert.Equal(0, budget.InUse);
        }), iter: Iterations, threads: 1);

    /// <summary>
    /// The containers the analyser takes apart below MIME (a TNEF stream, an Outlook .msg compound file), mutated at
    /// their own level: a bit flip inside base64 text is rarely a structural lie, a sector number or length overwritten
    /// in the raw file is.
    /// </summary>
    private static readonly (string FileName, string Type, byte[] Bytes)[] ContainerSeeds =
    [
        ("winmail.dat", "application/ms-tnef", TnefWriter.Write("body", OutlookMessageWriter.CompressedRtf(@"{\rtf1 rich}"), new TnefWriter.Attachment("eicar.com", TestMail.Eicar),
            new TnefWriter.Attachment("docs.zip", TestMail.Zip(("a.txt", TestMail.Text("hello")))),
            new TnefWriter.Attachment("Fwd", TnefWriter.Write("inner", new TnefWriter.Attachment("x.exe", TestMail.PortableExecutable())), IsMessage: true))),
        ("fwd.msg", "application/vnd.ms-outlook", OutlookMessageWriter.Write(new OutlookMessageWriter.Message("plain body", "<html><script>x()</script></html>",
        [
            new OutlookMessageWriter.Attachment("large.bin", Enumerable.Range(0, 9000).Select(i => (byte)i).ToArray()),
            new OutlookMessageWriter.Attachment("eicar.com", TestMail.Eicar),
            new OutlookMessageWriter.Attachment("Drawing", Ole: [OutlookMessageWriter.Node.Folder("Inner", [OutlookMessageWriter.Node.Stream("CONTENTS", TestMail.Eicar)])]),
            new OutlookMessageWriter.Attachment("inner", Embedded: new OutlookMessageWriter.Message("inner body", null, [new OutlookMessageWriter.Attachment("x.exe", TestMail.PortableExecutable())])),
        ], OutlookMessageWriter.CompressedRtf(@"{\rtf1\ansi a body in rich text}")))),
    ];

    /// <summary>Values that sector numbers, lengths and counts must survive: the special sector marks, zero, one past, huge.</summary>
    private static readonly uint[] HostileWords = [0, 1, 2, 0x10, 0xFFFFFFFA, 0xFFFFFFFC, 0xFFFFFFFD, 0xFFFFFFFE, 0xFFFFFFFF, 0x7FFFFFFF, 0x80000000];

    private static readonly Gen<(int Seed, byte[] Bytes)> MutatedContainers =
        Gen.Select(Gen.Int[0, ContainerSeeds.Length - 1], Gen.Int[0, 3], Gen.Int[0, int.MaxValue], Gen.Int[0, int.MaxValue], (seed, kind, a, b) =>
        {
            var bytes = (byte[])ContainerSeeds[seed].Bytes.Clone();
            var at = a % bytes.Length;
            switch (kind)
            {
                case 0: // truncated anywhere
                    return (seed, bytes[..at]);
                case 1: // a few bits flipped
                    for (var i = 0; i < 1 + b % 8; i++) bytes[(at + i * 7919) % bytes.Length] ^= (byte)(1 << ((b >> i) & 7));
                    return (seed, bytes);
                case 2: // a word overwritten with a hostile value, aligned as sector numbers, sizes and lengths are
                    var word = at / 4 * 4;
                    if (word + 4 <= bytes.Length) BitConverter.TryWriteBytes(bytes.AsSpan(word), HostileWords[b % HostileWords.Length]);
                    return (seed, bytes);
                default: // a stretch copied over another place in the file
                    var length = Math.Min(1 + b % 512, bytes.Length - at);
                    var to = b % (bytes.Length - length + 1);
                    bytes.AsSpan(at, length).ToArray().CopyTo(bytes, to);
                    return (seed, bytes);
            }
        });

    [Fact]
    public void Should_analyse_any_tnef_or_outlook_message_without_throwing_or_passing_the_budget() =>
        MutatedContainers.Sample(mutated => Bounded(() =>
        {
            var (fileName, type, _) = ContainerSeeds[mutated.Seed];
            var message = TestMail.Bytes(TestMail.Message(TestMail.Attachment(fileName, mutated.Bytes, type)));
            var budget = new UnpackBudget(4 * 1024 * 1024);
            var report = BuiltInRules.Scan(message, RuleSettings.Default, budget);
            Assert.All(report.Findings, finding => Assert.False(string.IsNullOrWhiteSpace(finding.Reason)));
            Assert.True(budget.Peak <= budget.Capacity, $"held {budget.Peak} of {budget.Capacity}");
            Assert.Equal(0, budget.InUse);
        }), iter: Iterations * 2, threads: 1);

    [Fact]
    public void Should_clean_any_message_the_rules_judged_into_a_message_mime_can_read() =>
        Messages.Sample(message => Bounded(() =>
        {
            var report = BuiltInRules.Scan(message, RuleSettings.Default);
            var verdict = Verdict.Of(report.Findings.ToList());
            var request = new CleaningRequest(verdict, report.Findings, null, ReplaceDangerousParts: true, "{Dangerous Content?}", HtmlSettings.Default);
            var cleaned = MessageCleaner.CleanAsNeeded(message, request, report.HasActiveHtml);
            Assert.True(Readable(cleaned.Message) || !Readable(message),
                $"cleaning made a readable message unreadable:\n{Encoding.Latin1.GetString(message)}\n---\n{Encoding.Latin1.GetString(cleaned.Message)}");
        }), iter: Iterations, threads: 1);

    [Fact]
    public void Should_leave_no_active_content_in_html_it_disarmed() =>
        HtmlFragments.Sample(html => Bounded(() =>
        {
            var (disarmed, _) = HtmlDisarm.Disarm(html);
            var left = HtmlDisarm.Find(disarmed);
            Assert.True(left.Count == 0, $"still active after disarming: {string.Join("; ", left.Select(c => c.Description))}\n{disarmed}");
        }), iter: Iterations * 4, threads: 1);

    /// <summary>Inputs a fuzz run once broke, kept as they were found.</summary>
    [Theory]
    // A bogus comment ("</=" up to the first '>') was written back as "<=...", turning its inert text into a live
    // javascript: link in the disarmed copy (seed 3IkO2DFUJ1K1, 6,000 cases).
    [InlineData("'</=text<a href=\"javascript:alert(1)\"><scr<![CDATA[&lt;<scr\0<div>>/")]
    [InlineData("</ x <a href=javascript:alert(1)>click</a>")]
    public void Should_keep_html_a_fuzz_run_once_broke_inert_after_disarming(string html)
    {
        var (disarmed, _) = HtmlDisarm.Disarm(html);

        // Read again as a browser would, nothing active is left: the link stayed inside the comment it was in.
        Assert.Empty(HtmlDisarm.Find(disarmed));
    }

    /// <summary>Random HTML built from the pieces that disarming is about: tags, attributes, quotes, comments, entities.</summary>
    private static readonly Gen<string> HtmlFragments =
        Gen.OneOf<string>("<script>", "</script>", "<SCRIPT src=x>", "<iframe src=\"x\">", "<object data=x>", "<form action=y>",
                "<a href=\"javascript:alert(1)\">", "<img src=x onerror=alert(1)>", "<!--", "-->", "<![CDATA[", "]]>", "<", ">", "\"", "'",
                "=", " ", "onload=", "&lt;", "&#60;", "<style>", "</style>", "<svg onload=x>", "<div>", "text", "<body onload=z>",
                "<embed src=e>", "<meta http-equiv=refresh content=0;url=x>", "<base href=x>", "\0", "/", "<scr", "ipt>")
            .Array[0, 60].Select(parts => string.Concat(parts));

    private static bool Readable(byte[] message)
    {
        try
        {
            MimeMessage.Load(new MemoryStream(message));
            return true;
        }
        catch (FormatException)
        {
            return false;
        }
    }

    private static void Bounded(Action body)
    {
        var clock = Stopwatch.StartNew();
        body();
        Assert.True(clock.Elapsed < PerCase, $"took {clock.Elapsed.TotalSeconds:F1}s (limit {PerCase.TotalSeconds}s)");
    }
}
