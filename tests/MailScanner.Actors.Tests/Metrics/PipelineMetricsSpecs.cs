using System.Text;
using MailScanner.Actors.Journal;
using MailScanner.Actors.Scanning.Rules;
using MailScanner.Actors.Tests.Pipeline;
using MailScanner.Actors.Tests.TestSupport;
using Xunit;

namespace MailScanner.Actors.Tests.Metrics;

/// <summary>
/// Each pipeline family of <c>/metrics</c>, under the names operators' alerts use, moves with the event it counts;
/// every gateway here is started through the executable's hosting path and read through its endpoint.
/// </summary>
public sealed class PipelineMetricsSpecs : IDisposable
{
    private readonly GatewayTestbed _bed = new();

    public void Dispose() => _bed.Dispose();

    [Fact]
    public async Task Should_count_each_finished_message_once_by_outcome_and_verdict_with_its_latencies()
    {
        var (gateway, endpoint) = await MetricsGateway.StartAsync(_bed.Settings());
        await using var _ = gateway;

        for (var i = 0; i < 3; i++) _bed.Enqueue($"clean message {i}");
        _bed.Enqueue($"infected: {ClamdDaemon.Eicar}");

        var scrape = await MetricsScrape.UntilAsync(endpoint, s => s.Sum("mailscanner_messages_total") == 4, "four messages finished");
        // The infected one is delivered cleaned (the default policy): delivered, with the verdict infected.
        Assert.Equal(4, scrape.Sum("mailscanner_messages_total", ("outcome", "delivered")));
        Assert.Equal(3, scrape.Sum("mailscanner_verdicts_total", ("verdict", "clean")));
        Assert.Equal(1, scrape.Sum("mailscanner_verdicts_total", ("verdict", "infected")));
        Assert.Equal(4, scrape.Sum("mailscanner_verdicts_total"));
        Assert.Equal(6, scrape.Series("mailscanner_messages_total").Count); // every outcome, from the start: alerts see 0, not nothing
        Assert.Equal(4, scrape.Sum("mailscanner_message_latency_seconds_count"));
        Assert.True(scrape.Sum("mailscanner_message_latency_seconds_sum") > 0);
        foreach (var stage in new[] { "claim", "rules", "clean", "deliver" })
            Assert.Equal(4, scrape.Sum("mailscanner_stage_latency_seconds_count", ("stage", stage)));
        Assert.Equal(4, scrape.Sum("mailscanner_batch_size_sum"));
        Assert.InRange(scrape.Sum("mailscanner_batch_size_count"), 1, 4);
        Assert.Equal(scrape.Sum("mailscanner_batch_size_count"), scrape.Sum("mailscanner_batches_total"));
        // Each message's attempt and its delivery are journalled: at least one group-committed write.
        Assert.True(scrape.Sum("mailscanner_journal_write_seconds_count") >= 1);
        Assert.True(scrape.Has("mailscanner_journal_recovery_seconds"));
    }

    /// <remarks>
    /// A coordinator sends each message <c>delete-repeats</c> deletes in its delete stage and as many again in its final
    /// sweep (the seed's repeated deletes): the first removes the file, every other one is absorbed. Three deletes in
    /// the delete stage: two absorbed there, three in the sweep.
    /// </remarks>
    [Theory]
    [InlineData(1, 1)]
    [InlineData(3, 5)]
    public async Task Should_count_every_repeated_delete_of_a_finished_message_as_absorbed(int deleteRepeats, int absorbed)
    {
        var (gateway, endpoint) = await MetricsGateway.StartAsync(_bed.Settings(deleteRepeats: deleteRepeats));
        await using var _ = gateway;

        _bed.Enqueue("deleted several times, removed once");

        var scrape = await MetricsScrape.UntilAsync(endpoint,
            s => s.Sum("mailscanner_messages_total") == 1 && s.Sum("mailscanner_deletes_absorbed_total") >= absorbed,
            "the message finished and its repeated deletes absorbed");
        Assert.Equal(absorbed, scrape.Sum("mailscanner_deletes_absorbed_total"));
        Assert.Single(GatewayTestbed.AllEntries(_bed.Outgoing));
    }

    [Fact]
    public async Task Should_count_a_malformed_queue_file_as_set_aside()
    {
        var (gateway, endpoint) = await MetricsGateway.StartAsync(_bed.Settings());
        await using var _ = gateway;

        _bed.EnqueueRaw("this is no ZMailer queue file\n"u8.ToArray());

        var scrape = await MetricsScrape.UntilAsync(endpoint, s => s.Sum("mailscanner_messages_total", ("outcome", "set_aside")) == 1, "the file set aside");
        Assert.Equal(1, scrape.Sum("mailscanner_messages_total"));
        Assert.Single(GatewayTestbed.AllEntries(_bed.Bad));
    }

