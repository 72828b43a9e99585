using Akka.Actor;
using Akka.Event;

namespace MailScanner.Actors.Metrics;

/// <summary>
/// Turns what the actor system publishes on its event stream into <see cref="ActorSystemMetrics"/>: actor starts, stops and
/// restarts (published while <c>akka.actor.telemetry.enabled</c> is on), dead letters, unhandled messages and log events.
/// </summary>
public sealed class ActorTelemetryListener : UntypedActor
{
    private readonly ActorSystemMetrics _metrics;

    public ActorTelemetryListener(ActorSystemMetrics metrics) => _metrics = metrics;

    public static Props PropsFor(ActorSystemMetrics metrics) => Props.Create(() => new ActorTelemetryListener(metrics));

    /// <summary>Switches Akka's actor telemetry events on; without them live actors and restarts are not published.</summary>
    public const string Hocon = "akka.actor.telemetry.enabled = on";

    protected override void PreStart()
    {
        var stream = Context.System.EventStream;
        stream.Subscribe(Self, typeof(IActorTelemetryEvent));
        stream.Subscribe(Self, typeof(DeadLetter));
        stream.Subscribe(Self, typeof(UnhandledMessage));
        stream.Subscribe(Self, typeof(LogEvent));
    }

    protected override void PostStop() => Context.System.EventStream.Unsubscribe(Self);

    protected override void OnReceive(object message)
    {
        switch (message)
        {
            case ActorStarted started:
                _metrics.ActorStarted(started.ActorType);
                break;
            case ActorStopped stopped:
                _metrics.ActorStopped(stopped.ActorType);
                break;
            case ActorRestarted restarted:
                _metrics.ActorRestarted(restarted.ActorType, restarted.Reason);
                break;
            case DeadLetter dead:
                _metrics.DeadLetter(dead.Message);
                break;
            case UnhandledMessage unhandled:
                _metrics.Unhandled((unhandled.Recipient as ActorRefWithCell)?.Underlying.Props.Type, unhandled.Message);
                break;
            case LogEvent log:
                _metrics.LogEvent(log.LogLevel() switch
                {
                    LogLevel.DebugLevel => "debug",
                    LogLevel.InfoLevel => "info",
                    LogLevel.WarningLevel => "warning",
                    _ => "error",
                });
                break;
        }
    }
}
