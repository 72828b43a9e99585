using System.Text.Json.Serialization;
using MailScanner.Actors.Scanning;

namespace MailScanner.Actors.Quarantine;

/// <summary>The content of <c>metadata.json</c>: the entry's id and metadata, plus the release once there is one.</summary>
internal sealed record QuarantineDocument(
    string Id,
    DateTime TimeUtc,
    string QueueId,
    string OriginalIdentity,
    string Sender,
    IReadOnlyList<string> Recipients,
    VerdictKind Verdict,
    IReadOnlyList<string> Reasons,
    QuarantineRelease? Release)
{
    public static QuarantineDocument Of(string id, QuarantineMetadata m) =>
        new(id, m.TimeUtc, m.QueueId, m.OriginalIdentity, m.Sender, m.Recipients, m.Verdict, m.Reasons, Release: null);

    public QuarantineMetadata Metadata => new(TimeUtc, QueueId, OriginalIdentity, Sender, Recipients, Verdict, Reasons);
}

/// <summary>
/// The content of <c>release-intent.json</c>: a release has written <see cref="TempName"/> (whose identity is
/// <see cref="OutgoingIdentity"/>) into <see cref="OutgoingDirectory"/> and is about to rename it to its inode.
/// </summary>
internal sealed record ReleaseIntent(string OutgoingDirectory, string TempName, string OutgoingIdentity, ulong Inode, DateTime StartedUtc);

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    WriteIndented = true,
    UseStringEnumConverter = true,
    RespectNullableAnnotations = true,
    RespectRequiredConstructorParameters = true)]
[JsonSerializable(typeof(QuarantineDocument))]
[JsonSerializable(typeof(ReleaseIntent))]
internal sealed partial class QuarantineJson : JsonSerializerContext;
