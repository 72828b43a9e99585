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
    QuarantineRelease? Release,
    string? QueueFormat = null,
    IReadOnlyList<int>? PartLengths = null)
{
    public static QuarantineDocument Of(string id, QuarantineMetadata m) =>
        new(id, m.TimeUtc, m.QueueId, m.OriginalIdentity, m.Sender, m.Recipients, m.Verdict, m.Reasons, Release: null, m.QueueFormat, m.PartLengths);

    public QuarantineMetadata Metadata => new(TimeUtc, QueueId, OriginalIdentity, Sender, Recipients, Verdict, Reasons, QueueFormat, PartLengths);
}

/// <summary>
/// The content of <c>release-intent.json</c>: a release has staged <see cref="TempName"/> (whose identity is
/// <see cref="OutgoingIdentity"/>; its companions, if any, as <c>&lt;TempName&gt;+1</c>, ...) in
/// <see cref="OutgoingDirectory"/> and is about to publish it as <see cref="FinalName"/> (null in intents written
/// before the format chose the name: the ZMailer name, its inode).
/// </summary>
internal sealed record ReleaseIntent(string OutgoingDirectory, string TempName, string OutgoingIdentity, ulong Inode, DateTime StartedUtc, string? FinalName = null)
{
    public string PublishedName => FinalName ?? Inode.ToString(System.Globalization.CultureInfo.InvariantCulture);
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    WriteIndented = true,
    UseStringEnumConverter = true,
    RespectNullableAnnotations = true,
    RespectRequiredConstructorParameters = true)]
[JsonSerializable(typeof(QuarantineDocument))]
[JsonSerializable(typeof(ReleaseIntent))]
internal sealed partial class QuarantineJson : JsonSerializerContext;
