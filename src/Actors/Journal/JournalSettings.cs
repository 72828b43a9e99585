using Akka.Configuration;
using ConfigurationException = MailScanner.Actors.Configuration.ConfigurationException;
using MailScanner.Actors.Configuration;

namespace MailScanner.Actors.Journal;

/// <summary>
/// The message journal (<c>mailscanner.journal</c>): an SQLite file under <c>mailscanner.state-directory</c>,
/// written through Akka.Persistence.Sql.
/// </summary>
/// <param name="Enabled">
/// Off only for measuring what the journal costs: without it a crash between delivering a message and deleting its
/// original delivers it again at the next start (at-least-once, as MailScanner), and crashes are not counted.
/// </param>
/// <param name="DatabasePath">The SQLite database file (when <see cref="Provider"/> is SQLite).</param>
/// <param name="SnapshotEvery">After this many events the state is snapshotted and the rows before it deleted.</param>
/// <param name="MaxProcessingAttempts">
/// <c>mailscanner.max-processing-attempts</c>: a message whose processing was started this many times without ending
/// (a crash, an exception) is quarantined as unprocessable instead of tried again.
/// </param>
public sealed record JournalSettings(bool Enabled, string DatabasePath, int SnapshotEvery, int MaxProcessingAttempts)
{
    public const string DatabaseFileName = "journal.db";

    public string PersistenceId => "mailscanner-messages";

    /// <summary>
    /// <c>mailscanner.journal.provider</c>: SQLite (one node, a file in the state directory) or PostgreSQL (a database
    /// every node of a cluster can share, at <see cref="ConnectionString"/>).
    /// </summary>
    public JournalProvider Provider { get; init; } = JournalProvider.Sqlite;

    /// <summary><c>mailscanner.journal.connection-string</c>: the PostgreSQL database (Npgsql's syntax); unused for SQLite.</summary>
    public string ConnectionString { get; init; } = "";

    /// <summary>Where the journal is, as logs and errors name it: the SQLite file, or the PostgreSQL host and database (never the password).</summary>
    public string Location => Provider switch
    {
        JournalProvider.PostgreSql => PostgreSqlLocation(ConnectionString),
        _ => DatabasePath,
    };

    private static string PostgreSqlLocation(string connectionString)
    {
        try
        {
            var parsed = new Npgsql.NpgsqlConnectionStringBuilder(connectionString);
            return $"postgresql://{parsed.Host}:{parsed.Port}/{parsed.Database}";
        }
        catch (ArgumentException)
        {
            return "postgresql (connection string not readable)";
        }
    }
    /// <summary>
    /// Whether a write is on disk when the database answers. PostgreSQL's commit waits for its own WAL flush; SQLite runs in
    /// synchronous=NORMAL (WAL, no fsync per commit) and is made durable by the delivery path's barriers, which flush its
    /// state directory's file system with the queues' (<see cref="Delivery.ExactlyOnceDelivery"/>).
    /// </summary>
    public bool DurableOnWrite => Provider == JournalProvider.PostgreSql;

    /// <summary>The directory whose file system the durability barrier must flush for this journal, or null when the database is not a local file.</summary>
    public string? LocalDirectory => Enabled && Provider == JournalProvider.Sqlite ? Path.GetDirectoryName(Path.GetFullPath(DatabasePath)) : null;

    /// <summary>Akka.Persistence.Sql's plugins; another pair only in specs that watch what reaches the database.</summary>
    public string JournalPluginId { get; init; } = "akka.persistence.journal.sql";
    public string SnapshotPluginId { get; init; } = "akka.persistence.snapshot-store.sql";

    /// <summary>
    /// Short enough that a request the journal cannot answer (database locked, disk full) hands the message back soon;
    /// long enough for a group commit under load.
    /// </summary>
    public TimeSpan AnswerTimeout { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// <c>mailscanner.journal.write-linger</c>: under load (the last write carried more than one request), how long the
    /// next write waits for more requests to join it. Zero: every write goes as soon as the previous one is done.
    /// </summary>
    public TimeSpan WriteLinger { get; init; } = TimeSpan.FromMilliseconds(2);

    /// <summary>Reads <c>mailscanner.journal</c> and <c>mailscanner.max-processing-attempts</c>.</summary>
    public static JournalSettings FromConfig(Config config, string stateDirectory)
    {
        var providerName = ConfigValues.Raw(config, ProviderKey);
        var provider = providerName.ToLowerInvariant() switch
        {
            "sqlite" => JournalProvider.Sqlite,
            "postgresql" => JournalProvider.PostgreSql,
            _ => throw new ConfigurationException(ProviderKey, $"must be sqlite or postgresql, not '{providerName}'"),
        };
        var connectionString = ConfigValues.Raw(config, ConnectionStringKey);
        if (provider == JournalProvider.PostgreSql)
        {
            if (connectionString.Length == 0)
                throw new ConfigurationException(ConnectionStringKey, "must name the PostgreSQL database when provider = postgresql");
            try
            {
                _ = new Npgsql.NpgsqlConnectionStringBuilder(connectionString);
            }
            catch (ArgumentException e)
            {
                throw new ConfigurationException(ConnectionStringKey, $"is not a valid PostgreSQL connection string: {e.Message}");
            }
        }
        return For(stateDirectory,
            enabled: ConfigValues.Boolean(config, "mailscanner.journal.enabled"),
            maxProcessingAttempts: ConfigValues.PositiveInt(config, "mailscanner.max-processing-attempts"),
            snapshotEvery: ConfigValues.PositiveInt(config, "mailscanner.journal.snapshot-every")) with
        {
            Provider = provider,
            ConnectionString = connectionString,
            WriteLinger = ConfigValues.Duration(config, "mailscanner.journal.write-linger"),
        };
    }

    public static string ProviderName(JournalProvider provider) => provider == JournalProvider.PostgreSql ? "postgresql" : "sqlite";

    private const string ProviderKey = "mailscanner.journal.provider";
    private const string ConnectionStringKey = "mailscanner.journal.connection-string";

    public static JournalSettings For(string stateDirectory, bool enabled = true, int maxProcessingAttempts = 6, int snapshotEvery = 2000) =>
        new(enabled, Path.Combine(stateDirectory, DatabaseFileName), snapshotEvery, maxProcessingAttempts);
}

public enum JournalProvider
{
    Sqlite,
    PostgreSql,
}
