using System.Data.Common;
using Akka.Actor.Setup;
using Akka.Configuration;
using Akka.Persistence.Sql;
using Akka.Persistence.Sql.Config;
using LinqToDB;
using LinqToDB.Interceptors;
using Microsoft.Data.Sqlite;

namespace MailScanner.Actors.Journal;

/// <summary>
/// The actor-system configuration the journal needs: Akka.Persistence.Sql on an SQLite file. It must be part of the
/// actor system's configuration from the start (Akka reads plugins at creation); <see cref="MessageJournalHosting"/>
/// adds it, with the serializer for the journal's rows, to the builder of the actor system.
/// </summary>
public static partial class JournalConfig
{
    public static Config For(JournalSettings settings) => settings.Provider switch
    {
        JournalProvider.PostgreSql => Plugins(settings.ConnectionString, "PostgreSQL.15",
            // PostgreSQL takes concurrent writers; our journal still writes one batch at a time (group commit).
            parallelism: 2),
        _ => Plugins(SqliteConnectionString(settings), "SQLite.MS",
            // SQLite has one writer: more than one concurrent batch only makes them wait for each other.
            parallelism: 1),
    };

    /// <summary>
    /// What the plugins need beyond HOCON, given to the actor system at creation: for SQLite, connections that run in
    /// synchronous=NORMAL (a per-connection setting, so it is set on every connection the plugins open). In WAL mode a
    /// commit then appends to the log without an fsync; the delivery path's barrier rounds flush the journal's file
    /// system with the queues' (<see cref="Delivery.ExactlyOnceDelivery"/> says in what order and why that is safe).
    /// PostgreSQL keeps its own durable commits: nothing to add.
    /// </summary>
    public static Setup? SetupFor(JournalSettings settings)
    {
        if (settings.Provider != JournalProvider.Sqlite) return null;
        var options = new DataOptions()
            .UseConnectionString(ProviderName.SQLiteMS, SqliteConnectionString(settings))
            .UseInterceptor(new SynchronousNormal());
        var setup = new MultiDataOptionsSetup();
        setup.AddDataOptions(settings.JournalPluginId, options);
        setup.AddDataOptions(settings.SnapshotPluginId, options);
        return setup;
    }

    /// <summary>Puts each connection the plugins open into synchronous=NORMAL before it is used.</summary>
    private sealed class SynchronousNormal : ConnectionInterceptor
    {
        private const string Pragma = "PRAGMA synchronous=NORMAL;";

        public override void ConnectionOpened(ConnectionEventData eventData, DbConnection connection)
        {
            using var command = connection.CreateCommand();
            command.CommandText = Pragma;
            command.ExecuteNonQuery();
        }

