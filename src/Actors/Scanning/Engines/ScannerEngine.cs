using System.Net.Sockets;
using Akka.Actor;
using Akka.Event;
using Akka.Pattern;
using MailScanner.Actors.Metrics;

namespace MailScanner.Actors.Scanning.Engines;

/// <summary>
/// One scanner daemon (clamd, spamd) behind an actor: it bounds the calls made to the daemon at once (more scans
/// wait here, in arrival order, and are never dropped), gives every call a timeout, and keeps a health state.
///
///   Healthy ──(UnhealthyAfterFailures consecutive failed calls)──► Unhealthy ──(PING answered)──► Healthy
///                                                                  │ PING every ProbeMinBackoff, doubling up to
///                                                                  │ ProbeMaxBackoff while it keeps failing
///
/// A call that times out may be the message's fault (a message the daemon chews on for minutes), not the daemon's:
/// the engine sends a PING at once, and only when that fails too does the timeout count as a failed call. Otherwise
/// the answer says <see cref="Unavailable.MessageMayBeTheCause"/>, and the MessageActor counts the attempt against
/// that message alone (after <c>max-processing-attempts</c> it is quarantined) while everyone else's mail goes on.
///
/// Every <see cref="Scan"/> is answered exactly once: <see cref="Scanned"/> with the daemon's complete report, or
/// <see cref="Unavailable"/> when the scan could not complete (refused while unhealthy, connection failure,
/// protocol error, timeout, engine stopped). Unavailable means "no verdict": the caller keeps the message and
/// tries again later; it must never be taken for clean.
/// </summary>
/// <remarks>
/// Calls run on the thread pool and come back as messages (<c>PipeTo(Self)</c>); the actor thread never waits on
/// a socket. A call that timed out is answered at once and cancelled, but keeps its slot until its task has really
/// finished, so the daemon never sees more than <see cref="ScannerEngineSettings.MaxConcurrent"/> calls.
/// </remarks>
public sealed class ScannerEngine : ReceiveActor, IWithTimers
{
    // ---- Protocol ---------------------------------------------------------------------------------------

    /// <summary>Scan <paramref name="Content"/> (the whole RFC 5322 message) for the message known as <paramref name="MessageKey"/>.</summary>
    public sealed record Scan(string MessageKey, ReadOnlyMemory<byte> Content);

    /// <summary>The daemon scanned the message completely.</summary>
    public sealed record Scanned(string MessageKey, ScanReport Report);

    /// <summary>The message was not scanned (and must not be delivered on the strength of this engine).</summary>
    /// <param name="MessageMayBeTheCause">The call timed out while the daemon itself answers: this message may be what it cannot get through.</param>
    public sealed record Unavailable(string MessageKey, string Reason, bool MessageMayBeTheCause = false);

    /// <summary>Asks for a <see cref="HealthStatus"/>.</summary>
    public sealed record GetHealth
    {
        public static readonly GetHealth Instance = new();
    }

    public sealed record HealthStatus(string Engine, ScannerHealth Health, int InFlight, int Queued)
    {
        public bool IsHealthy => Health is ScannerHealth.Healthy;
    }

    // ---- Actor-private messages -----------------------------------------------------------------------------

    private sealed record CallSucceeded(long CallId, ScanReport Report);
    private sealed record CallFailed(long CallId, Exception Cause);
    private sealed record CallTimedOut(long CallId);
    private sealed record ProbeNow
    {
        public static readonly ProbeNow Instance = new();
    }
    private sealed record ProbeSucceeded
    {
        public static readonly ProbeSucceeded Instance = new();
    }
    private sealed record ProbeFailed(Exception Cause);
    private sealed record TimeoutCheckFailed(Scan Scan, IActorRef ReplyTo, string TimeoutReason, Exception Cause);
    private sealed record TimeoutCheckPassed(Scan Scan, IActorRef ReplyTo, string TimeoutReason);

