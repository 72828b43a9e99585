using MailScanner.Actors.CrashHarness;
using Xunit;

namespace MailScanner.Actors.Tests.TestSupport;

/// <summary>
/// A private PostgreSQL server (<see cref="PrivatePostgres"/>: Debian's postgresql package, its own data directory,
/// loopback, a free port), started for a test class: every class that uses this fixture has a server of its own. Each
/// spec asks for a fresh database with <see cref="CreateDatabaseAsync"/>. (The PostgreSQL outage specs stop and start
/// a server of their own, the crash harness's, not this one.)
/// </summary>
public sealed class PostgresServer : IAsyncLifetime
{
    private PrivatePostgres? _server;

    private PrivatePostgres Server => _server ?? throw new InvalidOperationException("the PostgreSQL fixture is not started");

    public int Port { get; } = LoopbackPort.Free();

    public async Task InitializeAsync() =>
        _server = await PrivatePostgres.StartNewAsync(Path.Combine(TempDirectory.On(TempDirectory.Ext4), $"mailscanner-pg-{Guid.NewGuid():N}"), Port);

    /// <summary>A new, empty database on this server, and the connection string the gateway is configured with.</summary>
    public Task<string> CreateDatabaseAsync() => Server.CreateDatabaseAsync();

    public string ConnectionString(string database) => Server.ConnectionString(database);

    public Task<long> ScalarAsync(string connectionString, string query) => Server.ScalarAsync(connectionString, query);

    public Task DisposeAsync()
    {
        _server?.Dispose();
        return Task.CompletedTask;
    }
}
