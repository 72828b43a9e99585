using Akka.Actor;
using Akka.Cluster.Sharding;

namespace MailScanner.Actors.Messages;

/// <summary>
/// One extractor for both deployments: the entity id is the file identity, so a command reaches the actor
/// of exactly that file, locally or through Cluster Sharding.
/// </summary>
public sealed class MessageExtractor : HashCodeMessageExtractor
{
    public MessageExtractor(int maxNumberOfShards = 100) : base(maxNumberOfShards) { }

    public override string? EntityId(object message) => message is IWithFileIdentity command ? command.Identity.Key : null;
}

/// <summary>
/// The single-node parent of all MessageActors: one child per identity, created on first command, with
/// passivation handled the way a shard region does it (messages that arrive while a child stops are held
/// and handed to a fresh child, which absorbs them). Callers only ever talk to this actor.
/// </summary>
public sealed class MessageRegion : ReceiveActor
{
    private readonly Props _entityProps;
    private readonly MessageExtractor _extractor = new();
    private readonly Dictionary<string, List<(object Message, IActorRef Sender)>> _passivating = new();

    public MessageRegion(Props entityProps)
    {
        _entityProps = entityProps;

        Receive<Passivate>(passivate =>
        {
            var id = Sender.Path.Name;
            if (_passivating.ContainsKey(id)) return;
            _passivating[id] = new List<(object, IActorRef)>();
            Sender.Tell(passivate.StopMessage);
        });
        Receive<Terminated>(terminated =>
        {
            var id = terminated.ActorRef.Path.Name;
            if (!_passivating.Remove(id, out var held) || held.Count == 0) return;
            var child = Spawn(id);
            foreach (var (message, sender) in held) child.Tell(message, sender);
        });
        Receive<IWithFileIdentity>(command =>
        {
            var id = _extractor.EntityId(command)!;
            if (_passivating.TryGetValue(id, out var held))
            {
                held.Add((command, Sender));
                return;
            }
            var child = Context.Child(id);
            if (child.IsNobody()) child = Spawn(id);
            child.Forward(command);
        });
    }

    public static Props PropsFor(Props entityProps) => Props.Create(() => new MessageRegion(entityProps));

    private IActorRef Spawn(string id) => Context.Watch(Context.ActorOf(_entityProps, id));

    /// <summary>
    /// A MessageActor that throws is restarted: before it loses its state it hands its file back to the queue (see
    /// <see cref="MessageActor"/>'s PreRestart), and the journal already counts the attempt, so a message that throws
    /// every time ends up quarantined as unprocessable rather than in a loop.
    /// </summary>
    protected override SupervisorStrategy SupervisorStrategy() =>
        new OneForOneStrategy(_ => Directive.Restart);
}
