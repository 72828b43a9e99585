using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Akka.Actor;

namespace MailScanner.Actors.Metrics;

/// <summary>
/// The actor system's instruments, under the names the widely used Akka.NET Grafana dashboards query
/// (<c>akka_actor_live_actors</c>, <c>akka_actor_mailbox_depth_msgs</c>, <c>akka_actor_restarts_total</c>,
/// <c>akka_messages_recv_msgs_total</c>, <c>akka_messages_latency_milliseconds</c>,
/// <c>akka_messages_deadletters_msgs_total</c>, <c>akka_messages_unhandled_msgs_total</c>, <c>akka_logs_events_total</c>).
/// Labels are the actor's type, the message's type, the exception's type and the log level: all bounded by the code, never
/// one series per actor or per message. One per actor system (an Akka extension), with a meter of its own name, so that
/// gateways sharing a process never mix their series.
/// </summary>
public sealed class ActorSystemMetrics : IExtension, IDisposable
{
    public const string MeterNamePrefix = "MailScanner.Actors.Akka";
    private static int s_instances;

    private readonly ConcurrentDictionary<Type, ActorTypeCounters> _byType = new();
    private readonly Histogram<double> _latency;
    private readonly Counter<long> _restarts, _deadLetters, _unhandled, _logEvents;

    public ActorSystemMetrics()
    {
        var n = Interlocked.Increment(ref s_instances);
        Meter = new Meter(n == 1 ? MeterNamePrefix : $"{MeterNamePrefix}.{n}");
        Meter.CreateObservableGauge("akka.actor.live_actors", () => Observe(c => Math.Max(0, Volatile.Read(ref c.Live))),
            description: "Actors alive, by actor type (from Akka's actor telemetry events)");
        Meter.CreateObservableGauge("akka.actor.mailbox_depth_msgs", () => Observe(c => Math.Max(0, Volatile.Read(ref c.MailboxDepth))),
            description: "Messages waiting in the mailboxes of all actors of a type");
        Meter.CreateObservableCounter("akka.messages.recv_msgs", () => Observe(c => Volatile.Read(ref c.Received)),
            description: "Messages taken from mailboxes, by the receiving actor's type");
        _latency = Meter.CreateHistogram("akka.messages.latency", unit: "ms",
            description: "Time a message waited in its mailbox before its actor took it, by actor type",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 5000] });
        _restarts = Meter.CreateCounter<long>("akka.actor.restarts", description: "Actor restarts by actor type and the exception's type");
        _deadLetters = Meter.CreateCounter<long>("akka.messages.deadletters_msgs", description: "Dead letters by message type");
        _unhandled = Meter.CreateCounter<long>("akka.messages.unhandled_msgs", description: "Unhandled messages by actor and message type");
        _logEvents = Meter.CreateCounter<long>("akka.logs.events", description: "Log events of the actor system by level");
    }

    public Meter Meter { get; }

    /// <summary>
    /// The pipeline's counters of the gateway this actor system runs (set by <c>AddGatewayMetrics</c>): the endpoint finds
    /// both meters of a gateway through its actor system. Null while the gateway runs without metrics.
    /// </summary>
    public PipelineCounters? Pipeline { get; internal set; }

    /// <summary>Where the host serves this gateway's <c>/metrics</c>, health and status page; null while it does not.</summary>
    public Uri? EndpointAddress { get; internal set; }

    /// <summary>This actor system's instruments, made the first time they are asked for.</summary>
    public static ActorSystemMetrics For(ActorSystem system) => system.WithExtension<ActorSystemMetrics, ActorSystemMetricsId>();

    /// <summary>The counters shared by every actor of one type; each mailbox looks them up once, when its actor is made.</summary>
    internal ActorTypeCounters CountersFor(Type actorType) => _byType.GetOrAdd(actorType, t => new ActorTypeCounters(ActorTypeLabel(t)));

    internal void MessageTaken(ActorTypeCounters counters, double waitedMilliseconds)
    {
        Interlocked.Increment(ref counters.Received);
        _latency.Record(waitedMilliseconds, counters.Tag);
    }

    internal void ActorStarted(Type actorType) => Interlocked.Increment(ref CountersFor(actorType).Live);
    internal void ActorStopped(Type actorType) => Interlocked.Decrement(ref CountersFor(actorType).Live);

    internal void ActorRestarted(Type actorType, Exception? reason) =>
        _restarts.Add(1, CountersFor(actorType).Tag, new KeyValuePair<string, object?>("exceptiontype", reason?.GetType().Name ?? "none"));

    internal void DeadLetter(object message) => _deadLetters.Add(1, new KeyValuePair<string, object?>("messagetype", MessageTypeLabel(message)));

    internal void Unhandled(Type? actorType, object message) =>
        _unhandled.Add(1, new KeyValuePair<string, object?>("actortype", actorType is null ? "unknown" : ActorTypeLabel(actorType)),
            new KeyValuePair<string, object?>("messagetype", MessageTypeLabel(message)));

    internal void LogEvent(string level) => _logEvents.Add(1, new KeyValuePair<string, object?>("level", level));

    /// <summary>Actors of one type alive now, as the telemetry events told (specs and the status page; Prometheus reads the gauge).</summary>
    public long LiveActors(Type actorType) => _byType.TryGetValue(actorType, out var c) ? Math.Max(0, Volatile.Read(ref c.Live)) : 0;

    private IEnumerable<Measurement<long>> Observe(Func<ActorTypeCounters, long> read) =>
        _byType.Values.Select(c => new Measurement<long>(read(c), c.Tag));

    /// <summary>The type's name without generic arity or namespace: short, stable and bounded by the code.</summary>
    internal static string ActorTypeLabel(Type type) => type.IsGenericType ? type.Name[..type.Name.IndexOf('`')] : type.Name;

    private static string MessageTypeLabel(object message) => ActorTypeLabel(message.GetType());

    public void Dispose() => Meter.Dispose();
}

/// <summary>Totals for all actors of one type; fields so that mailboxes can add to them with Interlocked.</summary>
internal sealed class ActorTypeCounters(string actorType)
{
    public long Live, MailboxDepth, Received;
    public KeyValuePair<string, object?> Tag { get; } = new("actortype", actorType);
}

public sealed class ActorSystemMetricsId : ExtensionIdProvider<ActorSystemMetrics>
{
    public override ActorSystemMetrics CreateExtension(ExtendedActorSystem system)
    {
        var metrics = new ActorSystemMetrics();
        system.RegisterOnTermination(metrics.Dispose);
        return metrics;
    }
}