    private sealed class Call(Scan scan, IActorRef replyTo)
    {
        public Scan Scan { get; } = scan;
        public IActorRef ReplyTo { get; } = replyTo;
        public CancellationTokenSource Cancellation { get; } = new();
        public long StartedAt { get; } = System.Diagnostics.Stopwatch.GetTimestamp();
        public bool Answered { get; set; }
    }

    private const string ProbeTimer = "probe";

    private readonly IScannerBackend _backend;
    private readonly PipelineCounters? _counters;
    private readonly ScannerEngineSettings _settings;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Dictionary<long, Call> _calls = new();
    private readonly Queue<(Scan Scan, IActorRef ReplyTo)> _waiting = new();
    /// <summary>Timed-out scans whose caller waits for the PING that says whose fault it was.</summary>
    private readonly HashSet<(Scan Scan, IActorRef ReplyTo)> _checking = new();

    private ScannerHealth _health = ScannerHealth.Up;
    private long _nextCallId;
    private int _consecutiveFailures;
    private TimeSpan _probeBackoff;
    private CancellationTokenSource? _probe;

    public ITimerScheduler Timers { get; set; } = null!;

    public ScannerEngine(IScannerBackend backend, ScannerEngineSettings settings, PipelineCounters? counters = null)
    {
        _backend = backend;
        _counters = counters;
        _counters?.ScannerHealthChanged(backend.Name, up: true);
        _settings = settings.Validated();
        _probeBackoff = settings.ProbeMinBackoff;

        Receive<Scan>(OnScan);
        Receive<CallSucceeded>(OnCallSucceeded);
        Receive<CallFailed>(OnCallFailed);
        Receive<CallTimedOut>(OnCallTimedOut);
        Receive<GetHealth>(_ => Sender.Tell(new HealthStatus(_backend.Name, _health, _calls.Count, _waiting.Count)));
        Receive<ProbeNow>(_ => StartProbe());
        Receive<ProbeSucceeded>(_ => OnProbeSucceeded());
        Receive<ProbeFailed>(OnProbeFailed);
        Receive<TimeoutCheckPassed>(passed =>
        {
            if (!_checking.Remove((passed.Scan, passed.ReplyTo))) return;
            _log.Warning("{0}: {1} for message {2}, but answers PING: the timeout counts against that message", _backend.Name,
                passed.TimeoutReason, passed.Scan.MessageKey);
            passed.ReplyTo.Tell(new Unavailable(passed.Scan.MessageKey, $"{passed.TimeoutReason} (it answers PING: this message may be what it cannot get through)",
                MessageMayBeTheCause: true));
        });
        Receive<TimeoutCheckFailed>(failed =>
        {
            if (!_checking.Remove((failed.Scan, failed.ReplyTo))) return;
            var reason = $"{failed.TimeoutReason}, and PING failed too: {Describe(failed.Cause)}";
            failed.ReplyTo.Tell(new Unavailable(failed.Scan.MessageKey, reason));
            RecordFailure(reason);
        });
    }

    public static Props PropsFor(IScannerBackend backend, ScannerEngineSettings settings, PipelineCounters? counters = null) =>
        Props.Create(() => new ScannerEngine(backend, settings, counters));

