using Akka.Actor;

namespace MailScanner.Actors.Queue;

/// <summary>
/// The batch coordinators the <see cref="QueueWatcher"/> hands admitted messages to, by the node they run on. A message
/// goes to a coordinator on the node of its MessageActor (the address of the actor that answered Admitted), so that the
/// commands of its batch stay on that node; when that node has none, to one of another node's. On each node the
/// coordinators take turns by batches: <c>batchSize</c> messages to one, then the next.
/// </summary>
/// <remarks>
/// On one node every coordinator and every MessageActor has the local address, so this is a single rotation, as before
/// the cluster. Addresses compare as the watcher sees them: its own node's actors by the local address, others' by
/// their remote one, for coordinators and MessageActors alike.
/// </remarks>
internal sealed class CoordinatorPool(int batchSize)
{
    private readonly Dictionary<Address, NodeCoordinators> _byNode = new();
    private int _fallbackTurn;

    public int Count => _byNode.Values.Sum(n => n.Members.Count);

    public bool HasNode(Address node) => _byNode.ContainsKey(node);

    /// <summary>False when it was already known.</summary>
    public bool Add(IActorRef coordinator)
    {
        var address = coordinator.Path.Address;
        if (!_byNode.TryGetValue(address, out var node)) _byNode[address] = node = new NodeCoordinators();
        if (node.Members.Contains(coordinator)) return false;
        node.Members.Add(coordinator);
        return true;
    }

    public bool Remove(IActorRef coordinator)
    {
        var address = coordinator.Path.Address;
        if (!_byNode.TryGetValue(address, out var node) || !node.Members.Remove(coordinator)) return false;
        if (node.Members.Count == 0) _byNode.Remove(address);
        else node.Turn %= node.Members.Count;
        return true;
    }

    /// <summary>
    /// The coordinator for a message whose MessageActor runs at <paramref name="node"/>: one of that node's, else, when
    /// <paramref name="mayFallBack"/>, another node's; null when there is none.
    /// </summary>
    public IActorRef? For(Address node, bool mayFallBack)
    {
        if (_byNode.TryGetValue(node, out var own)) return own.Next(batchSize);
        if (_byNode.Count == 0 || !mayFallBack) return null;
        var other = _byNode.Values.ElementAt(_fallbackTurn++ % _byNode.Count);
        return other.Next(batchSize);
    }

    /// <summary>Nothing more is coming for now: the next message starts a new batch with the next coordinator of its node.</summary>
    public void EndBurst()
    {
        foreach (var node in _byNode.Values)
        {
            node.Turn = (node.Turn + 1) % node.Members.Count;
            node.SentInTurn = 0;
        }
    }

    private sealed class NodeCoordinators
    {
        public List<IActorRef> Members { get; } = [];
        public int Turn { get; set; }
        public int SentInTurn { get; set; }

        public IActorRef Next(int batchSize)
        {
            if (SentInTurn >= batchSize)
            {
                Turn = (Turn + 1) % Members.Count;
                SentInTurn = 0;
            }
            SentInTurn++;
            return Members[Turn];
        }
    }
}
