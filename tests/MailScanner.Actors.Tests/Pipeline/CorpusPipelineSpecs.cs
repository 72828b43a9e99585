using System.Diagnostics;
using System.Globalization;
using System.Text;
using Akka.TestKit.Xunit2;
using MailScanner.Actors.Cleaning;
using MailScanner.Actors.Hosting;
using MailScanner.Actors.Metrics;
using MailScanner.Actors.Quarantine;
using MailScanner.Actors.Queue.ZMailer;
using MailScanner.Actors.Scanning;
using MailScanner.Actors.Scanning.Engines;
using MailScanner.Actors.Tests.TestSupport;
using Xunit;
using Xunit.Abstractions;

namespace MailScanner.Actors.Tests.Pipeline;

/// <summary>
/// The whole SpamAssassin public corpus (6,046 real messages) through the gateway with a real spamd and the built-in
/// rules: every message must end in exactly one place, and the verdicts are reported against the corpus's labels.
/// The detection rates are spamd's (its shipped rules, no network tests) and are printed; they are asserted only against
/// loose floors (<see cref="MinSpamCaught"/>, <see cref="MinHamPassed"/>), which a wiring fault fails (spamd never
/// reached: no spam flagged; every message flagged: no ham passed) and a change in spamd's rules does not.
/// </summary>
[Collection(ScannerDaemonCollection.Name)]
public sealed class CorpusPipelineSpecs : TestKit
{
    /// <summary>
    /// spamd is CPU-bound (about 0.1–0.2 CPU-seconds per corpus message here): one child per core keeps both cores
    /// busy, and the engine keeps exactly that many calls open, so no message waits in spamd's listen queue against
    /// its timeout.
    /// </summary>
    private static readonly int SpamdChildren = Math.Clamp(Environment.ProcessorCount, 2, 4);

    private static readonly ScannerEngineSettings SpamdEngine = new(Timeout: TimeSpan.FromMinutes(2), MaxConcurrent: SpamdChildren,
        UnhealthyAfterFailures: 3, ProbeMinBackoff: TimeSpan.FromMilliseconds(200), ProbeMaxBackoff: TimeSpan.FromSeconds(5));

    /// <summary>
    /// How long the pipeline may go without finishing a single message. spamd's speed follows the machine (on a shared
    /// two-core machine it was seen at 2–15 messages/s), so the test waits as long as messages keep coming out and
    /// fails as soon as they stop, rather than guessing one total.
    /// </summary>
    private static readonly TimeSpan StallLimit = TimeSpan.FromMinutes(3);

    /// <summary>The last resort, for a pipeline that crawls without ever stalling.</summary>
    private static readonly TimeSpan Deadline = TimeSpan.FromMinutes(60);

    private const string RecipientDomain = "corpus.test";

    /// <summary>Of the corpus's spam, at least this share gets the verdict spam or high spam.</summary>
    private const double MinSpamCaught = 0.40;

    /// <summary>Of the corpus's ham, at least this share does not get the verdict spam or high spam.</summary>
    private const double MinHamPassed = 0.90;

    /// <summary>
    /// The whole corpus unless told otherwise: with Bayes off and the body rules compiled (see <see cref="SpamdDaemon"/>)
    /// spamd takes about 0.1 CPU-seconds a message, so all 6,046 take 5–6 minutes on two cores.
    /// <c>MAILSCANNER_CORPUS_SAMPLE=N</c> sends every Nth message instead, for a quicker run by hand.
    /// </summary>
    private static readonly int SampleEvery =
        int.TryParse(Environment.GetEnvironmentVariable("MAILSCANNER_CORPUS_SAMPLE"), out var every) && every > 1 ? every : 1;

    private readonly ITestOutputHelper _output;

    public CorpusPipelineSpecs(ITestOutputHelper output) : base("akka.loglevel = ERROR") => _output = output;

