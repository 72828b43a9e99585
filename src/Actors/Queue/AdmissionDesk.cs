using Akka.Actor;
using MailScanner.Actors.Messages;

namespace MailScanner.Actors.Queue;

/// <summary>What the <see cref="QueueWatcher"/> and a node's <see cref="AdmissionDesk"/> say to each other.</summary>
public static class AdmissionDeskProtocol
{
    /// <summary>To a node's desk: admit these, each through the node's own shard region (their shards live there).</summary>
    public sealed record AdmitMany(IReadOnlyList<MessageCommands.Admit> Admits);

    /// <summary>To the watcher: these MessageActors, all on the desk's node, claimed their files.</summary>
    public sealed record AdmittedMany(IReadOnlyList<MessageReplies.Admitted> Admitted);
}

/// <summary>
/// Clustered, one per <c>scan</c> node: takes the watcher's admissions for the MessageActors of this node as one
/// message, hands each to the node's shard region, and answers the Admitted replies of a burst as one message. Without
/// it every message cost the watcher's node two remote messages to admit, one each way.
/// </summary>
/// <remarks>
/// The watcher picks the desk by where the message's shard was last seen (<see cref="AdmissionRouting"/>); a shard
/// that moved since is reached through the region all the same, and its MessageActor's answer, from another node, is
/// passed on to the watcher as it came, so that the watcher learns the shard's new node. Every other answer (Refused,
/// Absorbed, a Failed) is passed on as it came too, with the MessageActor as its sender.
/// </remarks>
public sealed class AdmissionDesk : ReceiveActor
{
    public const string Name = "admission-desk";

    private readonly IActorRef _messages;
    /// <summary>The watcher that sent the latest admissions: the answers go to it.</summary>
    private IActorRef _watcher = ActorRefs.Nobody;
    private readonly List<MessageReplies.Admitted> _admitted = new();

    public AdmissionDesk(IActorRef messages)
    {
        _messages = messages;
        Receive<AdmissionDeskProtocol.AdmitMany>(many =>
        {
            _watcher = Sender;
            foreach (var admit in many.Admits) _messages.Tell(admit, Self);
        });
        Receive<MessageReplies.Admitted>(admitted =>
        {
            if (!Sender.Path.Address.HasLocalScope)
            {
                _watcher.Tell(admitted, Sender);
                return;
            }
            // After the answers already in the mailbox: the whole burst goes as one message.
            if (_admitted.Count == 0) Self.Tell(SendAdmitted.Instance);
            _admitted.Add(admitted);
        });
        Receive<SendAdmitted>(_ =>
        {
            foreach (var chunk in BurstChunks.Of(_admitted.ToList())) _watcher.Tell(new AdmissionDeskProtocol.AdmittedMany(chunk));
            _admitted.Clear();
        });
        ReceiveAny(answer => _watcher.Tell(answer, Sender));
    }

    public static Props PropsFor(IActorRef messages) => Props.Create(() => new AdmissionDesk(messages));

    private sealed record SendAdmitted
    {
        public static readonly SendAdmitted Instance = new();
    }
}

/// <summary>
/// The watcher's side of the desks: which node each shard's MessageActors were last seen on (the node an Admitted came
/// from), and each node's <see cref="AdmissionDesk"/>. An admission whose shard's node has a known desk goes there in
/// that node's <see cref="AdmissionDeskProtocol.AdmitMany"/>; any other goes straight to the shard region, as on one
/// node, and its answer teaches where the shard lives.
/// </summary>
internal sealed class AdmissionRouting
{
    private readonly MessageExtractor _extractor = new();
    private readonly Dictionary<string, Address> _shardNodes = new();
    private readonly Dictionary<Address, IActorRef> _desks = new();
    private readonly Dictionary<IActorRef, List<MessageCommands.Admit>> _gathered = new();

    private readonly HashSet<Address> _lookingFor = new();

    /// <summary>True once per node until its desk is found or the lookup fails (the next registration then looks again).</summary>
    public bool ShouldLookFor(Address node) => !_desks.ContainsKey(node) && _lookingFor.Add(node);

    public void LookupFailed(Address node) => _lookingFor.Remove(node);

    /// <remarks>Keyed by the node as the watcher sees it, the same address its MessageActors' answers come from.</remarks>
    public void DeskFound(IActorRef desk)
    {
        _lookingFor.Remove(desk.Path.Address);
        _desks[desk.Path.Address] = desk;
    }

    /// <summary>The node has no coordinator left (it left or died): its desk and what was seen there are forgotten.</summary>
    public void NodeGone(Address node)
    {
        _desks.Remove(node);
        foreach (var shard in _shardNodes.Where(s => s.Value.Equals(node)).Select(s => s.Key).ToList()) _shardNodes.Remove(shard);
    }

    public void Seen(MessageReplies.Admitted admitted, Address node) => _shardNodes[ShardOf(admitted)] = node;

    /// <param name="node">The node whose desk it goes to.</param>
    /// <returns>False when the admission has no desk to go to: the caller sends it to the shard region itself.</returns>
    public bool Gather(MessageCommands.Admit admit, out Address node)
    {
        if (!_shardNodes.TryGetValue(ShardOf(admit), out node!) || !_desks.TryGetValue(node, out var desk)) return false;
        if (!_gathered.TryGetValue(desk, out var admits)) _gathered[desk] = admits = [];
        admits.Add(admit);
        return true;
    }

    /// <summary>The shard the region itself puts the message in: the same extractor.</summary>
    private string ShardOf(IWithFileIdentity message) => _extractor.ShardId(message.Identity.Key, message);

    public void SendGathered(IActorRef watcher)
    {
        foreach (var (desk, admits) in _gathered)
            foreach (var chunk in BurstChunks.Of(admits)) desk.Tell(new AdmissionDeskProtocol.AdmitMany(chunk), watcher);
        _gathered.Clear();
    }
}
