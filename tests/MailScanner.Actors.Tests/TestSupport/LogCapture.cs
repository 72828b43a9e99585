using System.Collections.Concurrent;
using Akka.Actor;
using Akka.Event;

namespace MailScanner.Actors.Tests.TestSupport;

/// <summary>
/// Every log event of an actor system, kept as it is published: a subscriber that is not an actor, so nothing is lost
/// when the actor system stops right after logging (as a stop does).
/// </summary>
public sealed class LogCapture : MinimalActorRef
{
    private readonly ConcurrentQueue<LogEvent> _events = new();

    private LogCapture(ActorSystem system)
    {
        Provider = ((ExtendedActorSystem)system).Provider;
        Path = new RootActorPath(Provider.DefaultAddress) / "temp" / $"log-capture-{Guid.NewGuid():N}";
    }

    public static LogCapture Of(ActorSystem system)
    {
        var capture = new LogCapture(system);
        system.EventStream.Subscribe(capture, typeof(LogEvent));
        return capture;
    }

    public override ActorPath Path { get; }
    public override IActorRefProvider Provider { get; }

    protected override void TellInternal(object message, IActorRef sender)
    {
        if (message is LogEvent logged) _events.Enqueue(logged);
    }

    public IReadOnlyList<string> Lines(LogLevel level) =>
        _events.Where(e => e.LogLevel() == level).Select(e => e.Message?.ToString() ?? "").ToList();

    public string All() => string.Join(Environment.NewLine, _events.Select(e => $"[{e.LogLevel()}] {e.Message}"));
}