    [Fact]
    public async Task Should_give_each_corpus_message_exactly_one_outcome_through_spamd_and_report_the_confusion_matrix()
    {
        var whole = SpamAssassinCorpus.Load();
        Assert.Equal(SpamAssassinCorpus.ExpectedCount, whole.Count);
        Assert.Equal(whole.Count, whole.Select(message => message.Key).Distinct().Count());
        var corpus = whole.Where((_, i) => i % SampleEvery == 0).ToList();
        _output.WriteLine(SampleEvery == 1
            ? $"corpus: all {corpus.Count} messages"
            : $"corpus: {corpus.Count} of {whole.Count} messages (every {SampleEvery}th, MAILSCANNER_CORPUS_SAMPLE={SampleEvery})");

        using var spamd = SpamdDaemon.WithChildren(SpamdChildren);
        await spamd.StartAsync();
        using var bed = new GatewayTestbed();
        // Each message is known by its envelope recipient, so the message itself reaches spamd untouched.
        bed.EnqueueBacklog(corpus.Select(message => ZMailerQueueFile.Format(
            new Envelope("corpus@sender.test", [$"{message.Key}@{RecipientDomain}"], null, []), message.Message)));

        var clock = Stopwatch.StartNew();
        var counters = new PipelineCounters();
        var defaults = bed.Settings();
        await using var gateway = await HostedGateway.StartAsync(defaults with
        {
            Scanners = defaults.Scanners with
            {
                Spamd = defaults.Scanners.Spamd with { Enabled = true, Address = spamd.Address, Engine = SpamdEngine },
            },
        }, counters, hocon: "akka.loglevel = ERROR");

        // A delivered or quarantined message has its original deleted; a refused one was moved to bad.
        long Done() => counters.Deleted + counters.Refused;
        var progress = (Done: 0L, At: clock.Elapsed);
        bool FinishedOrStalled()
        {
            if (Done() >= corpus.Count) return true;
            if (Done() != progress.Done) progress = (Done(), clock.Elapsed);
            return clock.Elapsed - progress.At > StallLimit;
        }
        await Eventually.Holds(FinishedOrStalled, Deadline, () => $"every corpus message to have an outcome ({Done()} of {corpus.Count}; {counters})",
            TimeSpan.FromSeconds(1));
        Assert.True(Done() >= corpus.Count,
            $"no corpus message got an outcome for {StallLimit.TotalMinutes} minutes; {Done()} of {corpus.Count} done after " +
            $"{clock.Elapsed.TotalSeconds:F0} s; {counters}; spamd {(spamd.IsRunning ? "is running" : "is not running")}, its last output:\n{spamd.Output()}");
        var elapsed = clock.Elapsed;

        var outcomes = Outcomes.Read(bed);
        var report = Report(corpus, outcomes, elapsed, counters);
        _output.WriteLine(report);
        Console.WriteLine(report);

        Assert.Empty(outcomes.Unrecognised);
        var lost = corpus.Where(message => outcomes.Of(message.Key).Count == 0).Select(message => message.Key).ToList();
        var duplicated = corpus.Where(message => outcomes.Of(message.Key).Count > 0 && !IsExactlyOneOutcome(outcomes.Of(message.Key)))
            .Select(message => $"{message.Key}: {string.Join(", ", outcomes.Of(message.Key))}").ToList();
        Assert.True(lost.Count == 0, $"{lost.Count} corpus messages are nowhere: {string.Join(", ", lost.Take(20))}");
        Assert.True(duplicated.Count == 0, $"{duplicated.Count} corpus messages have more than one outcome: {string.Join("; ", duplicated.Take(20))}");
        Assert.Empty(GatewayTestbed.AllEntries(bed.Incoming));
        Assert.Empty(GatewayTestbed.AllEntries(bed.Work));
        Assert.Equal(corpus.Count, counters.Deleted + counters.Refused);

        // spamd was reached: every delivered message carries the score it gave.
        var delivered = corpus.SelectMany(message => outcomes.Of(message.Key)).Where(outcome => outcome.Place == Place.Delivered).ToList();
        Assert.NotEmpty(delivered);
        Assert.All(delivered, outcome => Assert.NotNull(outcome.SpamScore));
        var spamCaught = Share(corpus.Where(message => message.IsSpam), message => outcomes.FinalVerdict(message.Key) is "spam" or "high spam");
        var hamPassed = Share(corpus.Where(message => !message.IsSpam), message => outcomes.FinalVerdict(message.Key) is not ("spam" or "high spam"));
        Assert.True(spamCaught >= MinSpamCaught, $"only {spamCaught:P1} of the spam was flagged (floor {MinSpamCaught:P0}): is spamd's answer used?");
        Assert.True(hamPassed >= MinHamPassed, $"only {hamPassed:P1} of the ham passed as not spam (floor {MinHamPassed:P0})");
    }

    private static double Share(IEnumerable<CorpusMessage> messages, Func<CorpusMessage, bool> holds)
    {
        var list = messages.ToList();
        return list.Count == 0 ? 0 : (double)list.Count(holds) / list.Count;
    }

    /// <summary>
    /// One outcome: delivered once (its original also kept in quarantine only when it was delivered cleaned), or
    /// quarantined once, or refused once.
    /// </summary>
    private static bool IsExactlyOneOutcome(IReadOnlyList<Outcome> outcomes) => outcomes switch
    {
        [{ Place: Place.Delivered }] or [{ Place: Place.Quarantined }] or [{ Place: Place.Refused }] => true,
        [{ Place: Place.Delivered } delivered, { Place: Place.Quarantined } original] => delivered.WasCleaned && original.Verdict == delivered.Verdict,
        _ => false,
    };

