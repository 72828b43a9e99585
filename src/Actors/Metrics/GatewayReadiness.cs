using System.Runtime.InteropServices;
using Akka.Actor;
using Akka.Hosting;
using MailScanner.Actors.Configuration;
using MailScanner.Actors.Journal;
using MailScanner.Actors.Scanning.Engines;

namespace MailScanner.Actors.Metrics;

/// <summary>
/// What <c>/health/ready</c> answers: the gateway is ready when its actor system is up and not stopping, the journal has
/// recovered and answers, every queue directory can be read and written, and every enabled scanner daemon is healthy.
/// One evaluation at a time, reused for a second: a load balancer (or a hostile client) asking in a tight loop adds at
/// most one round of asks per second to the actors.
/// </summary>
public sealed partial class GatewayReadiness
{
    private static readonly TimeSpan AnswerWithin = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan ReuseFor = TimeSpan.FromSeconds(1);

    private readonly ActorSystem _system;
    private readonly GatewaySettings _settings;
    private readonly IActorRegistry _registry;
    private readonly Lock _lock = new();
    private Task<ReadinessReport>? _last;
    private DateTime _lastAt;

    public GatewayReadiness(ActorSystem system, IActorRegistry registry, GatewaySettings settings)
    {
        _system = system;
        _registry = registry;
        _settings = settings;
    }

    public Task<ReadinessReport> CheckAsync()
    {
        lock (_lock)
        {
            if (_last is null || (_last.IsCompleted && DateTime.UtcNow - _lastAt > ReuseFor))
            {
                _last = EvaluateAsync();
                _lastAt = DateTime.UtcNow;
            }
            return _last;
        }
    }

    private async Task<ReadinessReport> EvaluateAsync()
    {
        var checks = new List<ReadinessCheck>
        {
            _system.WhenTerminated.IsCompleted || CoordinatedShutdown.Get(_system).ShutdownReason is not null
                ? new ReadinessCheck("actor-system", false, "the gateway is stopping")
                : new ReadinessCheck("actor-system", true, "up"),
            await JournalAsync(),
        };
        checks.AddRange(Queues());
        checks.AddRange(await ScannersAsync());
        return new ReadinessReport(checks.TrueForAll(c => c.Ok), checks);
    }

    private async Task<ReadinessCheck> JournalAsync()
    {
        if (!_settings.Journal.Enabled) return new ReadinessCheck("journal", true, "disabled (mailscanner.journal.enabled = no)");
        if (!_registry.TryGet<MessageJournal>(out var journal)) return new ReadinessCheck("journal", false, "not started");
        try
        {
            // The journal stashes requests while it recovers, so an answer means it has recovered.
            var size = await journal.Ask<MessageJournalProtocol.Size>(MessageJournalProtocol.GetSize.Instance, AnswerWithin);
            return new ReadinessCheck("journal", true, $"recovered, {size.Messages} message(s) in progress");
        }
        catch (Exception e) when (e is AskTimeoutException or TaskCanceledException)
        {
            return new ReadinessCheck("journal", false, $"not recovered or not answering within {AnswerWithin.TotalSeconds:0} s");
        }
    }

    private IEnumerable<ReadinessCheck> Queues()
    {
        const int read = 4, write = 2, search = 1;
        yield return Directory("queue.incoming", _settings.Queue.Incoming, read | write | search);
        yield return Directory("queue.work", _settings.Queue.Work, read | write | search);
        yield return Directory("queue.bad", _settings.Queue.Bad, write | search);
        yield return Directory("queue.outgoing", _settings.Queue.Outgoing, write | search);
        yield return Directory("quarantine", _settings.Quarantine.Directory, write | search);

        static ReadinessCheck Directory(string name, string path, int mode) =>
            Access(path, mode) == 0
                ? new ReadinessCheck(name, true, path)
                : new ReadinessCheck(name, false, $"{path}: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
    }

    private async Task<IEnumerable<ReadinessCheck>> ScannersAsync()
    {
        var engines = ScannerEngineHosting.EnginesIn(_registry);
        var answers = await Task.WhenAll(engines.Select(async engine =>
        {
            try
            {
                var health = await engine.Ask<ScannerEngine.HealthStatus>(ScannerEngine.GetHealth.Instance, AnswerWithin);
                return new ReadinessCheck($"scanner.{health.Engine}", health.IsHealthy, health.Health.ToString() ?? "");
            }
            catch (Exception e) when (e is AskTimeoutException or TaskCanceledException)
            {
                return new ReadinessCheck($"scanner.{engine.Path.Name}", false, $"its engine did not answer within {AnswerWithin.TotalSeconds:0} s");
            }
        }));
        return answers;
    }

    /// <summary>access(2): whether this process may use the directory so, without touching anything in it.</summary>
    [LibraryImport("libc", EntryPoint = "access", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Access(string path, int mode);
}

/// <param name="Ready">True only when every check is.</param>
public sealed record ReadinessReport(bool Ready, IReadOnlyList<ReadinessCheck> Checks);

/// <param name="Detail">What was found: for a failed check, what is not ready and why.</param>
public sealed record ReadinessCheck(string Name, bool Ok, string Detail);
