using Akka.Actor;
using Akka.Configuration;
using MailScanner.Actors.Configuration;
using MailScanner.Actors.Delivery;
using MailScanner.Actors.Identity;
using MailScanner.Actors.Journal;
using MailScanner.Actors.Policy;
using MailScanner.Actors.Queue;
using MailScanner.Actors.Scanning;
using MailScanner.Actors.Tests.Pipeline;
using MailScanner.Actors.Tests.TestSupport;
using Xunit;
using static MailScanner.Actors.Journal.MessageJournalProtocol;
using ConfigurationException = MailScanner.Actors.Configuration.ConfigurationException;

namespace MailScanner.Actors.Tests.Journal;

/// <summary>
/// The message journal on a real PostgreSQL server (<c>mailscanner.journal.provider = postgresql</c>): the database
/// the nodes of a cluster share. The same guarantees as on SQLite: attempts and recorded deliveries survive the end of
/// the process, and the gateway on it delivers each message exactly once.
/// </summary>
public sealed class PostgreSqlJournalSpecs(PostgresServer server) : IClassFixture<PostgresServer>, IDisposable
{
    private static readonly TimeSpan Answer = TimeSpan.FromSeconds(20);
    private readonly GatewayTestbed _bed = new();

    public void Dispose() => _bed.Dispose();

    private async Task<JournalSettings> OnPostgreSql() =>
        JournalSettings.For(_bed.State) with { Provider = JournalProvider.PostgreSql, ConnectionString = await server.CreateDatabaseAsync() };

    [Fact]
    public async Task Should_remember_attempts_and_a_recorded_delivery_across_a_restart()
    {
        var settings = await OnPostgreSql();
        var message = new FileIdentity(0x801, 4242, 0xabc);
        var intent = new DeliveryIntent(VerdictKind.Clean, [], MessageAction.Deliver,
            new StagedName("/queue/out/tf-801-4242-abc", "5555", "801-5555-def"), null);

        await MessageJournalSpecs.WithJournal(settings, async journal =>
        {
            Assert.Equal(1, (await journal.Ask<AttemptBegun>(new BeginAttempt(message, "4242"), Answer)).Attempt);
            await journal.Ask<DeliveryRecorded>(new RecordDelivery(message, intent), Answer);
        });

        await MessageJournalSpecs.WithJournal(settings, async journal =>
        {
            var begun = await journal.Ask<AttemptBegun>(new BeginAttempt(message, "4242"), Answer);
            Assert.Equal(2, begun.Attempt);
            Assert.Equal(intent.OutgoingTemp, begun.PendingDelivery?.OutgoingTemp);
        });
        Assert.True(await server.ScalarAsync(settings.ConnectionString, "SELECT COUNT(*) FROM journal") >= 3, "the events were not written to PostgreSQL");
        Assert.False(File.Exists(JournalSettings.For(_bed.State).DatabasePath), "an SQLite journal was written instead");
    }

    [Fact]
    public async Task Should_complete_a_delivery_recorded_before_a_crash_without_repeating_it()
    {
        var journal = await OnPostgreSql();
        var settings = _bed.Settings() with { Journal = journal };
        var (workPath, identity) = _bed.EnqueueClaimed("recorded in PostgreSQL, then the process died");
        StagedName staged;
        using (var barrier = new DurabilityBarrier(_bed.Outgoing))
            staged = await new QueueDirectoryWriter(_bed.Outgoing, barrier, ZMailerFormat.Instance).StageAsync(File.ReadAllBytes(workPath), $"tf-{identity.Key}");
        await MessageJournalSpecs.WithJournal(journal, async j =>
        {
            await j.Ask<AttemptBegun>(new BeginAttempt(identity, ZMailerFormat.FileNameFor(identity)), Answer);
            await j.Ask<DeliveryRecorded>(new RecordDelivery(identity, new DeliveryIntent(VerdictKind.Clean, [], MessageAction.Deliver, staged, null)), Answer);
        });
        // The crash came after the rename: the copy is out, the original still claimed.
        Assert.Equal(RenameOutcome.Renamed, NativeFile.TryRenameNoReplace(staged.Path, Path.Combine(_bed.Outgoing, staged.FinalName)));

        await using var gateway = await HostedGateway.StartAsync(settings);
        for (var seq = 0; seq < 20; seq++) _bed.Enqueue($"X-Seq: {seq}");

        await Eventually.Holds(() => gateway.Counters.Deleted == 21, TimeSpan.FromSeconds(60), () => $"every message to be finished ({gateway.Counters})");
        var outgoing = GatewayTestbed.AllEntries(_bed.Outgoing).Select(File.ReadAllText).ToList();
        Assert.Single(outgoing, text => text.Contains("recorded in PostgreSQL", StringComparison.Ordinal));
        Assert.Equal(Enumerable.Range(0, 20), outgoing.Where(text => text.Contains("X-Seq: ", StringComparison.Ordinal)).Select(SeqHeader.Of).Order());
        Assert.Empty(GatewayTestbed.AllEntries(_bed.Work));
        Assert.Empty(GatewayTestbed.AllEntries(_bed.Incoming));
        Assert.True(await server.ScalarAsync(journal.ConnectionString, "SELECT COUNT(*) FROM journal") > 1, "the gateway did not journal into PostgreSQL");
    }

    [Theory]
    [InlineData("provider = postgresql", "mailscanner.journal.connection-string", "must name the PostgreSQL database")]
    [InlineData("provider = postgresql\nconnection-string = \"Host=db;Bogus Key=1\"", "mailscanner.journal.connection-string", "not a valid PostgreSQL connection string")]
    [InlineData("provider = oracle", "mailscanner.journal.provider", "must be sqlite or postgresql")]
    public void Should_refuse_a_journal_configuration_it_cannot_use(string journalHocon, string key, string problem)
    {
        var config = ConfigurationFactory.ParseString($"mailscanner.journal {{ {journalHocon} }}").WithFallback(GatewaySettingsLoader.Defaults());

        var error = Assert.Throws<ConfigurationException>(() => JournalSettings.FromConfig(config, _bed.State));

        Assert.Equal(key, error.Key);
        Assert.Contains(problem, error.Message, StringComparison.Ordinal);
    }
}