    private string Report(IReadOnlyList<CorpusMessage> corpus, Outcomes outcomes, TimeSpan elapsed, PipelineCounters counters)
    {
        var text = new StringBuilder();
        var perSecond = corpus.Count / elapsed.TotalSeconds;
        text.AppendLine(CultureInfo.InvariantCulture,
            $"SpamAssassin corpus through the gateway (built-in rules + spamd, {SpamdChildren} spamd children, engine max-concurrent {SpamdEngine.MaxConcurrent}):");
        text.AppendLine(CultureInfo.InvariantCulture,
            $"  {corpus.Count} messages in {elapsed.TotalSeconds:F1} s ({perSecond:F1} messages/s); {counters}");

        // The final verdict of each message (the most severe finding of any scanner) and spamd's own opinion.
        var columns = new[] { "clean", "spam", "high spam", "dangerous content", "infected", "refused" };
        text.AppendLine("  verdicts by corpus label:");
        text.AppendLine(CultureInfo.InvariantCulture, $"    {"",-10}{string.Join("", columns.Select(c => c.PadLeft(19)))}");
        foreach (var isSpam in new[] { false, true })
        {
            var messages = corpus.Where(m => m.IsSpam == isSpam).ToList();
            var counts = columns.Select(column => messages.Count(m => outcomes.FinalVerdict(m.Key) == column));
            text.AppendLine(CultureInfo.InvariantCulture,
                $"    {(isSpam ? "spam" : "ham") + $" ({messages.Count})",-10}{string.Join("", counts.Select(c => c.ToString(CultureInfo.InvariantCulture).PadLeft(19)))}");
        }

        int Count(bool isSpam, Func<string, bool> flagged) => corpus.Count(m => m.IsSpam == isSpam && flagged(m.Key));
        bool ByVerdict(string key) => outcomes.FinalVerdict(key) is "spam" or "high spam";
        bool BySpamd(string key) => outcomes.SpamdSaysSpam(key);
        AppendMatrix(text, "confusion matrix, X-MailScanner-Actors verdict spam or high spam = flagged",
            Count(true, ByVerdict), Count(false, ByVerdict), Count(true, k => !ByVerdict(k)), Count(false, k => !ByVerdict(k)));
        AppendMatrix(text, "spamd's score at or over its threshold (X-MailScanner-Actors-SpamScore), whatever the final verdict",
            Count(true, BySpamd), Count(false, BySpamd), Count(true, k => !BySpamd(k)), Count(false, k => !BySpamd(k)));
        return text.ToString();
    }

    private static void AppendMatrix(StringBuilder text, string title, int truePositive, int falsePositive, int falseNegative, int trueNegative)
    {
        var total = truePositive + falsePositive + falseNegative + trueNegative;
        text.AppendLine(CultureInfo.InvariantCulture, $"  {title}:");
        text.AppendLine(CultureInfo.InvariantCulture, $"    {"",-12}{"flagged",12}{"not flagged",14}");
        text.AppendLine(CultureInfo.InvariantCulture, $"    {"spam",-12}{truePositive,12}{falseNegative,14}");
        text.AppendLine(CultureInfo.InvariantCulture, $"    {"ham",-12}{falsePositive,12}{trueNegative,14}");
        static string Ratio(int a, int b) => b == 0 ? "n/a" : ((double)a / b).ToString("P1", CultureInfo.InvariantCulture);
        text.AppendLine(CultureInfo.InvariantCulture,
            $"    spam caught (recall) {Ratio(truePositive, truePositive + falseNegative)}, ham flagged (false positive rate) " +
            $"{Ratio(falsePositive, falsePositive + trueNegative)}, precision {Ratio(truePositive, truePositive + falsePositive)}, " +
            $"accuracy {Ratio(truePositive + trueNegative, total)}");
    }

    private enum Place { Delivered, Quarantined, Refused }

    /// <param name="Verdict">The verdict's name as in the X-MailScanner-Actors header; null for a refused message.</param>
    /// <param name="SpamScore">The X-MailScanner-Actors-SpamScore value (<c>7.2 / 5.0</c>) of a delivered message.</param>
    /// <param name="WasCleaned">Delivered with a part replaced: then its original is in quarantine as well.</param>
    private sealed record Outcome(Place Place, string? Verdict, string? SpamScore = null, bool WasCleaned = false)
    {
        public override string ToString() => $"{Place} ({Verdict ?? "no verdict"})";
    }

