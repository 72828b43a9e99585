namespace MailScanner.Actors.Journal;

/// <summary>
/// The message journal (<c>mailscanner.journal</c>): an SQLite file under <c>mailscanner.state-directory</c>,
/// written through Akka.Persistence.Sql.
/// </summary>
/// <param name="Enabled">
/// Off only for measuring what the journal costs: without it a crash between delivering a message and deleting its
/// original delivers it again at the next start (at-least-once, as MailScanner), and crashes are not counted.
/// </param>
/// <param name="DatabasePath">The SQLite database file.</param>
/// <param name="SnapshotEvery">After this many events the state is snapshotted and the rows before it deleted.</param>
/// <param name="MaxProcessingAttempts">
/// <c>mailscanner.max-processing-attempts</c>: a message whose processing was started this many times without ending
/// (a crash, an exception) is quarantined as unprocessable instead of tried again.
/// </param>
public sealed record JournalSettings(bool Enabled, string DatabasePath, int SnapshotEvery, int MaxProcessingAttempts)
{
    public const string DatabaseFileName = "journal.db";

    public string PersistenceId => "mailscanner-messages";
    /// <summary>Akka.Persistence.Sql's plugins; another pair only in specs that watch what reaches the database.</summary>
    public string JournalPluginId { get; init; } = "akka.persistence.journal.sql";
    public string SnapshotPluginId { get; init; } = "akka.persistence.snapshot-store.sql";

    /// <summary>
    /// Short enough that a request the journal cannot answer (database locked, disk full) hands the message back soon;
    /// long enough for a group commit under load.
    /// </summary>
    public TimeSpan AnswerTimeout { get; init; } = TimeSpan.FromSeconds(15);

    public static JournalSettings For(string stateDirectory, bool enabled = true, int maxProcessingAttempts = 6, int snapshotEvery = 2000) =>
        new(enabled, Path.Combine(stateDirectory, DatabaseFileName), snapshotEvery, maxProcessingAttempts);
}
