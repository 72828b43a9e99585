using System.Text.Json;
using System.Text.Json.Serialization;
using Akka.Actor;
using Akka.Serialization;
using static MailScanner.Actors.Journal.MessageJournalEvents;

namespace MailScanner.Actors.Journal;

/// <summary>
/// Writes the journal's events and snapshots as compact JSON with a one-letter manifest: readable with
/// <c>sqlite3</c> when an operator needs to look, and stable across refactorings (no CLR type names stored).
/// </summary>
public sealed class MessageJournalSerializer : SerializerWithStringManifest
{
    public const int SerializerId = 4711;

    /// <summary>The name it is registered under in the actor system's configuration.</summary>
    public const string Name = "mailscanner-journal";

    public MessageJournalSerializer(ExtendedActorSystem system) : base(system) { }

    public override int Identifier => SerializerId;

    public override string Manifest(object o) => o switch
    {
        Batch => "W",
        MessageJournalSnapshot => "S",
        _ => throw new ArgumentException($"not a message journal type: {o.GetType()}", nameof(o)),
    };

    public override byte[] ToBinary(object obj) => obj switch
    {
        Batch e => JsonSerializer.SerializeToUtf8Bytes(e, JournalJson.Default.Batch),
        MessageJournalSnapshot s => JsonSerializer.SerializeToUtf8Bytes(s, JournalJson.Default.MessageJournalSnapshot),
        _ => throw new ArgumentException($"not a message journal type: {obj.GetType()}", nameof(obj)),
    };

    public override object FromBinary(byte[] bytes, string manifest) => manifest switch
    {
        "W" => (object?)JsonSerializer.Deserialize(bytes, JournalJson.Default.Batch),
        "S" => JsonSerializer.Deserialize(bytes, JournalJson.Default.MessageJournalSnapshot),
        _ => null,
    } ?? throw new System.Runtime.Serialization.SerializationException($"message journal row with unknown manifest '{manifest}' or empty content");
}

[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, UseStringEnumConverter = true)]
[JsonSerializable(typeof(Batch))]
[JsonSerializable(typeof(MessageJournalSnapshot))]
internal sealed partial class JournalJson : JsonSerializerContext;
