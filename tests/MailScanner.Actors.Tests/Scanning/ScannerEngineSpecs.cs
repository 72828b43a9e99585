using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.TestKit.Xunit2;
using MailScanner.Actors.Scanning;
using MailScanner.Actors.Scanning.Clamd;
using MailScanner.Actors.Scanning.Engines;
using MailScanner.Actors.Tests.TestSupport;
using Xunit;
using static MailScanner.Actors.Scanning.Engines.ScannerEngine;

namespace MailScanner.Actors.Tests.Scanning;

/// <summary>The engine's bookkeeping: concurrency bound, timeouts, health; with a fake backend or no daemon at all.</summary>
public sealed class ScannerEngineSpecs : TestKit
{
    public ScannerEngineSpecs() : base("akka.loglevel = ERROR") { }

    private static ScannerEngineSettings Settings(int maxConcurrent = 4, int unhealthyAfter = 3, double timeoutSeconds = 10) =>
        new(TimeSpan.FromSeconds(timeoutSeconds), maxConcurrent, unhealthyAfter,
            TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(400));

    [Fact]
    public async Task Should_bound_concurrent_calls_and_queue_the_rest_without_dropping_any()
    {
        var backend = new GatedBackend();
        var engine = Sys.ActorOf(PropsFor(backend, Settings(maxConcurrent: 2)));

        for (var i = 0; i < 10; i++) engine.Tell(new Scan($"m{i}", new byte[] { 1 }));
        // The calls run on the thread pool: they may start a moment later.
        HealthStatus? health = null;
        await Eventually.Holds(async () => (health = await engine.Ask<HealthStatus>(GetHealth.Instance)) is { InFlight: 2, Queued: 8 } && backend.Current == 2,
            TimeSpan.FromSeconds(5), () => $"2 calls running and 8 queued ({health}; {backend.Current} running in the backend)");

        backend.Open();
        var replies = ReceiveN(10, TimeSpan.FromSeconds(10)).Cast<Scanned>().Select(s => s.MessageKey).ToHashSet();
        Assert.Equal(Enumerable.Range(0, 10).Select(i => $"m{i}").ToHashSet(), replies);
        Assert.Equal(2, backend.MostAtOnce);
    }

