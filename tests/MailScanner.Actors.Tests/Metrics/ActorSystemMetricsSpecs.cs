using Akka.Actor;
using Akka.Event;
using Akka.TestKit.Xunit2;
using MailScanner.Actors.Metrics;
using MailScanner.Actors.Tests.TestSupport;
using Xunit;

namespace MailScanner.Actors.Tests.Metrics;

/// <summary>
/// The akka_* families move with the events they count, on an actor system instrumented the way the gateway's is (every
/// mailbox instrumented, Akka's actor telemetry on, the telemetry listener started).
/// </summary>
public sealed class ActorSystemMetricsSpecs : TestKit
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    private readonly ActorSystemMetrics _metrics;
    private readonly MeterReadings _readings;

    public ActorSystemMetricsSpecs() : base(InstrumentedMailbox.Hocon + "\n" + ActorTelemetryListener.Hocon + "\nakka.loglevel = INFO")
    {
        _metrics = ActorSystemMetrics.For(Sys);
        _readings = new MeterReadings(_metrics.Meter);
        var listener = Sys.ActorOf(ActorTelemetryListener.PropsFor(_metrics), "metrics-telemetry");
        // The listener subscribes in PreStart; one round trip through it means it has.
        listener.Tell(new Identify(1), TestActor);
        ExpectMsg<ActorIdentity>();
    }

    private static (string, string) Type<T>() => ("actortype", typeof(T).Name);

    [Fact]
    public async Task Should_count_one_restart_when_an_actor_restarts()
    {
        var actor = Sys.ActorOf(Props.Create(() => new Failing()));
        actor.Tell("fail");
        actor.Tell("ping");
        ExpectMsg("pong"); // answered by the restarted instance

        await Eventually.Holds(() => _readings.Value("akka.actor.restarts", Type<Failing>(), ("exceptiontype", nameof(InvalidOperationException))) == 1,
            Patience, () => $"restarts of Failing: {string.Join("; ", _readings.Series("akka.actor.restarts"))}");
    }

    [Fact]
    public async Task Should_follow_live_actors_of_a_type_as_they_start_and_stop()
    {
        var actors = Enumerable.Range(0, 3).Select(_ => Sys.ActorOf(Props.Create(() => new Idle()))).ToList();
        await Eventually.Holds(() => _readings.Value("akka.actor.live_actors", Type<Idle>()) == 3, Patience,
            () => $"3 live Idle actors, saw {_readings.Value("akka.actor.live_actors", Type<Idle>())}");

        foreach (var actor in actors) Watch(actor).Tell(PoisonPill.Instance);
        foreach (var _ in actors) ExpectMsg<Terminated>();
        await Eventually.Holds(() => _readings.Value("akka.actor.live_actors", Type<Idle>()) == 0, Patience,
            () => $"no live Idle actor, saw {_readings.Value("akka.actor.live_actors", Type<Idle>())}");
    }

    [Fact]
    public void Should_count_each_received_message_and_time_its_wait_in_the_mailbox()
    {
        var echo = Sys.ActorOf(Props.Create(() => new Echo()));
        for (var i = 0; i < 5; i++) echo.Tell(i);
        for (var i = 0; i < 5; i++) ExpectMsg(i);

        Assert.Equal(5, _readings.Value("akka.messages.recv_msgs", Type<Echo>()));
        Assert.Equal(5, _readings.Observations("akka.messages.latency", Type<Echo>()));
    }

    [Fact]
    public void Should_show_the_mailbox_depth_of_a_busy_actor_and_zero_once_it_caught_up()
    {
        using var gate = new ManualResetEventSlim();
        var blocked = Sys.ActorOf(Props.Create(() => new Gated(gate)));
        blocked.Tell("hold");
        ExpectMsg("holding");
        for (var i = 0; i < 10; i++) blocked.Tell(i);

        Assert.Equal(10, _readings.Value("akka.actor.mailbox_depth_msgs", Type<Gated>()));
        gate.Set();
        for (var i = 0; i < 10; i++) ExpectMsg(i);
        Assert.Equal(0, _readings.Value("akka.actor.mailbox_depth_msgs", Type<Gated>()));
    }

    [Fact]
    public async Task Should_count_dead_letters_and_unhandled_messages_by_type()
    {
        var gone = Watch(Sys.ActorOf(Props.Create(() => new Idle())));
        gone.Tell(PoisonPill.Instance);
        ExpectMsg<Terminated>();
        gone.Tell(new Undeliverable());
        Sys.ActorOf(Props.Create(() => new Idle())).Tell(new NotUnderstood());

        await Eventually.Holds(() => _readings.Value("akka.messages.deadletters_msgs", ("messagetype", nameof(Undeliverable))) == 1
                && _readings.Value("akka.messages.unhandled_msgs", Type<Idle>(), ("messagetype", nameof(NotUnderstood))) == 1,
            Patience, () => string.Join("; ", _readings.Series("akka.messages.deadletters_msgs").Concat(_readings.Series("akka.messages.unhandled_msgs"))));
    }

    [Fact]
    public async Task Should_count_log_events_by_level()
    {
        var before = _readings.Value("akka.logs.events", ("level", "warning"));
        Sys.ActorOf(Props.Create(() => new Warning())).Tell("warn");
        await Eventually.Holds(() => _readings.Value("akka.logs.events", ("level", "warning")) == before + 1, Patience,
            () => $"one more warning than {before}: {string.Join("; ", _readings.Series("akka.logs.events"))}");
    }

    protected override void AfterAll()
    {
        _readings.Dispose();
        base.AfterAll();
    }

    private sealed record Undeliverable;
    private sealed record NotUnderstood;

    private sealed class Failing : UntypedActor
    {
        protected override void OnReceive(object message)
        {
            if (message is "fail") throw new InvalidOperationException("asked to fail");
            Sender.Tell("pong");
        }
    }

    private sealed class Idle : UntypedActor
    {
        protected override void OnReceive(object message) => Unhandled(message);
    }

    private sealed class Echo : UntypedActor
    {
        protected override void OnReceive(object message) => Sender.Tell(message);
    }

    private sealed class Warning : UntypedActor
    {
        protected override void OnReceive(object message) => Context.GetLogger().Warning("warned as asked");
    }

    /// <summary>Holds its thread on the first message until the spec opens the gate, so that the next ones wait in its mailbox.</summary>
    private sealed class Gated(ManualResetEventSlim gate) : UntypedActor
    {
        protected override void OnReceive(object message)
        {
            if (message is "hold")
            {
                Sender.Tell("holding");
                gate.Wait();
                return;
            }
            Sender.Tell(message);
        }
    }
}