    /// <summary>Where every queue file ended up, by the corpus key in its envelope recipient.</summary>
    private sealed class Outcomes
    {
        private readonly Dictionary<string, List<Outcome>> _byKey = new(StringComparer.Ordinal);

        public List<string> Unrecognised { get; } = [];

        public IReadOnlyList<Outcome> Of(string key) => _byKey.TryGetValue(key, out var list) ? list : [];

        public string FinalVerdict(string key) => Of(key) switch
        {
            [] => "lost",
            [{ Place: Place.Refused }, ..] => "refused",
            [var first, ..] => first.Verdict ?? "unknown",
        };

        public bool SpamdSaysSpam(string key)
        {
            var score = Of(key).Select(o => o.SpamScore).FirstOrDefault(s => s is not null);
            if (score is null) return false;
            var parts = score.Split('/', StringSplitOptions.TrimEntries);
            return parts.Length == 2
                && double.TryParse(parts[0], NumberStyles.Float, CultureInfo.InvariantCulture, out var value)
                && double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var threshold)
                && value >= threshold;
        }

        public static Outcomes Read(GatewayTestbed bed)
        {
            var outcomes = new Outcomes();
            foreach (var path in GatewayTestbed.AllEntries(bed.Outgoing))
            {
                var content = File.ReadAllBytes(path);
                outcomes.AddByEnvelope(path, content, parsed =>
                {
                    var headers = HeaderBlock(content.AsSpan(parsed.MessageOffset));
                    var verdict = Header(headers, MessageCleaner.VerdictHeader);
                    // Infected and dangerous mail is delivered cleaned (the default policy): its original is kept in quarantine too.
                    var cleaned = verdict is "dangerous content" or "infected";
                    return new Outcome(Place.Delivered, verdict, Header(headers, MessageCleaner.SpamScoreHeader), cleaned);
                });
            }
            foreach (var entry in new QuarantineStore(bed.Quarantine).List())
            {
                var key = KeyOf(entry.Metadata.Recipients);
                if (key is null) outcomes.Unrecognised.Add(entry.Directory);
                else outcomes.Add(key, new Outcome(Place.Quarantined, Verdict.Name(entry.Metadata.Verdict)));
            }
            foreach (var path in GatewayTestbed.AllEntries(bed.Bad).Where(File.Exists))
                outcomes.AddByEnvelope(path, File.ReadAllBytes(path), _ => new Outcome(Place.Refused, null));
            foreach (var list in outcomes._byKey.Values) list.Sort((a, b) => a.Place.CompareTo(b.Place));
            return outcomes;
        }

        private void AddByEnvelope(string path, byte[] content, Func<ZMailerParseResult.Parsed, Outcome> outcome)
        {
            if (ZMailerQueueFile.Parse(content) is ZMailerParseResult.Parsed parsed && KeyOf(parsed.Envelope.Recipients) is { } key)
            {
                Add(key, outcome(parsed));
                return;
            }
            Unrecognised.Add(path);
        }

        private void Add(string key, Outcome outcome)
        {
            if (!_byKey.TryGetValue(key, out var list)) _byKey[key] = list = [];
            list.Add(outcome);
        }

        private static string? KeyOf(IReadOnlyList<string> recipients) =>
            recipients is [var only] && only.EndsWith($"@{RecipientDomain}", StringComparison.Ordinal) ? only[..only.IndexOf('@')] : null;

        /// <summary>The message's header block (up to the first empty line), as Latin-1 text.</summary>
        private static string HeaderBlock(ReadOnlySpan<byte> message)
        {
            var end = message.IndexOf("\n\n"u8);
            var crlfEnd = message.IndexOf("\r\n\r\n"u8);
            if (crlfEnd >= 0 && (end < 0 || crlfEnd < end)) end = crlfEnd;
            return Encoding.Latin1.GetString(end < 0 ? message : message[..end]);
        }

        /// <summary>The unfolded value of the first header called <paramref name="name"/>, or null.</summary>
        private static string? Header(string headers, string name)
        {
            var lines = headers.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
            for (var i = 0; i < lines.Length; i++)
            {
                var colon = lines[i].IndexOf(':', StringComparison.Ordinal);
                if (colon <= 0 || !lines[i][..colon].Trim().Equals(name, StringComparison.OrdinalIgnoreCase)) continue;
                var value = new StringBuilder(lines[i][(colon + 1)..].Trim());
                while (i + 1 < lines.Length && lines[i + 1] is [' ' or '\t', ..]) value.Append(' ').Append(lines[++i].Trim());
                return value.ToString();
            }
            return null;
        }
    }
}
