using System.Diagnostics;
using System.Text;
using MailScanner.Actors.Cleaning;
using MailScanner.Actors.Configuration;
using MailScanner.Actors.Quarantine;
using MailScanner.Actors.Scanning;
using MailScanner.Actors.Scanning.Engines;
using MailScanner.Actors.Tests.Scanning;
using Xunit;
using Xunit.Abstractions;
using SinkFile = MailScanner.Actors.Tests.Queue.Postfix.PostfixQueueEndToEndSpecs.SinkFile;

namespace MailScanner.Actors.Tests.TestSupport;

/// <summary>
/// The end-to-end run every real MTA goes through with the gateway in its path, the same code for each: real mail over
/// real SMTP to the private MTA, scanned by the running gateway (built-in rules and a real spamd), handed back and
/// delivered by the MTA to smtp-sink; then every message arrived exactly once with the gateway's header, no EICAR
/// arrived and each is in the quarantine, the MTA's queues are empty and its log reports every delivery and no
/// queue-file error.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public static class MtaGatewayRun
{
    /// <summary>Each run takes every <see cref="CorpusStride"/>th corpus message from its own offset: over 500 each.</summary>
    public const int CorpusStride = 12;

    private const string CorpusDomain = "corpus.test";
    private const string CorpusSender = "sender@" + CorpusDomain;

    /// <summary>How long a run may go without one more message reaching the sink (spamd's pace follows the shared machine).</summary>
    private static readonly TimeSpan StallLimit = TimeSpan.FromMinutes(2);

    /// <summary>
    /// Over 500 SpamAssassin corpus messages (every <see cref="CorpusStride"/>th from <paramref name="offset"/>), three
    /// EICAR and three GTUBE messages, sent four at a time as outside servers would, each to a recipient of its own
    /// (<c>key@corpus.test</c>) by which it is known at the sink, so its body goes through untouched. The gateway runs
    /// on <paramref name="settings"/> (the MTA's queues) with a spamd of its own.
    /// </summary>
    public static async Task DeliverCorpusAsync(IPrivateMta mta, GatewaySettings settings, int offset, ITestOutputHelper output)
    {
        var clock = Stopwatch.StartNew();
        var corpus = SpamAssassinCorpus.Load().Where((_, i) => i % CorpusStride == offset)
            .Select(message => (message.Key, Message: Encoding.Latin1.GetString(message.Message))).ToList();
        Assert.True(corpus.Count >= 500, $"only {corpus.Count} corpus messages");
        var eicar = Enumerable.Range(0, 3).Select(i => (Key: $"eicar-{i}", Message: Encoding.ASCII.GetString(
            TestMail.Bytes(TestMail.Message(TestMail.Attachment($"invoice{i}.com", TestMail.Eicar)))))).ToList();
        var gtube = Enumerable.Range(0, 3).Select(i => (Key: $"gtube-{i}", Message:
            $"From: Spammer <spammer@example.org>\nTo: gtube-{i}@{CorpusDomain}\nSubject: gtube {i}\n\nThis is the GTUBE test.\n{SpamdDaemon.Gtube}\n")).ToList();
        var all = corpus.Concat(eicar).Concat(gtube).ToList();

        using var spamd = SpamdDaemon.WithChildren(2);
        await spamd.StartAsync();
        var withSpamd = settings with
        {
            Scanners = settings.Scanners with
            {
                Spamd = settings.Scanners.Spamd with
                {
                    Enabled = true,
                    Address = spamd.Address,
                    Engine = new ScannerEngineSettings(TimeSpan.FromMinutes(2), spamd.Children, 3, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(5)),
                },
            },
        };
        await using var gateway = await HostedGateway.StartAsync(withSpamd, hocon: "akka.loglevel = ERROR");
        var started = clock.Elapsed;

        // Latin-1 puts each byte of the corpus on the wire as it is.
        await Parallel.ForEachAsync(all, new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (message, _) =>
        {
            try
            {
                await PostfixInstance.SendOverSmtpAsync(mta.SmtpPort, CorpusSender, [$"{message.Key}@{CorpusDomain}"], message.Message, Encoding.Latin1);
            }
            catch (IOException refused)
            {
                throw new IOException($"{mta.Name} refused {message.Key}: {refused.Message}; log tail:\n{mta.LogTail()}", refused);
            }
        });
        var sent = clock.Elapsed;

        var sink = new CompleteSinkFiles(mta);
        var progress = (Count: 0, At: clock.Elapsed);
        bool DeliveredOrStalled()
        {
            var count = sink.Count();
            // A delivery's log line can reach the spec after the queue is empty (sendmail's comes through a syslog socket): wait for it too.
            if (count >= all.Count && mta.QueuedFiles().Count == 0 && mta.DeliveriesLogged() >= all.Count) return true;
            if (count != progress.Count) progress = (count, clock.Elapsed);
            return clock.Elapsed - progress.At > StallLimit;
        }
        await Eventually.Holds(DeliveredOrStalled, TimeSpan.FromMinutes(30), "the sink to receive every message or a stall", TimeSpan.FromMilliseconds(250));
        var delivered = mta.SinkFiles().Select(path => SinkFile.Read(path, Encoding.Latin1)).ToList();
        Assert.True(delivered.Count >= all.Count && mta.QueuedFiles().Count == 0,
            $"{delivered.Count} of {all.Count} delivered by {mta.Name}, none more for {StallLimit.TotalMinutes} min; {gateway.Counters}; " +
            $"queued: {string.Join(' ', mta.QueuedFiles().Take(20).Select(Path.GetFileName))}; log tail:\n{mta.LogTail()}");
        var elapsed = clock.Elapsed;

        var byKey = delivered.GroupBy(copy => Assert.Single(copy.RcptTo).Split('@')[0]).ToDictionary(group => group.Key, group => group.ToList());
        var missing = all.Where(message => !byKey.ContainsKey(message.Key)).Select(message => message.Key).ToList();
        var twice = byKey.Where(pair => pair.Value.Count > 1).Select(pair => $"{pair.Key} x{pair.Value.Count}").ToList();
        Assert.True(missing.Count == 0, $"{missing.Count} never arrived: {string.Join(", ", missing.Take(20))}");
        Assert.True(twice.Count == 0, $"{twice.Count} arrived more than once: {string.Join(", ", twice.Take(20))}");
        Assert.Equal(all.Count, byKey.Count);
        Assert.All(delivered, copy => Assert.Equal(CorpusSender, copy.MailFrom));
        Assert.All(delivered, copy => Assert.Contains($"\n{MessageCleaner.VerdictHeader}: ", "\n" + copy.Message, StringComparison.Ordinal));

        // No EICAR arrives: each is delivered cleaned, its original kept in the quarantine.
        Assert.All(delivered, copy => Assert.DoesNotContain("EICAR-STANDARD-ANTIVIRUS-TEST-FILE", copy.Message, StringComparison.Ordinal));
        Assert.All(delivered, copy => Assert.DoesNotContain(Convert.ToBase64String(TestMail.Eicar)[..40], copy.Message, StringComparison.Ordinal));
        var quarantined = new QuarantineStore(settings.Quarantine.Directory).List();
        foreach (var (key, _) in eicar)
            Assert.Equal(VerdictKind.Infected, Assert.Single(quarantined, entry => entry.Metadata.Recipients.SequenceEqual([$"{key}@{CorpusDomain}"])).Metadata.Verdict);
        // GTUBE was scored by spamd, and so was the corpus.
        foreach (var (key, _) in gtube)
            Assert.Contains($"\n{MessageCleaner.VerdictHeader}: high spam", "\n" + Assert.Single(byKey[key]).Message, StringComparison.Ordinal);
        Assert.Contains(delivered, copy => copy.Message.Contains($"\n{MessageCleaner.SpamScoreHeader}: ", StringComparison.Ordinal) && !copy.RcptTo[0].StartsWith("gtube", StringComparison.Ordinal));

        Assert.Empty(Directory.EnumerateFileSystemEntries(settings.Queue.Work));
        Assert.Empty(Directory.EnumerateFileSystemEntries(settings.Queue.Bad));
        Assert.Empty(mta.QueueFileErrors());
        Assert.Equal(all.Count, mta.DeliveriesLogged());

        output.WriteLine($"{mta.Name}: {all.Count} messages ({corpus.Count} corpus from offset {offset}, {eicar.Count} EICAR, {gtube.Count} GTUBE): " +
            $"set-up {started.TotalSeconds:F1} s, sent over SMTP by {sent.TotalSeconds:F1} s, all delivered by {elapsed.TotalSeconds:F1} s " +
            $"({all.Count / (elapsed - started).TotalSeconds:F1} msg/s; shared 2-core machine); {gateway.Counters}");
    }

    /// <summary>
    /// A dozen messages one after another, each to two recipients (one with capitals, as written), one of them with an
    /// EICAR attachment, the others with a folded header and a body line that starts with a dot: each arrives once, with
    /// its envelope and the gateway's header, untouched otherwise; the EICAR one cleaned, its original in the quarantine.
    /// </summary>
    public static async Task DeliverEnvelopesAsync(IPrivateMta mta, GatewaySettings settings)
    {
        const int count = 12, infected = 5;
        const string sender = "alice@example.org";
        await using var gateway = await HostedGateway.StartAsync(settings);
        var recipients = new Dictionary<int, string[]>();
        for (var seq = 0; seq < count; seq++)
        {
            recipients[seq] = [$"rcpt{seq}@example.net", $"Other{seq}@Example.COM"];
            var message = seq == infected
                ? Encoding.ASCII.GetString(TestMail.Bytes(TestMail.Message(TestMail.Attachment("invoice.com", TestMail.Eicar)))).Replace("Subject: test", $"Subject: test\r\nX-Seq: {seq}")
                : $"From: Alice <{sender}>\nTo: rcpt{seq}@example.net\nSubject: message {seq}\n  folded subject line\nX-Seq: {seq}\n\nHello number {seq}.\n.a line that starts with a dot\n";
            await PostfixInstance.SendOverSmtpAsync(mta.SmtpPort, sender, recipients[seq], message);
        }

        var sink = new CompleteSinkFiles(mta);
        await Eventually.Holds(() => sink.Count() >= count && mta.QueuedFiles().Count == 0 && mta.DeliveriesLogged() >= count, TimeSpan.FromSeconds(90),
            () => $"{mta.Name} to deliver all {count} ({sink.Count()} so far; {gateway.Counters}); queued: {string.Join(' ', mta.QueuedFiles().Select(Path.GetFileName))}; log tail:\n{mta.LogTail()}");
        var delivered = mta.SinkFiles().Select(SinkFile.Read).ToList();
        Assert.Equal(Enumerable.Range(0, count), delivered.Select(d => SeqHeader.Of(d.Message)).Order());
        foreach (var copy in delivered)
        {
            var seq = SeqHeader.Of(copy.Message);
            Assert.Equal(sender, copy.MailFrom);
            Assert.Equal(recipients[seq].Order(StringComparer.Ordinal), copy.RcptTo.Order(StringComparer.Ordinal));
            Assert.Contains($"{MessageCleaner.VerdictHeader}:", copy.Message, StringComparison.Ordinal);
            if (seq == infected) continue;
            Assert.Contains($"Subject: message {seq}\n  folded subject line\n", copy.Message, StringComparison.Ordinal);
            Assert.EndsWith($"Hello number {seq}.\n.a line that starts with a dot\n", copy.Message, StringComparison.Ordinal);
        }
        var cleaned = Assert.Single(delivered, d => SeqHeader.Of(d.Message) == infected);
        Assert.DoesNotContain("EICAR-STANDARD-ANTIVIRUS-TEST-FILE", cleaned.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Convert.ToBase64String(TestMail.Eicar)[..40], cleaned.Message, StringComparison.Ordinal);
        Assert.Equal(VerdictKind.Infected, Assert.Single(new QuarantineStore(settings.Quarantine.Directory).List()).Metadata.Verdict);

        Assert.Empty(Directory.EnumerateFileSystemEntries(settings.Queue.Work));
        Assert.Empty(Directory.EnumerateFileSystemEntries(settings.Queue.Bad));
        Assert.Empty(mta.QueueFileErrors());
        Assert.Equal(count, mta.DeliveriesLogged());
    }

    /// <summary>
    /// An EICAR message sent over SMTP is delivered cleaned and its original quarantined; the gateway stops; then
    /// <c>mailscanner-actors quarantine release</c> (the real executable, on a config file naming the MTA's queues and
    /// format) hands the original to the MTA, which delivers it to the sink exactly once, untouched, with no queue-file
    /// error in its log; a second release is refused as "already released" and writes nothing.
    /// </summary>
    public static async Task ReleaseQuarantinedEicarAsync(IPrivateMta mta, GatewaySettings settings, string workingDirectory)
    {
        const string sender = "alice@example.org", recipient = "eicar@example.net";
        var message = Encoding.ASCII.GetString(TestMail.Bytes(TestMail.Message(TestMail.Attachment("invoice.com", TestMail.Eicar))));
        var eicarSignatures = new[] { "EICAR-STANDARD-ANTIVIRUS-TEST-FILE", Convert.ToBase64String(TestMail.Eicar)[..40] };
        bool HasEicar(string text) => eicarSignatures.Any(signature => text.Contains(signature, StringComparison.Ordinal));
        var store = new QuarantineStore(settings.Quarantine.Directory);
        var sink = new CompleteSinkFiles(mta);

        await using (var gateway = await HostedGateway.StartAsync(settings))
        {
            await PostfixInstance.SendOverSmtpAsync(mta.SmtpPort, sender, [recipient], message);
            await Eventually.Holds(() => sink.Count() >= 1 && mta.QueuedFiles().Count == 0 && store.List().Count == 1, TimeSpan.FromSeconds(90),
                () => $"{mta.Name} to deliver the cleaned copy and the gateway to quarantine the original ({sink.Count()} delivered; {gateway.Counters}); log tail:\n{mta.LogTail()}");
        }
        var cleaned = SinkFile.Read(Assert.Single(mta.SinkFiles()));
        Assert.False(HasEicar(cleaned.Message), "the cleaned copy carries the virus");
        var entry = Assert.Single(store.List());
        Assert.Equal(VerdictKind.Infected, entry.Metadata.Verdict);
        Assert.Equal(settings.Queue.Format, entry.Metadata.QueueFormat);

        var config = Path.Combine(workingDirectory, "release.conf");
        await File.WriteAllTextAsync(config, ReleaseConfig(settings));
        var (exitCode, stdout, stderr) = await RunCommandLineAsync(workingDirectory, "quarantine", "release", entry.Id, "--config", config);
        Assert.True(exitCode == 0, $"exit {exitCode}; stdout: {stdout}; stderr: {stderr}");
        Assert.StartsWith($"released {entry.Id}: queued as {settings.Queue.Outgoing}/", stdout.Trim(), StringComparison.Ordinal);
        Assert.Equal("", stderr.Trim()); // the MTA was told, as after a delivery

        await Eventually.Holds(() => sink.Count() >= 2 && mta.QueuedFiles().Count == 0 && mta.DeliveriesLogged() >= 2, TimeSpan.FromSeconds(90),
            () => $"{mta.Name} to deliver the released original ({sink.Count()} delivered); queued: {string.Join(' ', mta.QueuedFiles())}; log tail:\n{mta.LogTail()}");
        var delivered = mta.SinkFiles().Select(SinkFile.Read).ToList();
        var original = Assert.Single(delivered, copy => HasEicar(copy.Message));
        Assert.Equal(sender, original.MailFrom);
        Assert.Equal([recipient], original.RcptTo);
        Assert.DoesNotContain($"{MessageCleaner.VerdictHeader}:", original.Message, StringComparison.Ordinal); // the original, untouched
        Assert.Equal(2, delivered.Count);
        Assert.Empty(mta.QueueFileErrors());
        Assert.Equal(2, mta.DeliveriesLogged());

        var again = await RunCommandLineAsync(workingDirectory, "quarantine", "release", entry.Id, "--config", config);
        Assert.True(again.ExitCode == 1, $"exit {again.ExitCode}; stdout: {again.Stdout}; stderr: {again.Stderr}");
        Assert.Contains("already released", again.Stderr, StringComparison.Ordinal);
        Assert.Empty(mta.QueuedFiles());
        Assert.Equal(2, mta.SinkFiles().Count);
    }

    /// <summary>The config file an operator's release reads: the quarantine, the queues and the format with its MTA's settings.</summary>
    private static string ReleaseConfig(GatewaySettings settings)
    {
        var queue = settings.Queue;
        static string Quoted(string text) => System.Text.Json.JsonSerializer.Serialize(text);
        return $$"""
            mailscanner.quarantine.directory = {{Quoted(settings.Quarantine.Directory)}}
            mailscanner.queue {
              format = {{queue.Format}}
              incoming = {{Quoted(queue.Incoming)}}
              outgoing = {{Quoted(queue.Outgoing)}}
              work = {{Quoted(queue.Work)}}
              bad = {{Quoted(queue.Bad)}}
              postfix {
                long-queue-ids = {{(queue.Postfix.LongQueueIds ? "yes" : "no")}}
                hash-queue-names = {{Quoted(queue.Postfix.HashQueueNames)}}
                hash-queue-depth = {{queue.Postfix.HashQueueDepth}}
                mail-owner = {{Quoted(queue.Postfix.MailOwner)}}
              }
              exim {
                split-spool-directory = {{(queue.Exim.SplitSpoolDirectory ? "yes" : "no")}}
                user = {{Quoted(queue.Exim.User)}}
                deliver-command = {{Quoted(string.Join(' ', queue.Exim.DeliverCommand))}}
              }
              sendmail {
                user = {{Quoted(queue.Sendmail.User)}}
                deliver-command = {{Quoted(string.Join(' ', queue.Sendmail.DeliverCommand))}}
              }
            }
            """;
    }

    private static async Task<(int ExitCode, string Stdout, string Stderr)> RunCommandLineAsync(string workingDirectory, params string[] args)
    {
        using var process = GatewayProcess.Start(workingDirectory, args);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, process.Stdout, process.Stderr);
    }
}