    [Fact]
    public async Task Should_count_each_failed_attempt_as_handed_back_and_the_last_as_unprocessable()
    {
        var settings = _bed.Settings() with
        {
            Queue = _bed.Settings().Queue with { RetryBackoffMin = TimeSpan.FromMilliseconds(50), RetryBackoffMax = TimeSpan.FromMilliseconds(200) },
            Journal = JournalSettings.For(_bed.State, maxProcessingAttempts: 2),
        };
        var (gateway, endpoint) = await MetricsGateway.StartAsync(settings, hocon: "akka.loglevel = ERROR",
            adjustWorkspace: (_, workspace) => workspace with
            {
                ScanWithBuiltInRules = (message, rules, budget) => Encoding.ASCII.GetString(message.Span).Contains("POISON", StringComparison.Ordinal)
                    ? throw new InvalidOperationException("simulated parser bug")
                    : BuiltInRules.Scan(message, rules, budget),
            });
        await using var _ = gateway;

        _bed.Enqueue("POISON: scanning it throws every time");
        _bed.Enqueue("an ordinary message beside it");

        var scrape = await MetricsScrape.UntilAsync(endpoint, s => s.Sum("mailscanner_messages_total", ("outcome", "unprocessable")) == 1,
            "the poison message quarantined as unprocessable");
        Assert.Equal(2, scrape.Sum("mailscanner_messages_total", ("outcome", "handed_back")));
        Assert.Equal(1, scrape.Sum("mailscanner_messages_total", ("outcome", "delivered")));
        Assert.Equal(1, scrape.Sum("mailscanner_verdicts_total", ("verdict", "unprocessable")));
        Assert.Equal(0, scrape.Sum("mailscanner_messages_total", ("outcome", "quarantined")));
    }

    [Fact]
    public async Task Should_time_every_call_to_a_scanner_daemon_count_its_errors_and_mark_it_down()
    {
        var (gateway, endpoint) = await MetricsGateway.StartAsync(_bed.Settings().WithUnreachableClamd(unhealthyAfterFailures: 2), hocon: "akka.loglevel = OFF");
        await using var _ = gateway;

        var up = await MetricsScrape.TakeAsync(endpoint);
        Assert.Equal(1, up.Sum("mailscanner_scanner_up", ("engine", "clamd")));

        _bed.Enqueue("first");
        _bed.Enqueue("second");

        var scrape = await MetricsScrape.UntilAsync(endpoint, s => s.Sum("mailscanner_scanner_up", ("engine", "clamd")) == 0,
            "clamd marked down after two failed calls");
        Assert.Equal(2, scrape.Sum("mailscanner_scanner_errors_total", ("engine", "clamd")));
        Assert.Equal(2, scrape.Sum("mailscanner_scanner_call_seconds_count", ("engine", "clamd")));
        Assert.Equal(2, scrape.Sum("mailscanner_stage_latency_seconds_count", ("stage", "clamd")));
        Assert.True(scrape.Sum("mailscanner_messages_total", ("outcome", "handed_back")) >= 2);
        Assert.Equal(0, scrape.Sum("mailscanner_messages_total", ("outcome", "delivered")));
    }

    [Fact]
    public async Task Should_report_the_queue_depth_and_the_age_of_its_oldest_file()
    {
        // A scanner engine that never answers keeps every admitted message claimed: they stay in the queue's count.
        var (gateway, endpoint) = await MetricsGateway.StartAsync(_bed.Settings(),
            adjustWorkspace: (system, workspace) => workspace with { ScannerEngines = [system.ActorOf(SlowScannerEngine.PropsFor(maxDelay: null))] });
        await using var _ = gateway;

        var empty = await MetricsScrape.UntilAsync(endpoint, s => s.Has("mailscanner_queue_depth"), "a first sample of the queue");
        Assert.Equal(0, empty.Sum("mailscanner_queue_depth"));
        Assert.Equal(0, empty.Sum("mailscanner_queue_oldest_age_seconds"));

        // The MTA stand-in writes where nobody watches, so the file's time can be set before the watcher sees it.
        using (var mta = new GatewayTestbed())
        {
            var written = mta.Enqueue("waiting the longest").Path;
            File.SetLastWriteTimeUtc(written, DateTime.UtcNow.AddMinutes(-5));
            File.Move(written, Path.Combine(_bed.Incoming, Path.GetFileName(written)));
        }
        for (var i = 0; i < 4; i++) _bed.Enqueue($"waiting {i}");

        var scrape = await MetricsScrape.UntilAsync(endpoint, s => s.Sum("mailscanner_queue_depth") == 5, "five files in the queue");
        Assert.InRange(scrape.Sum("mailscanner_queue_oldest_age_seconds"), 300, 330);
    }
}
