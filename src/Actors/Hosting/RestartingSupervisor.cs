using Akka.Actor;

namespace MailScanner.Actors.Hosting;

/// <summary>
/// Parent of a top-level actor that must restart in place, under the same address, whatever it threw: Akka's
/// user guardian would stop it for an <see cref="ActorKilledException"/>, and a back-off supervisor would replace it
/// with a new actor, so replies still on their way to the old one would be lost. Every message is forwarded to it.
/// </summary>
public sealed class RestartingSupervisor : UntypedActor
{
    private readonly IActorRef _child;

    public RestartingSupervisor(Props childProps, string childName) => _child = Context.ActorOf(childProps, childName);

    public static Props PropsFor(Props childProps, string childName) => Props.Create(() => new RestartingSupervisor(childProps, childName));

    protected override void OnReceive(object message) => _child.Forward(message);

    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(_ => Directive.Restart);
}
