using System.Diagnostics;
using Npgsql;

namespace MailScanner.Actors.CrashHarness;

/// <summary>
/// A private PostgreSQL server (Debian's postgresql package): its own data directory under <see cref="Directory"/>
/// (initdb as the postgres user, which initdb requires), loopback only, a free port, trust authentication for
/// loopback. It can be stopped and started again on the same port and data, as an operator's restart or an outage would.
/// The test suite's <c>PostgresServer</c> fixture and the harness's cluster runs both use it.
/// </summary>
public sealed class PrivatePostgres : IDisposable
{
    private PrivatePostgres(string directory, int port)
    {
        Directory = directory;
        Port = port;
    }

    public string Directory { get; }
    public int Port { get; }
    private string DataDirectory => Path.Combine(Directory, "data");
    private string LogFile => Path.Combine(Directory, "server.log");

    /// <summary>Makes the data directory under <paramref name="directory"/> (created, given to postgres) and starts the server.</summary>
    public static async Task<PrivatePostgres> StartNewAsync(string directory, int port, CancellationToken cancel = default)
    {
        System.IO.Directory.CreateDirectory(directory);
        Run("chown", "postgres:postgres", directory);
        var server = new PrivatePostgres(directory, port);
        AsPostgres("initdb", "--no-sync", "--auth=trust", "--username=postgres", "--encoding=UTF8", "-D", server.DataDirectory);
        await server.StartAsync(cancel);
        return server;
    }

    /// <summary>Starts the server (again) and waits until it accepts connections.</summary>
    public async Task StartAsync(CancellationToken cancel = default)
    {
        AsPostgres("pg_ctl", "-D", DataDirectory, "-l", LogFile, "-w", "-t", "60",
            "-o", $"-p {Port} -k {Directory} -c listen_addresses=127.0.0.1", "start");
        var patience = Stopwatch.StartNew();
        while (!await CanConnectAsync(cancel))
        {
            if (patience.Elapsed > TimeSpan.FromSeconds(30))
                throw new InvalidOperationException($"PostgreSQL on port {Port} does not accept connections: {Log()}");
            await Task.Delay(100, cancel);
        }
    }

    /// <summary>
    /// Stops the server as an operator's <c>pg_ctl stop</c> does (fast: every session is ended, nothing waits for
    /// clients), and returns once it is down: every connection the gateway holds is broken, new ones are refused.
    /// </summary>
    public void Stop() => AsPostgres("pg_ctl", "-D", DataDirectory, "-m", "fast", "-w", "-t", "60", "stop");

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

    /// <summary>Stops the server at once and deletes its directory.</summary>
    public void Dispose()
    {
        try
        {
            if (File.Exists(Path.Combine(DataDirectory, "postmaster.pid")))
                AsPostgres("pg_ctl", "-D", DataDirectory, "-m", "immediate", "-w", "stop");
        }
        finally
        {
            NpgsqlConnection.ClearAllPools();
            System.IO.Directory.Delete(Directory, recursive: true);
        }
    }

    private async Task<bool> CanConnectAsync(CancellationToken cancel)
    {
        try
        {
            await using var connection = new NpgsqlConnection(ConnectionString("postgres"));
            await connection.OpenAsync(cancel);
            return true;
        }
        catch (NpgsqlException)
        {
            return false;
        }
    }

    private string Log() => File.Exists(LogFile) ? File.ReadAllText(LogFile) : "no server log";

    /// <summary>The newest installed server's binaries (Debian keeps them out of PATH, under /usr/lib/postgresql/N/bin).</summary>
    private static string Binary(string name)
    {
        var bin = System.IO.Directory.Exists("/usr/lib/postgresql")
            ? System.IO.Directory.GetDirectories("/usr/lib/postgresql").Select(version => Path.Combine(version, "bin"))
                .Where(System.IO.Directory.Exists).OrderByDescending(path => int.TryParse(Path.GetFileName(Path.GetDirectoryName(path)), out var v) ? v : 0).FirstOrDefault()
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
