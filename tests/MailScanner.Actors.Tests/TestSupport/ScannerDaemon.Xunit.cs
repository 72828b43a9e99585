using Xunit;

namespace MailScanner.Actors.Tests.TestSupport;

/// <summary>
/// Specs that run a scanner daemon run alone, not beside the queue specs: a daemon's work (temporary files, CPU on a
/// small machine) must not disturb the specs that reproduce inode reuse.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ScannerDaemonCollection
{
    public const string Name = "scanner daemons";
}

/// <summary>What xunit needs of a daemon used as a class fixture: started before the first spec, killed after the last.</summary>
public abstract partial class ScannerDaemon : IAsyncLifetime
{
    public Task InitializeAsync() => StartAsync();

    public Task DisposeAsync()
    {
        Dispose();
        return Task.CompletedTask;
    }
}