    /// <summary>
    /// The engine under a back-off supervisor: should the engine itself ever crash, it is restarted after
    /// 1 s, doubling up to 30 s. Messages sent to the supervisor are forwarded with their sender, so callers see no
    /// difference; callers in flight when it crashed are answered <see cref="Unavailable"/> by the dying engine.
    /// </summary>
    public static Props SupervisedPropsFor(IScannerBackend backend, ScannerEngineSettings settings, PipelineCounters? counters = null) =>
        BackoffSupervisor.Props(Backoff.OnFailure(PropsFor(backend, settings, counters), $"{backend.Name}-engine",
                TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30), randomFactor: 0.2, maxNrOfRetries: -1)
            .WithAutoReset(TimeSpan.FromSeconds(60)));

    private void OnScan(Scan scan)
    {
        if (_health is ScannerHealth.Unhealthy unhealthy)
        {
            Sender.Tell(new Unavailable(scan.MessageKey, $"{_backend.Name} is {unhealthy}"));
            return;
        }
        if (_calls.Count < _settings.MaxConcurrent) Start(scan, Sender);
        else _waiting.Enqueue((scan, Sender));
    }

    private void Start(Scan scan, IActorRef replyTo)
    {
        var id = ++_nextCallId;
        var call = new Call(scan, replyTo);
        _calls.Add(id, call);
        Timers.StartSingleTimer(CallTimer(id), new CallTimedOut(id), _settings.Timeout);

        var backend = _backend;
        var token = call.Cancellation.Token;
        Task.Run(() => backend.ScanAsync(scan.Content, token), CancellationToken.None)
            .PipeTo(Self, success: report => new CallSucceeded(id, report), failure: e => new CallFailed(id, Unwrap(e)));
    }

    private void OnCallSucceeded(CallSucceeded done)
    {
        if (!Finish(done.CallId, out var call)) return;
        // A call that timed out was counted then, as a failure.
        if (!call.Answered) _counters?.ScannerCallEnded(_backend.Name, call.StartedAt, failed: false);
        if (!call.Answered) call.ReplyTo.Tell(new Scanned(call.Scan.MessageKey, done.Report));
        _consecutiveFailures = 0;
        StartWaiting();
    }

    private void OnCallFailed(CallFailed failed)
    {
        if (!Finish(failed.CallId, out var call)) return;
        if (!call.Answered)
        {
            _counters?.ScannerCallEnded(_backend.Name, call.StartedAt, failed: true);
            var reason = Describe(failed.Cause);
            call.ReplyTo.Tell(new Unavailable(call.Scan.MessageKey, reason));
            RecordFailure(reason);
        }
        StartWaiting();
    }

    private void OnCallTimedOut(CallTimedOut timedOut)
    {
        if (!_calls.TryGetValue(timedOut.CallId, out var call) || call.Answered) return;
        call.Answered = true;
        var reason = $"{_backend.Name} did not answer within {_settings.Timeout.TotalSeconds:0.###}s";
        call.Cancellation.Cancel(); // its slot is freed when the cancelled task comes back
        _counters?.ScannerCallEnded(_backend.Name, call.StartedAt, failed: true);
        CheckAfterTimeout(call, reason);
    }

    /// <summary>
    /// Is it the daemon? The caller is answered once a PING says: a daemon that answers keeps its health and the timeout
    /// is the message's (<see cref="Unavailable.MessageMayBeTheCause"/>); one that does not has failed a call.
    /// </summary>
    private void CheckAfterTimeout(Call call, string reason)
    {
        var (scan, replyTo) = (call.Scan, call.ReplyTo);
        _checking.Add((scan, replyTo));
        var backend = _backend;
        var check = new CancellationTokenSource(_settings.Timeout);
        Task.Run(() => backend.PingAsync(check.Token), CancellationToken.None)
            .ContinueWith(ping =>
            {
                check.Dispose();
                return ping;
            }, TaskScheduler.Default).Unwrap()
            .PipeTo(Self, success: () => new TimeoutCheckPassed(scan, replyTo, reason), failure: e => new TimeoutCheckFailed(scan, replyTo, reason, Unwrap(e)));
    }

    private bool Finish(long id, out Call call)
    {
        if (!_calls.Remove(id, out call!)) return false; // a call of a previous incarnation of this actor
        Timers.Cancel(CallTimer(id));
        call.Cancellation.Dispose();
        return true;
    }

    private void StartWaiting()
    {
        while (_health is ScannerHealth.Healthy && _calls.Count < _settings.MaxConcurrent && _waiting.TryDequeue(out var next))
            Start(next.Scan, next.ReplyTo);
    }

    private void RecordFailure(string reason)
    {
        _consecutiveFailures++;
        _log.Warning("{0}: scan failed ({1} in a row): {2}", _backend.Name, _consecutiveFailures, reason);
        if (_health is not ScannerHealth.Healthy || _consecutiveFailures < _settings.UnhealthyAfterFailures) return;

        _health = new ScannerHealth.Unhealthy(DateTimeOffset.UtcNow, reason, 0);
        _counters?.ScannerHealthChanged(_backend.Name, up: false);
        _log.Error("{0} is unhealthy after {1} failed calls ({2}); scans are refused until it answers PING",
            _backend.Name, _consecutiveFailures, reason);
        while (_waiting.TryDequeue(out var waiting))
            waiting.ReplyTo.Tell(new Unavailable(waiting.Scan.MessageKey, $"{_backend.Name} became unhealthy: {reason}"));
        _probeBackoff = _settings.ProbeMinBackoff;
        Timers.StartSingleTimer(ProbeTimer, ProbeNow.Instance, _probeBackoff);
    }

    private void StartProbe()
    {
        if (_health is ScannerHealth.Healthy || _probe is not null) return;
        _probe = new CancellationTokenSource(_settings.Timeout);
        var backend = _backend;
        var token = _probe.Token;
        Task.Run(() => backend.PingAsync(token), CancellationToken.None)
            .PipeTo(Self, success: () => ProbeSucceeded.Instance, failure: e => new ProbeFailed(Unwrap(e)));
    }

    private void OnProbeSucceeded()
    {
        EndProbe();
        if (_health is ScannerHealth.Unhealthy unhealthy)
            _log.Info("{0} answers PING again; healthy after {1:0.#}s unavailable", _backend.Name,
                (DateTimeOffset.UtcNow - unhealthy.Since).TotalSeconds);
        _health = ScannerHealth.Up;
        _counters?.ScannerHealthChanged(_backend.Name, up: true);
        _consecutiveFailures = 0;
        _probeBackoff = _settings.ProbeMinBackoff;
    }

    private void OnProbeFailed(ProbeFailed failed)
    {
        EndProbe();
        if (_health is not ScannerHealth.Unhealthy unhealthy) return;
        _health = unhealthy with { Reason = Describe(failed.Cause), FailedProbes = unhealthy.FailedProbes + 1 };
        _probeBackoff = TimeSpan.FromTicks(Math.Min(_probeBackoff.Ticks * 2, _settings.ProbeMaxBackoff.Ticks));
        Timers.StartSingleTimer(ProbeTimer, ProbeNow.Instance, _probeBackoff);
    }

    private void EndProbe()
    {
        _probe?.Dispose();
        _probe = null;
    }

    protected override void PostStop()
    {
        foreach (var call in _calls.Values)
        {
            if (!call.Answered) call.ReplyTo.Tell(new Unavailable(call.Scan.MessageKey, $"{_backend.Name} engine stopped"));
            call.Cancellation.Cancel();
        }
        _calls.Clear();
        while (_waiting.TryDequeue(out var waiting))
            waiting.ReplyTo.Tell(new Unavailable(waiting.Scan.MessageKey, $"{_backend.Name} engine stopped"));
        foreach (var (scan, replyTo) in _checking) replyTo.Tell(new Unavailable(scan.MessageKey, $"{_backend.Name} engine stopped"));
        _checking.Clear();
        _probe?.Cancel();
        base.PostStop();
    }

    private static string CallTimer(long id) => $"call-{id}";

    private static Exception Unwrap(Exception e) =>
        e is AggregateException { InnerExceptions.Count: 1 } aggregate ? Unwrap(aggregate.InnerExceptions[0]) : e;

    private string Describe(Exception e) => e switch
    {
        SocketException s => $"{_backend.Name} connection failed: {s.SocketErrorCode} ({s.Message})",
        IOException io => $"{_backend.Name} connection failed: {io.Message}",
        OperationCanceledException => $"{_backend.Name} call cancelled",
        ScannerProtocolException p => p.Message,
        _ => $"{_backend.Name} failed: {e.GetType().Name}: {e.Message}",
    };
}