        public override async Task ConnectionOpenedAsync(ConnectionEventData eventData, DbConnection connection, CancellationToken cancellationToken)
        {
            await using var command = connection.CreateCommand();
            command.CommandText = Pragma;
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private static string SqliteConnectionString(JournalSettings settings) => new SqliteConnectionStringBuilder
    {
        DataSource = settings.DatabasePath,
        // A locked database (another process holding it) fails a write after this many seconds instead of
        // hanging: the journal restarts with back-off and the messages waiting on it go back to the queue.
        DefaultTimeout = 5,
        Pooling = true,
    }.ConnectionString;

    private static Config Plugins(string connectionString, string provider, int parallelism)
    {
        var quoted = System.Text.Json.JsonSerializer.Serialize(connectionString);
        return ConfigurationFactory.ParseString($$"""
            akka.persistence {
              journal.sql {
                connection-string = {{quoted}}
                provider-name = "{{provider}}"
                auto-initialize = true
                parallelism = {{parallelism}}
                batch-size = 500
                # Our events carry no tags. The default tag table makes every insert a row of its own (to learn the
                # row's id for its tags); without it a write batch is one multi-row insert.
                tag-write-mode = Csv
              }
              snapshot-store.sql {
                connection-string = {{quoted}}
                provider-name = "{{provider}}"
                auto-initialize = true
              }
            }
            """).WithFallback(SqlPersistence.DefaultConfiguration);
    }

    /// <summary>
    /// Creates the database's directory and puts the file in WAL mode (a property of the file, kept across opens):
    /// commits then append to the log with one fsync instead of rewriting pages, and readers never block the writer.
    /// The plugins' connections run in synchronous=NORMAL (<see cref="SetupFor"/>): a commit survives the process dying
    /// at once and reaches the disk with the delivery path's next barrier round.
    /// PostgreSQL needs nothing here: the plugin creates its tables (auto-initialize) in the database the operator made.
    /// </summary>
    public static void PrepareDatabase(JournalSettings settings)
    {
        if (settings.Provider == JournalProvider.Sqlite) Prepare(settings, []);
    }

    /// <summary>
    /// Reads the tables and indexes Akka.Persistence.Sql created in the database, as statements that create them where
    /// they are missing, and keeps them for the path: what <see cref="Recreate"/> needs to give a new file the plugin's
    /// own schema. Kept across restarts of the journal actor (see <see cref="RestoreKnownSchema"/>).
    /// </summary>
    public static void RememberSchema(JournalSettings settings) => SchemaByPath[settings.DatabasePath] = ReadSchemaFromFile(settings);

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, IReadOnlyList<string>> SchemaByPath = new();

    /// <summary>
    /// A journal started again after a failure, on a file that was deleted in the meantime, would open an empty file
    /// without the plugin's tables (the plugin creates them only once, when the actor system starts), fail to recover
    /// and be restarted forever. So an incarnation that follows one which had recovered first gives the file every
    /// table it lacks; a no-op on an intact file.
    /// </summary>
    public static void RestoreKnownSchema(JournalSettings settings)
    {
        if (settings.Provider == JournalProvider.Sqlite && SchemaByPath.ContainsKey(settings.DatabasePath)) Recreate(settings);
    }

    private static IReadOnlyList<string> ReadSchemaFromFile(JournalSettings settings)
    {
        using var connection = OpenUnpooled(settings);
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY type DESC";
        using var reader = command.ExecuteReader();
        var statements = new List<string>();
        while (reader.Read())
            statements.Add(CreateStatement().Replace(reader.GetString(0), "CREATE $1$2 IF NOT EXISTS ", 1));
        return statements;
    }

    /// <summary>
    /// Makes the database again after it was deleted or replaced under the running journal: the connections still
    /// open on the old file are let go (SQLite removes that file's WAL with its last connection), and the file at the
    /// path gets WAL mode and every table and index of the schema remembered for it (<see cref="RememberSchema"/>) it lacks.
    /// </summary>
    public static void Recreate(JournalSettings settings)
    {
        SqliteConnection.ClearAllPools();
        if (!File.Exists(settings.DatabasePath))
        {
            // A log or shared-memory file left without its database belongs to the deleted one; SQLite would replay it
            // into the new file.
            File.Delete(settings.DatabasePath + "-wal");
            File.Delete(settings.DatabasePath + "-shm");
        }
        Prepare(settings, SchemaByPath.GetValueOrDefault(settings.DatabasePath, []));
    }

    private static void Prepare(JournalSettings settings, IEnumerable<string> statements)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(settings.DatabasePath)!);
        using var connection = OpenUnpooled(settings);
        foreach (var statement in statements.Prepend("PRAGMA journal_mode=WAL;"))
        {
            using var command = connection.CreateCommand();
            command.CommandText = statement;
            command.ExecuteNonQuery();
        }
    }

    /// <summary>A connection of our own, closed for good when disposed: none is left in a pool holding the file open.</summary>
    private static SqliteConnection OpenUnpooled(JournalSettings settings)
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = settings.DatabasePath, Pooling = false }.ConnectionString);
        connection.Open();
        return connection;
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"^CREATE (UNIQUE )?(TABLE|INDEX) (?!IF NOT EXISTS)", System.Text.RegularExpressions.RegexOptions.IgnoreCase)]
    private static partial System.Text.RegularExpressions.Regex CreateStatement();
}
