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

    public static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }
}