    [Fact]
    public async Task Should_answer_Unavailable_when_the_daemon_does_not_answer_in_time()
    {
        // A real socket that accepts (the kernel's backlog) and never answers, spoken to by the real clamd client.
        var silent = new TcpListener(IPAddress.Loopback, 0);
        silent.Start();
        try
        {
            var address = new ScannerAddress.Tcp("127.0.0.1", ((IPEndPoint)silent.LocalEndpoint).Port);
            var engine = Sys.ActorOf(PropsFor(new ClamdBackend(new ClamdClient(address)), Settings(timeoutSeconds: 0.3)));

            var started = DateTime.UtcNow;
            engine.Tell(new Scan("slow", "hello"u8.ToArray()));
            var unavailable = ExpectMsg<Unavailable>(TimeSpan.FromSeconds(5));
            Assert.Equal("slow", unavailable.MessageKey);
            Assert.Contains("did not answer within 0.3s", unavailable.Reason);
            Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(3));
            // The cancelled call gives its slot back.
            await Eventually.Holds(async () => (await engine.Ask<HealthStatus>(GetHealth.Instance)).InFlight == 0, TimeSpan.FromSeconds(5),
                "the cancelled call's slot to be free");
        }
        finally
        {
            silent.Stop();
        }
    }

    [Fact]
    public async Task Should_answer_Unavailable_quickly_and_turn_unhealthy_when_the_daemon_is_unreachable()
    {
        var nowhere = new ScannerAddress.Unix($"/tmp/msa-nothing-{Guid.NewGuid():N}.sock");
        var engine = Sys.ActorOf(PropsFor(new ClamdBackend(new ClamdClient(nowhere)), Settings(unhealthyAfter: 2)));

        engine.Tell(new Scan("a", "x"u8.ToArray()));
        engine.Tell(new Scan("b", "x"u8.ToArray()));
        Assert.Equal(new[] { "a", "b" }, ReceiveN(2, TimeSpan.FromSeconds(3)).Cast<Unavailable>().Select(u => u.MessageKey).Order());

        engine.Tell(GetHealth.Instance);
        var health = ExpectMsg<HealthStatus>();
        var unhealthy = Assert.IsType<ScannerHealth.Unhealthy>(health.Health);
        Assert.Contains("clamd", unhealthy.Reason);

        engine.Tell(new Scan("c", "x"u8.ToArray()));
        Assert.Contains("unhealthy", ExpectMsg<Unavailable>(TimeSpan.FromSeconds(1)).Reason);

        // It keeps probing with back-off (the failed probes are counted) and stays unhealthy.
        await Eventually.Holds(async () => (await engine.Ask<HealthStatus>(GetHealth.Instance)).Health is ScannerHealth.Unhealthy { FailedProbes: >= 2 },
            TimeSpan.FromSeconds(5), "two failed probes, still unhealthy");
    }

    [Fact]
    public async Task Should_refuse_queued_scans_when_it_turns_unhealthy_and_recover_when_the_probe_succeeds()
    {
        var backend = new SwitchableBackend { Up = false };
        var engine = Sys.ActorOf(PropsFor(backend, Settings(maxConcurrent: 1, unhealthyAfter: 1)));

        for (var i = 0; i < 5; i++) engine.Tell(new Scan($"m{i}", new byte[] { 1 }));
        Assert.All(ReceiveN(5, TimeSpan.FromSeconds(5)), reply => Assert.IsType<Unavailable>(reply));

        backend.Up = true;
        await Eventually.Holds(async () => (await engine.Ask<HealthStatus>(GetHealth.Instance)).IsHealthy, TimeSpan.FromSeconds(5),
            "a successful probe to make the engine healthy");
        engine.Tell(new Scan("after", new byte[] { 1 }));
        Assert.Equal("after", ExpectMsg<Scanned>().MessageKey);
    }

    [Fact]
    public void Should_answer_through_its_back_off_supervisor()
    {
        var engine = Sys.ActorOf(SupervisedPropsFor(new SwitchableBackend(), Settings()));
        engine.Tell(new Scan("m", new byte[] { 1 }));
        Assert.Equal("m", ExpectMsg<Scanned>(TimeSpan.FromSeconds(5)).MessageKey);
    }

    [Fact]
    public async Task Should_blame_a_timeout_on_the_message_and_stay_healthy_when_the_daemon_answers_PING()
    {
        var engine = Sys.ActorOf(PropsFor(new StuckOnOneMessageBackend(), Settings(unhealthyAfter: 1, timeoutSeconds: 0.3)));

        engine.Tell(new Scan("stuck", "STUCK"u8.ToArray()));
        var unavailable = ExpectMsg<Unavailable>(TimeSpan.FromSeconds(5));
        Assert.Equal("stuck", unavailable.MessageKey);
        Assert.True(unavailable.MessageMayBeTheCause, unavailable.Reason);

        // One failure would have been enough to turn it unhealthy; the timeout was not counted against it.
        Assert.IsType<ScannerHealth.Healthy>((await engine.Ask<HealthStatus>(GetHealth.Instance)).Health);
        engine.Tell(new Scan("ordinary", "hello"u8.ToArray()));
        Assert.Equal("ordinary", ExpectMsg<Scanned>(TimeSpan.FromSeconds(5)).MessageKey);
    }

    [Fact]
    public async Task Should_count_a_timeout_against_the_daemon_when_PING_fails_too()
    {
        var backend = new SwitchableBackend { Hung = true };
        var engine = Sys.ActorOf(PropsFor(backend, Settings(unhealthyAfter: 1, timeoutSeconds: 0.3)));

        engine.Tell(new Scan("m", new byte[] { 1 }));
        var unavailable = ExpectMsg<Unavailable>(TimeSpan.FromSeconds(5));
        Assert.False(unavailable.MessageMayBeTheCause, unavailable.Reason);
        Assert.Contains("PING failed too", unavailable.Reason, StringComparison.Ordinal);
        Assert.IsType<ScannerHealth.Unhealthy>((await engine.Ask<HealthStatus>(GetHealth.Instance)).Health);
    }

    /// <summary>Holds every scan until <see cref="Open"/>; counts how many run at once.</summary>
    private sealed class GatedBackend : IScannerBackend
    {
        private readonly TaskCompletionSource _gate = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _current;
        private int _most;

        public string Name => "gated";
        public int Current => Volatile.Read(ref _current);
        public int MostAtOnce => Volatile.Read(ref _most);

        public void Open() => _gate.TrySetResult();

        public async Task<ScanReport> ScanAsync(ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
        {
            var now = Interlocked.Increment(ref _current);
            int most;
            while (now > (most = Volatile.Read(ref _most)) && Interlocked.CompareExchange(ref _most, now, most) != most) { }
            try
            {
                await _gate.Task.WaitAsync(cancellationToken);
                await Task.Yield();
                return ScanReport.Nothing(Name);
            }
            finally
            {
                Interlocked.Decrement(ref _current);
            }
        }

        public Task PingAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    private sealed class SwitchableBackend : IScannerBackend
    {
        public volatile bool Up = true;
        /// <summary>Accepts calls and never answers them, PING included (until cancelled).</summary>
        public volatile bool Hung;
        public string Name => "switchable";

        public async Task<ScanReport> ScanAsync(ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
        {
            if (Hung) await Task.Delay(Timeout.Infinite, cancellationToken);
            return Up ? ScanReport.Nothing(Name) : throw new IOException("down");
        }

        public async Task PingAsync(CancellationToken cancellationToken)
        {
            if (Hung) await Task.Delay(Timeout.Infinite, cancellationToken);
            if (!Up) throw new IOException("down");
        }
    }
}
