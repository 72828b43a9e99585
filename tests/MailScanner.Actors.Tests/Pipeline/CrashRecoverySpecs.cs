using System.Text;
using Akka.Actor;
using MailScanner.Actors.Delivery;
using MailScanner.Actors.Hosting;
using MailScanner.Actors.Identity;
using MailScanner.Actors.Journal;
using MailScanner.Actors.Metrics;
using MailScanner.Actors.Policy;
using MailScanner.Actors.Quarantine;
using MailScanner.Actors.Queue;
using MailScanner.Actors.Scanning;
using MailScanner.Actors.Scanning.Rules;
using MailScanner.Actors.Tests.Journal;
using MailScanner.Actors.Tests.TestSupport;
using Xunit;
using static MailScanner.Actors.Journal.MessageJournalProtocol;

namespace MailScanner.Actors.Tests.Pipeline;

/// <summary>
/// The gateway started on what a crash left behind at each step of a message's life, and actors of every kind
/// failing under load: nothing is lost, nothing is delivered twice, nothing is left in the work area.
/// </summary>
public sealed class CrashRecoverySpecs : IAsyncLifetime
{
    private static readonly TimeSpan Answer = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private readonly GatewayTestbed _bed = new();
    private readonly List<HostedGateway> _gateways = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var gateway in _gateways) await gateway.DisposeAsync();
        _bed.Dispose();
    }

    public enum CrashPoint
    {
        /// <summary>The outgoing copy was staged and its delivery recorded; the rename had not happened.</summary>
        AfterRecordingTheDelivery,
        /// <summary>The copy was renamed into the outgoing queue; the original was not deleted yet.</summary>
        AfterPublishing,
        /// <summary>As above, and the MTA has already sent the copy on and removed it.</summary>
        AfterPublishingAndTheMtaTookIt,
        /// <summary>The copy was staged but the delivery never recorded.</summary>
        BeforeRecordingTheDelivery,
    }

    [Theory]
    [InlineData(CrashPoint.AfterRecordingTheDelivery, 1)]
    [InlineData(CrashPoint.AfterPublishing, 1)]
    [InlineData(CrashPoint.AfterPublishingAndTheMtaTookIt, 0)]
    [InlineData(CrashPoint.BeforeRecordingTheDelivery, 1)]
    public async Task Should_deliver_exactly_once_whatever_step_a_crash_interrupted(CrashPoint crash, int copiesLeftInOutgoing)
    {
        var settings = _bed.Settings();
        var (workPath, identity) = _bed.EnqueueClaimed("interrupted by a crash");
        var staged = await StageOutgoingCopy(File.ReadAllBytes(workPath), identity);
        if (crash != CrashPoint.BeforeRecordingTheDelivery)
        {
            await MessageJournalSpecs.WithJournal(settings.Journal, async journal =>
            {
                await journal.Ask<AttemptBegun>(new BeginAttempt(identity, ZMailerFormat.FileNameFor(identity)), Answer);
                await journal.Ask<DeliveryRecorded>(new RecordDelivery(identity,
                    new DeliveryIntent(VerdictKind.Clean, [], MessageAction.Deliver, staged, null)), Answer);
            });
        }
        if (crash is CrashPoint.AfterPublishing or CrashPoint.AfterPublishingAndTheMtaTookIt)
            Assert.Equal(RenameOutcome.Renamed, NativeFile.TryRenameNoReplace(staged.Path, Path.Combine(_bed.Outgoing, staged.FinalName)));
        if (crash == CrashPoint.AfterPublishingAndTheMtaTookIt) File.Delete(Path.Combine(_bed.Outgoing, staged.FinalName));

        var counters = await StartGateway(settings);

        await Eventually.Holds(() => counters.Deleted == 1, Patience, "the recovered message to be finished");
        Assert.Empty(GatewayTestbed.AllEntries(_bed.Work));
        Assert.Empty(GatewayTestbed.AllEntries(_bed.Incoming));
        var outgoing = GatewayTestbed.AllEntries(_bed.Outgoing).ToList();
        Assert.Equal(copiesLeftInOutgoing, outgoing.Count);
        Assert.All(outgoing, file => Assert.Contains("interrupted by a crash", File.ReadAllText(file)));
        Assert.DoesNotContain(outgoing, file => Path.GetFileName(file).StartsWith("tf-", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Should_count_a_crash_while_scanning_as_an_attempt_and_quarantine_after_the_last_one()
    {
        var settings = _bed.Settings() with { Journal = JournalSettings.For(_bed.State, maxProcessingAttempts: 2) };
        var (workPath, identity) = _bed.EnqueueClaimed("brings the scanner down every time");
        // Two runs that recorded the attempt (the MessageActor does so before scanning starts) and then died.
        for (var run = 1; run <= 2; run++)
        {
            await MessageJournalSpecs.WithJournal(settings.Journal, async journal =>
                await journal.Ask<AttemptBegun>(new BeginAttempt(identity, ZMailerFormat.FileNameFor(identity)), Answer));
        }

        var counters = await StartGateway(settings);

        await Eventually.Holds(() => counters.Deleted == 1, Patience, "the message to be quarantined");
        var entry = Assert.Single(new QuarantineStore(_bed.Quarantine).List());
        Assert.Equal(VerdictKind.Unprocessable, entry.Metadata.Verdict);
        Assert.Contains(entry.Metadata.Reasons, reason => reason.Contains("started 2 times", StringComparison.Ordinal));
        Assert.Empty(GatewayTestbed.AllEntries(_bed.Outgoing));
        Assert.Empty(GatewayTestbed.AllEntries(_bed.Work));
    }

    [Fact]
    public async Task Should_quarantine_a_message_that_crashes_scanning_every_time_without_blocking_the_others()
    {
        var settings = _bed.Settings() with
        {
            Queue = _bed.Settings().Queue with { RetryBackoffMin = TimeSpan.FromMilliseconds(50), RetryBackoffMax = TimeSpan.FromMilliseconds(200) },
            Journal = JournalSettings.For(_bed.State, maxProcessingAttempts: 3),
        };
        _bed.Enqueue("POISON: the parser chokes on this one");
        for (var i = 0; i < 20; i++) _bed.Enqueue($"ordinary message {i}");

        var counters = await StartGateway(settings, (message, rules) =>
            Encoding.ASCII.GetString(message.Span).Contains("POISON", StringComparison.Ordinal)
                ? throw new InvalidOperationException("simulated parser bug")
                : BuiltInRules.Scan(message, rules));

        await Eventually.Holds(() => counters.Deleted == 21, Patience, "every message, the poison one included, to be finished");
        Assert.Equal(20, GatewayTestbed.AllEntries(_bed.Outgoing).Count());
        var entry = Assert.Single(new QuarantineStore(_bed.Quarantine).List());
        Assert.Equal(VerdictKind.Unprocessable, entry.Metadata.Verdict);
        Assert.Contains("POISON", File.ReadAllText(entry.QueueFilePath));
        Assert.Equal(3, counters.Failed);
        Assert.Empty(GatewayTestbed.AllEntries(_bed.Work));
        Assert.Empty(GatewayTestbed.AllEntries(_bed.Incoming));
    }

    [Fact]
    public async Task Should_scan_messages_interrupted_by_two_crashes_alone_and_before_the_rest()
    {
        var settings = _bed.Settings();
        var suspects = new List<FileIdentity>();
        for (var i = 0; i < 8; i++)
        {
            suspects.Add(_bed.EnqueueClaimed($"SUSPECT {i}: was being scanned at two crashes").Identity);
        }
        // Two runs that began scanning them and died.
        for (var run = 0; run < 2; run++)
        {
            await MessageJournalSpecs.WithJournal(settings.Journal, async journal =>
            {
                foreach (var identity in suspects) await journal.Ask<AttemptBegun>(new BeginAttempt(identity, ZMailerFormat.FileNameFor(identity)), Answer);
            });
        }
        for (var i = 0; i < 8; i++) _bed.Enqueue($"ordinary message {i}");

        var scanned = new List<string>();
        int scanning = 0, mostAtOnceWhileSuspects = 0;
        var counters = await StartGateway(settings, (message, rules) =>
        {
            var text = Encoding.ASCII.GetString(message.Span);
            var now = Interlocked.Increment(ref scanning);
            lock (scanned)
            {
                if (scanned.Count(s => s.StartsWith("SUSPECT", StringComparison.Ordinal)) < suspects.Count)
                    mostAtOnceWhileSuspects = Math.Max(mostAtOnceWhileSuspects, now);
                scanned.Add(text[(text.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4)..].Trim());
            }
            Thread.Sleep(20); // a scan that takes a while, so that any two scans allowed at once would overlap
            Interlocked.Decrement(ref scanning);
            return BuiltInRules.Scan(message, rules);
        });

        await Eventually.Holds(() => counters.Deleted == 16, Patience, "every message to be delivered");
        Assert.Equal(1, mostAtOnceWhileSuspects);
        Assert.All(scanned.Take(suspects.Count), text => Assert.StartsWith("SUSPECT", text));
        Assert.Equal(16, GatewayTestbed.AllEntries(_bed.Outgoing).Count());
        Assert.Empty(new QuarantineStore(_bed.Quarantine).List());
    }

    [Theory]
    [InlineData("/user/queue-watcher/watcher")]
    [InlineData("/user/queue-watcher/watcher/coordinator-2")]
    [InlineData("/user/message-journal/journal")]
    [InlineData("a message actor")]
    public async Task Should_lose_and_duplicate_nothing_when_an_actor_is_killed_under_load(string victim)
    {
        const int messageCount = 1000;
        var settings = _bed.Settings(maxMessages: 10) with
        {
            Queue = _bed.Settings().Queue with { RetryBackoffMin = TimeSpan.FromMilliseconds(50), RetryBackoffMax = TimeSpan.FromMilliseconds(200) },
        };
        var counters = await StartGateway(settings);
        var system = _gateways[^1].System;
        var producer = Task.Run(() =>
        {
            for (var seq = 0; seq < messageCount; seq++) _bed.Enqueue($"X-Seq: {seq}");
        });

        // Kill (an ActorKilledException inside the actor) three times while messages flow.
        var kills = 0;
        foreach (var after in new[] { messageCount / 5, messageCount / 2, messageCount * 4 / 5 })
        {
            await Eventually.Holds(() => counters.Admitted >= after, TimeSpan.FromMinutes(1), () => $"{after} admissions ({counters})");
            var path = victim == "a message actor"
                ? $"/user/messages/{Path.GetFileName(Directory.EnumerateFiles(_bed.Work).FirstOrDefault() ?? "none")}"
                : victim;
            system.ActorSelection(path).Tell(Kill.Instance);
            kills++;
        }
        await producer;

        await Eventually.Holds(() => counters.Deleted >= messageCount && !GatewayTestbed.AllEntries(_bed.Incoming).Any()
            && !GatewayTestbed.AllEntries(_bed.Work).Any(), TimeSpan.FromMinutes(2),
            () => $"every message to be delivered after {kills} kills ({counters}; incoming {GatewayTestbed.AllEntries(_bed.Incoming).Count()}, work {GatewayTestbed.AllEntries(_bed.Work).Count()})");
        var delivered = GatewayTestbed.AllEntries(_bed.Outgoing)
            .Select(file => int.Parse(File.ReadAllText(file).Split("X-Seq: ")[1].Split('\r')[0]))
            .GroupBy(seq => seq).ToDictionary(g => g.Key, g => g.Count());
        var lost = Enumerable.Range(0, messageCount).Where(seq => !delivered.ContainsKey(seq)).ToList();
        var duplicated = delivered.Where(d => d.Value > 1).Select(d => d.Key).ToList();
        Assert.True(lost.Count == 0 && duplicated.Count == 0,
            $"after {kills} kills: lost {string.Join(",", lost)}; duplicated {string.Join(",", duplicated)}");
    }

    private async Task<PipelineCounters> StartGateway(MailScanner.Actors.Configuration.GatewaySettings settings,
        Func<ReadOnlyMemory<byte>, RuleSettings, ScanReport>? builtInRules = null)
    {
        var gateway = await HostedGateway.StartAsync(settings, hocon: "akka.loglevel = ERROR",
            adjustWorkspace: builtInRules is null ? null : (_, workspace) => workspace with { ScanWithBuiltInRules = (message, rules, _) => builtInRules(message, rules) });
        _gateways.Add(gateway);
        return gateway.Counters;
    }

    private async Task<StagedName> StageOutgoingCopy(byte[] content, FileIdentity identity)
    {
        using var barrier = new DurabilityBarrier(_bed.Outgoing);
        var writer = new QueueDirectoryWriter(_bed.Outgoing, barrier, ZMailerFormat.Instance);
        return await writer.StageAsync(content, $"tf-{identity.Key}");
    }

}
