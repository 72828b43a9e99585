using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;
using Xunit;

namespace MailScanner.Actors.Tests.TestSupport;

/// <summary>
/// A private PostgreSQL server (Debian's postgresql package), started for a test class: its own data directory
/// (initdb as the postgres user, which initdb requires), loopback only, a free port, trust authentication for
/// loopback. Each spec asks for a fresh database with <see cref="CreateDatabaseAsync"/>.
/// </summary>
public sealed class PostgresServer : IAsyncLifetime
{
    private readonly string _directory = Path.Combine(TempDirectory.On(TempDirectory.Ext4), $"mailscanner-pg-{Guid.NewGuid():N}");
    private string DataDirectory => Path.Combine(_directory, "data");

    public int Port { get; } = LoopbackPort.Free();

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_directory);
        Run("chown", "postgres:postgres", _directory);
        AsPostgres("initdb", "--no-sync", "--auth=trust", "--username=postgres", "--encoding=UTF8", "-D", DataDirectory);
        AsPostgres("pg_ctl", "-D", DataDirectory, "-l", Path.Combine(_directory, "server.log"), "-w", "-t", "60",
            "-o", $"-p {Port} -k {_directory} -c listen_addresses=127.0.0.1", "start");
        await Eventually.Holds(CanConnectAsync, TimeSpan.FromSeconds(30), () => $"PostgreSQL on port {Port} to accept connections ({Log()})");
    }

    /// <summary>A new, empty database on this server, and the connection string the gateway is configured with.</summary>
    public async Task<string> CreateDatabaseAsync()
    {
        var name = $"mailscanner_{Guid.NewGuid():N}";
        await using (var connection = new NpgsqlConnection(ConnectionString("postgres")))
        {
            await connection.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
            await create.ExecuteNonQueryAsync();
        }
        return ConnectionString(name);
    }

    public string ConnectionString(string database) =>
        new NpgsqlConnectionStringBuilder { Host = "127.0.0.1", Port = Port, Database = database, Username = "postgres", Pooling = true }.ConnectionString;

    public async Task<long> ScalarAsync(string connectionString, string query)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(query, connection);
        return Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }

    public Task DisposeAsync()
    {
        try
        {
            AsPostgres("pg_ctl", "-D", DataDirectory, "-m", "immediate", "-w", "stop");
        }
        finally
        {
            NpgsqlConnection.ClearAllPools();
            Directory.Delete(_directory, recursive: true);
        }
        return Task.CompletedTask;
    }

    private async Task<bool> CanConnectAsync()
    {
        try
        {
            await using var connection = new NpgsqlConnection(ConnectionString("postgres"));
            await connection.OpenAsync();
            return true;
        }
        catch (NpgsqlException)
        {
            return false;
        }
    }

    private string Log()
    {
        var log = Path.Combine(_directory, "server.log");
        return File.Exists(log) ? File.ReadAllText(log) : "no server log";
    }

    /// <summary>The newest installed server's binaries (Debian keeps them out of PATH, under /usr/lib/postgresql/N/bin).</summary>
    private static string Binary(string name)
    {
        var bin = Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql").Select(version => Path.Combine(version, "bin"))
                .Where(Directory.Exists).OrderByDescending(path => int.TryParse(Path.GetFileName(Path.GetDirectoryName(path)), out var v) ? v : 0).FirstOrDefault()
            : null;
        return bin is not null ? Path.Combine(bin, name)
            : throw new InvalidOperationException("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin): tests/run-all.sh installs the postgresql package");
    }

    private static void AsPostgres(string binary, params string[] arguments) => Run("runuser", ["-u", "postgres", "--", Binary(binary), .. arguments]);

    private static void Run(string file, params string[] arguments)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments) info.ArgumentList.Add(argument);
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"cannot start {file}");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"{file} {string.Join(' ', arguments)} exited with {process.ExitCode}: {error}{output.Result}");
    }
}
