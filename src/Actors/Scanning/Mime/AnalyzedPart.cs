namespace MailScanner.Actors.Scanning.Mime;

/// <summary>
/// Where an analysed part came from: a leaf of the MIME tree, a member unpacked from an archive, or a file
/// uuencoded or yEnc-encoded into the text of a part.
/// </summary>
public enum PartSource { MimePart, ArchiveMember, EncodedBlock }

/// <summary>
/// One leaf of a message as the rules see it: a MIME leaf part (text body, attachment, the leaf of a forwarded
/// message) or a file unpacked from an archive attachment.
/// </summary>
/// <param name="PartName">
/// A path a person can read: the file name, prefixed by the names of what contains it
/// (<c>fwd.eml/report.zip/inner/evil.exe</c>). Parts without a file name are named by their MIME position
/// (<c>part 1.2</c>). This is what goes into <see cref="ScanFinding.PartName"/>.
/// </param>
/// <param name="MimePath">
/// The IMAP-style position of the MIME part in the top-level message (<c>1.2</c>; <c>1</c> for a single-part
/// message); for an archive member, the position of the MIME part holding the outermost archive. Cleaning
/// replaces the part at this position.
/// </param>
/// <param name="FileName">The file name alone (last path segment), decoded from whichever encoding the mail used; null if none.</param>
/// <param name="ContentType">The declared MIME type (<c>application/octet-stream</c> for archive members, which declare none).</param>
/// <param name="IsAttachment">A MIME part with a file name or <c>Content-Disposition: attachment</c>; always true for archive members.</param>
/// <param name="DeclaredSize">What the mail or archive claims (Content-Disposition <c>size</c>, a zip/tar header), if anything.</param>
/// <param name="DecodedSize">The bytes actually decoded or unpacked (equals <c>Content.Length</c>).</param>
/// <param name="Content">The decoded bytes; empty when <paramref name="Unscannable"/> is set.</param>
/// <param name="Unscannable">Why the content could not be read (<see cref="Encrypted"/>, corrupt, unsupported method); null when it was.</param>
/// <param name="ArchiveDepth">0 for a MIME part, 1 for a member of an archive attached to the mail, 2 for an archive inside that, ...</param>
/// <param name="Html">The decoded text of a <c>text/html</c> MIME part (charset applied); null for everything else.</param>
public sealed record AnalyzedPart(
    string PartName,
    string MimePath,
    string? FileName,
    string ContentType,
    PartSource Source,
    bool IsAttachment,
    long? DeclaredSize,
    long DecodedSize,
    ReadOnlyMemory<byte> Content,
    string? Unscannable,
    int ArchiveDepth,
    string? Html = null)
{
    /// <summary>The <see cref="Unscannable"/> reason of an encrypted (password-protected) archive member.</summary>
    public const string Encrypted = "encrypted";

    public bool IsEncrypted => Unscannable == Encrypted;
}

/// <summary>Everything <see cref="MessageAnalyzer"/> found in one message.</summary>
/// <param name="MessageSize">The size of the raw RFC 5322 message in bytes.</param>
/// <param name="Parts">Every leaf part and archive member, in message order (an archive's members follow the archive).</param>
/// <param name="Findings">Limits that were exceeded and structure that could not be analysed; each is dangerous content.</param>
public sealed record MessageAnalysis(long MessageSize, IReadOnlyList<AnalyzedPart> Parts, IReadOnlyList<ScanFinding> Findings)
{
    /// <summary>The MIME tree the parts were taken from, for the cleaner to rewrite (null when MIME could not be parsed).</summary>
    public ParsedMessage? Parsed { get; init; }
}

/// <summary>
/// The bounds that keep analysis of hostile mail finite. Exceeding one stops that branch of the analysis and
/// becomes a <see cref="VerdictKind.DangerousContent"/> finding, never an exception.
/// </summary>
/// <param name="MaxMimeParts">MIME entities (multiparts, leaves, attached messages) analysed per message (<c>limits.max-mime-parts</c>).</param>
/// <param name="MaxMimeDepth">Nesting of multiparts and attached messages (<c>message/rfc822</c>, <c>.eml</c> in archives) (<c>limits.max-mime-depth</c>).</param>
/// <param name="MaxArchiveDepth">Archives inside archives: 1 unpacks an attached zip but not a zip inside it (<c>limits.max-archive-depth</c>).</param>
/// <param name="MaxArchiveMembers">Archive members (files, directories, links) and encoded blocks per message, all together (<c>limits.max-archive-members</c>).</param>
/// <param name="MaxUnpackedBytes">Bytes unpacked from archives and encoded blocks and decoded inside attached messages, per message (<c>limits.max-unpacked-bytes</c>).</param>
/// <param name="MaxCompressionRatio">Unpacked / packed size of one member above which it is treated as a zip bomb
/// (only once it unpacks to more than <see cref="MessageAnalyzer.RatioFloorBytes"/>, so small, very compressible files pass).</param>
public sealed record AnalysisLimits(
    int MaxMimeParts,
    int MaxMimeDepth,
    int MaxArchiveDepth,
    int MaxArchiveMembers,
    long MaxUnpackedBytes,
    double MaxCompressionRatio)
{
    /// <summary>
    /// What decoding and unpacking may hold at once across all messages of the gateway (<c>limits.unpack-memory</c>):
    /// the capacity of its one <see cref="Limits.UnpackBudget"/>.
    /// </summary>
    public long UnpackMemory { get; init; } = 256L * 1024 * 1024;

    /// <summary>The shipped defaults (as in <c>hocon/mailscanner.conf</c>).</summary>
    public static readonly AnalysisLimits Default = new(
        MaxMimeParts: 1000, MaxMimeDepth: 20, MaxArchiveDepth: 5, MaxArchiveMembers: 1000,
        MaxUnpackedBytes: 100L * 1024 * 1024, MaxCompressionRatio: 100);
}
