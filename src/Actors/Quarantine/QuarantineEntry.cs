using MailScanner.Actors.Identity;
using MailScanner.Actors.Queue;
using MailScanner.Actors.Scanning;

namespace MailScanner.Actors.Quarantine;

/// <summary>
/// What the quarantine records about one message besides its queue file. Every value comes from the gateway
/// (envelope, verdict, identity), none is used to build a path.
/// </summary>
/// <param name="TimeUtc">When the message was quarantined; also picks the day directory.</param>
/// <param name="QueueId">The name the message had in the incoming queue (for ZMailer, its inode number), for the operator's log search.</param>
/// <param name="OriginalIdentity">The <see cref="FileIdentity.Key"/> of the incoming queue file.</param>
/// <param name="Sender">Envelope sender, empty for a bounce.</param>
/// <param name="Recipients">Envelope recipients.</param>
/// <param name="Verdict">Why the message is here.</param>
/// <param name="Reasons">What the scanners found, as in the log.</param>
/// <param name="QueueFormat">The queue format the original was read with; null in entries stored before it was recorded.</param>
/// <param name="PartLengths">
/// Where the queue file holds a whole entry of several files (Exim: <c>-H</c> then <c>-D</c>; Sendmail: <c>qf</c> then
/// <c>df</c>, joined), each file's length, primary first; null for one file, and in entries stored before it was recorded.
/// </param>
public sealed record QuarantineMetadata(
    DateTime TimeUtc,
    string QueueId,
    string OriginalIdentity,
    string Sender,
    IReadOnlyList<string> Recipients,
    VerdictKind Verdict,
    IReadOnlyList<string> Reasons,
    string? QueueFormat = null,
    IReadOnlyList<int>? PartLengths = null)
{
    /// <summary>The metadata of a message the gateway has parsed and scanned.</summary>
    public static QuarantineMetadata For(DateTime timeUtc, string queueId, FileIdentity original, QueueEnvelope envelope, Verdict verdict) =>
        new(timeUtc, queueId, original.Key, envelope.Sender, envelope.Recipients.ToArray(), verdict.Kind, verdict.Reasons.ToArray());
}

/// <summary>Where and when a quarantined message was put back into the outgoing queue.</summary>
/// <param name="TimeUtc">When the release was recorded.</param>
/// <param name="OutgoingPath">The primary queue file written, under the name the queue format gives it (ZMailer: its inode).</param>
/// <param name="OutgoingIdentity">The <see cref="FileIdentity.Key"/> of that file.</param>
/// <param name="Recovered">True when the copy was published by an earlier, interrupted release and this one only recorded it.</param>
public sealed record QuarantineRelease(DateTime TimeUtc, string OutgoingPath, string OutgoingIdentity, bool Recovered);

/// <summary>One message in the quarantine, as stored in <c>&lt;directory&gt;/&lt;yyyyMMdd&gt;/&lt;id&gt;/</c>.</summary>
/// <param name="Id">The quarantine's own id for the message (see <see cref="QuarantineId"/>).</param>
/// <param name="Directory">The entry's directory.</param>
/// <param name="Metadata">What was recorded when it was quarantined.</param>
/// <param name="Release">Set once the message has been released.</param>
public sealed record QuarantineEntry(string Id, string Directory, QuarantineMetadata Metadata, QuarantineRelease? Release)
{
    /// <summary>The original queue file, byte for byte.</summary>
    public string QueueFilePath => Path.Combine(Directory, QuarantineStore.QueueFileName);

    public string MetadataPath => Path.Combine(Directory, QuarantineStore.MetadataFileName);

    public bool IsReleased => Release is not null;
}

/// <summary>What <see cref="QuarantineStore.ReleaseAsync"/> did.</summary>
public abstract record ReleaseOutcome
{
    private ReleaseOutcome() { }

    /// <summary>The original is in the outgoing queue at <paramref name="OutgoingPath"/>, exactly once.</summary>
    public sealed record Released(string OutgoingPath, string OutgoingIdentity, bool Recovered) : ReleaseOutcome
    {
        /// <summary>The MTA could not be told about the new entry (it finds it later by itself): why, for the operator.</summary>
        public string? AnnounceProblem { get; init; }
    }

    /// <summary>Nothing was written: unknown or malformed id, already released, busy, no outgoing directory, or an original the queue format cannot write back.</summary>
    public sealed record Refused(string Reason) : ReleaseOutcome;
}
