using Microsoft.Data.Sqlite;

namespace MailScanner.Actors.Tests.TestSupport;

/// <summary>The journal's SQLite file read as an operator would, with its own unpooled connection.</summary>
public static class JournalDatabase
{
    public static SqliteConnection Open(string database)
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = database, Pooling = false }.ConnectionString);
        connection.Open();
        return connection;
    }

    public static long Scalar(string database, string query)
    {
        using var connection = Open(database);
        using var command = connection.CreateCommand();
        command.CommandText = query;
        return (long)command.ExecuteScalar()!;
    }

    /// <summary>Deletes the database with its log and shared-memory files, as an operator's <c>rm journal.db*</c> would.</summary>
    public static void Delete(string database)
    {
        foreach (var file in Directory.GetFiles(Path.GetDirectoryName(database)!, Path.GetFileName(database) + "*")) File.Delete(file);
    }

    public static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }
}
