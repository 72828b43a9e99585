using System.Collections.Frozen;
using System.Text.Json;
using System.Text.Json.Serialization;
using Akka.Actor;
using Akka.Serialization;
using MailScanner.Actors.Batching;
using MailScanner.Actors.Journal;
using MailScanner.Actors.Messages;
using MailScanner.Actors.Queue;

namespace MailScanner.Actors.Cluster;

/// <summary>
/// What crosses the network between nodes, and only that: the commands to MessageActors and their replies, the
/// journal's requests and answers (one node's at a time through its <see cref="JournalRelay"/>), what is said to the queue watcher, and what it and the nodes' batch coordinators
/// and admission desks say to each other. Never a message's content: an entity reads its file from the shared queue. Compact JSON under a short,
/// stable manifest (the protocol's class and the record's name), so that nodes of slightly different builds still
/// understand each other and no CLR type name goes on the wire.
/// </summary>
public sealed class ClusterProtocolSerializer : SerializerWithStringManifest
{
    public const int SerializerId = 4712;

    /// <summary>The name it is registered under in the actor system's configuration.</summary>
    public const string Name = "mailscanner-cluster";

    /// <summary>Every record of these protocols is serialized here; a spec checks that each one makes the round trip.</summary>
    public static readonly IReadOnlyList<Type> Protocols =
        [typeof(MessageCommands), typeof(MessageReplies), typeof(MessageJournalProtocol), typeof(JournalRelayProtocol), typeof(QueueWatcherProtocol),
         typeof(ClusterStatusProtocol), typeof(BatchCoordinatorProtocol), typeof(AdmissionDeskProtocol)];

    private static readonly FrozenDictionary<Type, string> ManifestByType = Protocols
        .SelectMany(protocol => protocol.GetNestedTypes().Where(t => !t.IsAbstract).Select(t => (t, $"{Prefix(protocol)}.{t.Name}")))
        .ToFrozenDictionary(p => p.t, p => p.Item2);

    private static readonly FrozenDictionary<string, Type> TypeByManifest = ManifestByType.ToFrozenDictionary(p => p.Value, p => p.Key);

    public ClusterProtocolSerializer(ExtendedActorSystem system) : base(system) { }

    public override int Identifier => SerializerId;

    /// <summary>The types bound to this serializer.</summary>
    public static IEnumerable<Type> Types => ManifestByType.Keys;

    public override string Manifest(object o) =>
        ManifestByType.TryGetValue(o.GetType(), out var manifest) ? manifest : throw new ArgumentException($"not a cluster protocol type: {o.GetType()}", nameof(o));

    public override byte[] ToBinary(object obj) => JsonSerializer.SerializeToUtf8Bytes(obj, obj.GetType(), ClusterJson.Default);

    public override object FromBinary(byte[] bytes, string manifest) =>
        TypeByManifest.TryGetValue(manifest, out var type)
            ? JsonSerializer.Deserialize(bytes, type, ClusterJson.Default)
              ?? throw new System.Runtime.Serialization.SerializationException($"empty cluster message for manifest '{manifest}'")
            : throw new System.Runtime.Serialization.SerializationException($"unknown cluster message manifest '{manifest}' (a node of another version?)");

    private static string Prefix(Type protocol) => protocol.Name switch
    {
        nameof(MessageCommands) => "command",
        nameof(MessageReplies) => "reply",
        nameof(MessageJournalProtocol) => "journal",
        nameof(JournalRelayProtocol) => "relay",
        nameof(ClusterStatusProtocol) => "status",
        nameof(BatchCoordinatorProtocol) => "batch",
        nameof(AdmissionDeskProtocol) => "desk",
        _ => "watcher",
    };
}

[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, UseStringEnumConverter = true)]
[JsonSerializable(typeof(MessageCommands.Admit))]
[JsonSerializable(typeof(MessageCommands.Recover))]
[JsonSerializable(typeof(MessageCommands.Scan))]
[JsonSerializable(typeof(MessageCommands.Clean))]
[JsonSerializable(typeof(MessageCommands.Deliver))]
[JsonSerializable(typeof(MessageCommands.Delete))]
[JsonSerializable(typeof(MessageCommands.LetGo))]
[JsonSerializable(typeof(MessageReplies.Admitted))]
[JsonSerializable(typeof(MessageReplies.Refused))]
[JsonSerializable(typeof(MessageReplies.Scanned))]
[JsonSerializable(typeof(MessageReplies.Cleaned))]
[JsonSerializable(typeof(MessageReplies.Delivered))]
[JsonSerializable(typeof(MessageReplies.Deleted))]
[JsonSerializable(typeof(MessageReplies.Absorbed))]
[JsonSerializable(typeof(MessageReplies.NotReady))]
[JsonSerializable(typeof(MessageReplies.HandedBack))]
[JsonSerializable(typeof(MessageReplies.Failed))]
[JsonSerializable(typeof(MessageJournalProtocol.BeginAttempt))]
[JsonSerializable(typeof(MessageJournalProtocol.AttemptBegun))]
[JsonSerializable(typeof(MessageJournalProtocol.RecordDelivery))]
[JsonSerializable(typeof(MessageJournalProtocol.DeliveryRecorded))]
[JsonSerializable(typeof(MessageJournalProtocol.AttemptAbandoned))]
[JsonSerializable(typeof(MessageJournalProtocol.Finished))]
[JsonSerializable(typeof(MessageJournalProtocol.Unavailable))]
[JsonSerializable(typeof(MessageJournalProtocol.Lookup))]
[JsonSerializable(typeof(MessageJournalProtocol.Entry))]
[JsonSerializable(typeof(MessageJournalProtocol.GetInterrupted))]
[JsonSerializable(typeof(MessageJournalProtocol.Interrupted))]
[JsonSerializable(typeof(MessageJournalProtocol.GetSize))]
[JsonSerializable(typeof(MessageJournalProtocol.Size))]
[JsonSerializable(typeof(JournalRelayProtocol.RelayedRequests))]
[JsonSerializable(typeof(JournalRelayProtocol.RelayedAnswers))]
[JsonSerializable(typeof(QueueWatcherProtocol.ScanQueue))]
[JsonSerializable(typeof(QueueWatcherProtocol.GetStatus))]
[JsonSerializable(typeof(QueueWatcherProtocol.Status))]
[JsonSerializable(typeof(QueueWatcherProtocol.Stop))]
[JsonSerializable(typeof(QueueWatcherProtocol.Stopped))]
[JsonSerializable(typeof(BatchCoordinatorProtocol.Enqueue))]
[JsonSerializable(typeof(BatchCoordinatorProtocol.EnqueueMany))]
[JsonSerializable(typeof(BatchCoordinatorProtocol.Flush))]
[JsonSerializable(typeof(BatchCoordinatorProtocol.BatchFinished))]
[JsonSerializable(typeof(BatchCoordinatorProtocol.CoordinatorRestarted))]
[JsonSerializable(typeof(BatchCoordinatorProtocol.Register))]
[JsonSerializable(typeof(BatchCoordinatorProtocol.Registered))]
[JsonSerializable(typeof(AdmissionDeskProtocol.AdmitMany))]
[JsonSerializable(typeof(AdmissionDeskProtocol.AdmittedMany))]
[JsonSerializable(typeof(ClusterStatusProtocol.GetNodeStatus))]
[JsonSerializable(typeof(ClusterStatusProtocol.NodeStatus))]
[JsonSerializable(typeof(ClusterStatusProtocol.MemberView))]
internal sealed partial class ClusterJson : JsonSerializerContext;
