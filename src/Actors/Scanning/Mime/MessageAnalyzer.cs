using System.Buffers.Binary;
using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using MailScanner.Actors.Scanning.Limits;
using MailScanner.Actors.Scanning.Outlook;
using MimeKit;

namespace MailScanner.Actors.Scanning.Mime;

/// <summary>
/// Takes a raw RFC 5322 message apart for the rules: every MIME leaf (inside attached messages too, whatever their
/// transfer encoding), every file inside zip, tar and gzip attachments (nested archives and messages inside archives
/// included), every attachment of a TNEF (winmail.dat) part and of an Outlook .msg (bodies too, attached messages
/// recursively) and every uuencoded or yEnc block in a text part, decoded into memory. Hostile input is the normal case
/// here, so everything is bounded by <see cref="AnalysisLimits"/>, and every buffer is taken from the gateway's
/// <see cref="UnpackBudget"/> before it is allocated. A bound that is hit becomes a finding ("could not be analysed:
/// limit X") that names the MIME part it concerns, so that cleaning can replace it, and the rest of the message is
/// still analysed as far as the bounds allow. Nothing here throws for bad input: the pipeline must get a verdict for
/// every message.
/// </summary>
public static partial class MessageAnalyzer
{
    /// <summary>A member must unpack to more than this before the compression ratio counts: a 10 KiB text file of
    /// spaces compresses 1000:1 and is no bomb.</summary>
    public const long RatioFloorBytes = 1024 * 1024;

    /// <summary>
    /// Analyses <paramref name="message"/> (the RFC 5322 message, without any queue-file envelope) outside any gateway
    /// budget: for tools and lookups that hold the parts only briefly.
    /// </summary>
    public static MessageAnalysis Analyze(ReadOnlyMemory<byte> message, AnalysisLimits limits) =>
        Analyze(message, limits, UnpackBudget.Unbounded().Open(limits.MaxUnpackedBytes));

    /// <summary>
    /// Analyses <paramref name="message"/>, taking every decoded and unpacked buffer from <paramref name="account"/>;
    /// the caller disposes the account once it no longer reads the parts.
    /// </summary>
    public static MessageAnalysis Analyze(ReadOnlyMemory<byte> message, AnalysisLimits limits, UnpackAccount account)
    {
        var walk = new Walk(limits, account);
        // Not disposed: the parsed tree reads its parts from this stream (persistent), and the cleaner may rewrite
        // the tree later (MessageAnalysis.Parsed). A MemoryStream over the message holds nothing else.
        var stream = ReadOnlyStreams.Over(message);
        MimeMessage parsed;
        try
        {
            parsed = new MimeParser(ParserOptionsFor(limits.MaxMimeDepth), stream, persistent: true).ParseMessage();
        }
        catch (Exception e) when (e is FormatException or IOException)
        {
            walk.Finding($"mime: message cannot be parsed ({e.Message})", null, null);
            return walk.Result(message.Length);
        }
        if (parsed.Body is not null) walk.Entity(parsed.Body, "", PartPosition.OfBody(parsed.Body, PartPosition.TopLevel), depth: 0, archiveDepth: 0, container: null);
        return walk.Result(message.Length) with { Parsed = new ParsedMessage(parsed, message, limits.MaxMimeDepth) };
    }

    /// <summary>
    /// MaxMimeDepth one beyond ours: MimeKit then hands deeper nesting over as a leaf, which we report. The cleaner
    /// parses with the same options, so that MIME positions name the same entities.
    /// </summary>
    public static ParserOptions ParserOptionsFor(int maxMimeDepth)
    {
        var options = ParserOptions.Default.Clone();
        options.MaxMimeDepth = Math.Max(1, maxMimeDepth + 1);
        return options;
    }

    /// <summary>The state of one analysis: what was found so far and how much of each limit is used.</summary>
    private sealed partial class Walk(AnalysisLimits limits, UnpackAccount account)
    {
        private readonly List<AnalyzedPart> _parts = [];
        private readonly List<ScanFinding> _findings = [];
        private int _mimeParts;
        private int _members;
        private bool _partsExceeded, _membersExceeded, _unpackedExceeded;

        public MessageAnalysis Result(long size) => new(size, _parts, _findings);

        public void Finding(string reason, string? partName, string? mimePath) =>
            _findings.Add(new ScanFinding(VerdictKind.DangerousContent, reason, partName) { MimePath = mimePath });

        /// <summary>A part that could not be analysed within a limit: a finding naming the limit, as the README lists them.</summary>
        private void Limit(string area, string key, string detail, string? partName, string? mimePath) =>
            Finding($"{area}: could not be analysed: limit {key} ({detail})", partName, mimePath);

        /// <summary>
        /// One MIME entity. <paramref name="prefix"/> is the readable name of what contains it ("" or "fwd.eml/"),
        /// <paramref name="position"/> its IMAP position in the message being walked. <paramref name="container"/> is
        /// the shown position of the top-level MIME part that holds this whole (re-parsed) message, null at the top:
        /// cleaning replaces that part, since what is inside it cannot be replaced on its own.
        /// </summary>
        public void Entity(MimeEntity entity, string prefix, string position, int depth, int archiveDepth, string? container)
        {
            if (_partsExceeded) return;
            if (++_mimeParts > limits.MaxMimeParts)
            {
                _partsExceeded = true;
                Limit("mime", "max-mime-parts", $"more than {limits.MaxMimeParts} MIME parts", container is null ? null : prefix.TrimEnd('/'), container);
                return;
            }
            switch (entity)
            {
                case Multipart multipart:
                    if (TooDeep(depth, prefix, position, container)) return;
                    var i = 0;
                    foreach (var child in multipart)
                        Entity(child, prefix, PartPosition.Child(position, ++i), depth + 1, archiveDepth, container);
                    break;
                case MessagePart { Message: { } inner } attached:
                    if (TooDeep(depth, prefix, position, container)) return;
                    var name = Sanitize(attached.ContentDisposition?.FileName ?? attached.ContentType.Name)
                        ?? $"message {PartPosition.Shown(position)}";
                    if (inner.Body is not null) Entity(inner.Body, $"{prefix}{name}/", PartPosition.OfBody(inner.Body, position), depth + 1, archiveDepth, container);
                    break;
                case MimePart part:
                    Leaf(part, prefix, position, depth, archiveDepth, container);
                    break;
                // MessagePart without a message, or an unknown entity type: nothing to scan in it.
            }
        }

        private void MimeDepthExceeded(string partName, string mimePath) =>
            Limit("mime", "max-mime-depth", $"more than {limits.MaxMimeDepth} nested parts or messages", partName, mimePath);

        private bool TooDeep(int depth, string prefix, string position, string? container)
        {
            if (depth < limits.MaxMimeDepth) return false;
            MimeDepthExceeded($"{prefix}part {PartPosition.Shown(position)}", container ?? PartPosition.Shown(position));
            return true;
        }

        private void Leaf(MimePart part, string prefix, string position, int depth, int archiveDepth, string? container)
        {
            var type = part.ContentType.MimeType.ToLowerInvariant();
            var fileName = Sanitize(part.FileName);
            var partName = prefix + (fileName ?? $"part {PartPosition.Shown(position)}");
            var mimePath = container ?? PartPosition.Shown(position);
            if (type.StartsWith("multipart/", StringComparison.Ordinal))
            {
                // MimeKit stopped recursing (beyond ParserOptions.MaxMimeDepth) and handed the rest over as a leaf.
                MimeDepthExceeded(partName, mimePath);
                return;
            }
            var isMessage = type is "message/rfc822" or "message/global";
            if (isMessage && depth + 1 >= limits.MaxMimeDepth)
            {
                MimeDepthExceeded(partName, mimePath);
                return;
            }
            // Decoding never makes content longer than its encoded form (7bit and 8bit keep the length exactly), so
            // sized to that the buffer never grows. The top-level message's own parts are bounded by its size; inside a
            // re-parsed message (an attachment of an attachment) they count against the message's unpack limit too.
            var encodedLength = EncodedLength(part.Content);
            if (!TryTake(encodedLength, countsAgainstMessage: container is not null, "mime", partName, mimePath)) return;
            ReadOnlyMemory<byte> content;
            try
            {
                var decoded = new MemoryStream(encodedLength);
                part.Content?.DecodeTo(decoded);
                content = new ReadOnlyMemory<byte>(decoded.GetBuffer(), 0, (int)decoded.Length);
            }
            catch (Exception e) when (e is IOException or FormatException or NotSupportedException)
            {
                Finding($"mime: part cannot be decoded ({e.Message})", partName, mimePath);
                return;
            }
            if (isMessage)
            {
                // An attached message MimeKit did not parse as one (MimeKit leaves one in base64 or quoted-printable a
                // leaf): decoded above and parsed here, within the same limits.
                var name = fileName ?? $"message {PartPosition.Shown(position)}";
                Embedded(content, $"{prefix}{name}/", mimePath, depth + 1, archiveDepth);
                return;
            }
            string? html = null;
            if (type == "text/html" && part is TextPart text)
            {
                if (!TryTake(2L * content.Length, countsAgainstMessage: container is not null, "mime", partName, mimePath)) return;
                try { html = HtmlPartText.Decode(text, content.ToArray()); }
                catch (Exception e) when (e is IOException or FormatException or NotSupportedException or ArgumentException) { }
            }
            var isAttachment = part.IsAttachment || fileName is not null;
            _parts.Add(new AnalyzedPart(partName, mimePath, fileName, type, PartSource.MimePart, isAttachment,
                part.ContentDisposition?.Size, content.Length, content, null, archiveDepth, html));
            if (ArchiveSniffer.Detect(content.Span) is not ArchiveFormat.None) Archive(content, partName, mimePath, fileName, archiveDepth + 1, depth);
            else if (MessageSniffer.ClaimsTnef(fileName, type))
                Finding("tnef: could not be analysed: corrupt (no TNEF signature)", partName, mimePath);
            else if (CompoundFile.HasSignature(content.Span))
                Outlook(content, partName, mimePath, archiveDepth, depth, MessageSniffer.ClaimsOutlookMessage(fileName, type));
            else if (type.StartsWith("text/", StringComparison.Ordinal) && EncodedBlocks.MayContain(content.Span))
                Blocks(content, partName, mimePath, archiveDepth, depth);
        }

        /// <summary>A message found inside another part (an encoded attached message, an .eml in an archive), analysed as MIME.</summary>
        private void Embedded(ReadOnlyMemory<byte> content, string prefix, string mimePath, int depth, int archiveDepth)
        {
            if (depth >= limits.MaxMimeDepth)
            {
                MimeDepthExceeded(prefix.TrimEnd('/'), mimePath);
                return;
            }
            MimeMessage inner;
            try
            {
                // Not disposed: the parts of a persistent parse read their content from it later.
                var stream = ReadOnlyStreams.Over(content);
                inner = new MimeParser(ParserOptionsFor(limits.MaxMimeDepth - depth), stream, persistent: true).ParseMessage();
            }
            catch (Exception e) when (e is FormatException or IOException)
            {
                Finding($"mime: attached message cannot be parsed ({e.Message})", prefix.TrimEnd('/'), mimePath);
                return;
            }
            if (inner.Body is { } body) Entity(body, prefix, PartPosition.OfBody(body, PartPosition.TopLevel), depth, archiveDepth, mimePath);
        }

        /// <summary>The uuencoded and yEnc blocks of a text, each analysed as a file attached there.</summary>
        private void Blocks(ReadOnlyMemory<byte> text, string partName, string mimePath, int archiveDepth, int depth)
        {
            foreach (var block in EncodedBlocks.Find(text.Span))
            {
                var name = $"{partName}/{block.FileName ?? block.Kind}";
                if (!CountMember(partName, mimePath)) return;
                if (!TryTake(EncodedBlocks.MaxDecodedLength(block), countsAgainstMessage: true, "mime", name, mimePath)) return;
                var buffer = new byte[EncodedBlocks.MaxDecodedLength(block)];
                var data = new ReadOnlyMemory<byte>(buffer, 0, EncodedBlocks.Decode(text.Span, block, buffer));
                var fileName = block.FileName is null ? null : LastSegment(block.FileName);
                _parts.Add(new AnalyzedPart(name, mimePath, fileName, "application/octet-stream", PartSource.EncodedBlock,
                    IsAttachment: true, null, data.Length, data, null, archiveDepth + 1));
                if (ArchiveSniffer.Detect(data.Span) is not ArchiveFormat.None) Archive(data, name, mimePath, fileName, archiveDepth + 2, depth);
            }
        }

        /// <summary>Unpacks an archive found at <paramref name="archiveDepth"/> (1 = attached to the mail).</summary>
        private void Archive(ReadOnlyMemory<byte> content, string name, string mimePath, string? fileName, int archiveDepth, int mimeDepth)
        {
            if (_membersExceeded || _unpackedExceeded) return;
            if (archiveDepth > limits.MaxArchiveDepth)
            {
                Limit("archive", "max-archive-depth", $"more than {limits.MaxArchiveDepth} archives inside each other", name, mimePath);
                return;
            }
            try
            {
                switch (ArchiveSniffer.Detect(content.Span))
                {
                    case ArchiveFormat.Zip: Zip(content, name, mimePath, archiveDepth, mimeDepth); break;
                    case ArchiveFormat.Gzip: Gzip(content, name, mimePath, fileName, archiveDepth, mimeDepth); break;
                    case ArchiveFormat.Tar: Tar(content, name, mimePath, archiveDepth, mimeDepth); break;
                    case ArchiveFormat.Tnef: Tnef(content, name, mimePath, archiveDepth, mimeDepth); break;
                }
            }
            catch (Exception e) when (e is InvalidDataException or IOException or FormatException
                                           or NotSupportedException or ArgumentException or InvalidOperationException)
            {
                // A truncated or garbled archive cannot be checked; what it hides is unknown.
                Finding($"archive: cannot be unpacked ({e.GetType().Name}: {e.Message})", name, mimePath);
            }
        }

        private void Zip(ReadOnlyMemory<byte> content, string name, string mimePath, int archiveDepth, int mimeDepth)
        {
            if (ZipDirectory.HasOverlappingEntries(content.Span))
            {
                Finding("archive: entries share their compressed data (overlapping-entry zip bomb)", name, mimePath);
                return;
            }
            // Listing a zip costs memory per entry before any is read: the count it declares is checked first.
            if (ZipDirectory.DeclaredEntries(content.Span) is { } declared && _members + declared > limits.MaxArchiveMembers)
            {
                _membersExceeded = true;
                Limit("archive", "max-archive-members", $"the zip declares {declared} entries; more than {limits.MaxArchiveMembers} archive members in the message", name, mimePath);
                return;
            }
            if (ZipDirectory.Members(content.Span) is { } members)
            {
                foreach (var member in members)
                {
                    if (!CountMember(name, mimePath)) return;
                    var unsupported = member.Method is 0 or 8 ? null : $"cannot be unpacked (compression method {member.Method})";
                    if (!ZipEntry(name, mimePath, archiveDepth, mimeDepth, member.Name, member.DeclaredSize, member.PackedSize, member.IsEncrypted, unsupported, () =>
                        {
                            var packed = ReadOnlyStreams.Over(content.Slice((int)member.DataOffset, (int)member.PackedSize));
                            return member.Method == 8 ? new DeflateStream(packed, CompressionMode.Decompress) : packed;
                        })) return;
                }
                return;
            }
            // zip64 and what the directory reader above does not take: .NET's reader (which stops at the declared size).
            using var zip = new ZipArchive(ReadOnlyStreams.Over(content), ZipArchiveMode.Read);
            foreach (var entry in zip.Entries)
            {
                if (!CountMember(name, mimePath)) return;
                if (!ZipEntry(name, mimePath, archiveDepth, mimeDepth, entry.FullName, entry.Length, entry.CompressedLength, entry.IsEncrypted, null, entry.Open)) return;
            }
        }

        /// <summary>One zip member, unpacked from <paramref name="open"/>; false when the walk of this zip must stop.</summary>
        private bool ZipEntry(string name, string mimePath, int archiveDepth, int mimeDepth, string entryName, long declared, long packedSize,
            bool encrypted, string? unsupported, Func<Stream> open)
        {
            if (entryName.EndsWith('/') && declared == 0) return true; // a directory
            var memberName = $"{name}/{entryName}";
            var fileName = LastSegment(entryName);
            if (encrypted || unsupported is not null)
            {
                AddMember(memberName, mimePath, fileName, declared, ReadOnlyMemory<byte>.Empty, encrypted ? AnalyzedPart.Encrypted : unsupported, archiveDepth);
                return true;
            }
            ReadOnlyMemory<byte> data;
            try
            {
                using var stream = open();
                if (!TryExpand(stream, packedSize, declared, "zip header", memberName, mimePath, out data)) return true;
            }
            catch (Exception e) when (e is InvalidDataException or NotSupportedException or IOException)
            {
                AddMember(memberName, mimePath, fileName, declared, ReadOnlyMemory<byte>.Empty, $"cannot be unpacked ({e.Message})", archiveDepth);
                return true;
            }
            if (_unpackedExceeded) return false;
            Member(data, memberName, mimePath, fileName, declared, archiveDepth, mimeDepth);
            return true;
        }

        private void Gzip(ReadOnlyMemory<byte> content, string name, string mimePath, string? containerFileName, int archiveDepth, int mimeDepth)
        {
            if (!CountMember(name, mimePath)) return;
            var innerName = GzipOriginalName(content.Span) ?? WithoutGzipExtension(containerFileName) ?? "gunzipped";
            var memberName = $"{name}/{innerName}";
            // The trailer's ISIZE is the unpacked size modulo 2^32: checked like a zip header's size, and against what
            // really comes out, so that a truncated or lying gzip is a finding rather than a short clean file.
            var trailerSize = content.Length >= 18 ? BinaryPrimitives.ReadUInt32LittleEndian(content.Span[^4..]) : 0L;
            using var gzip = new GZipStream(ReadOnlyStreams.Over(content), CompressionMode.Decompress);
            if (!TryExpand(gzip, content.Length, trailerSize, "gzip trailer", memberName, mimePath, out var data, trustDeclared: false)) return;
            var fileName = LastSegment(innerName);
            Member(data, memberName, mimePath, fileName, trailerSize, archiveDepth, mimeDepth);
        }

        private void Tar(ReadOnlyMemory<byte> content, string name, string mimePath, int archiveDepth, int mimeDepth)
        {
            using var tar = new TarReader(ReadOnlyStreams.Over(content), leaveOpen: false);
            while (tar.GetNextEntry(copyData: false) is { } entry)
            {
                if (!CountMember(name, mimePath)) return;
                if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile))
                    continue; // directories, links, devices: no content of their own
                var memberName = $"{name}/{entry.Name}";
                var fileName = LastSegment(entry.Name);
                ReadOnlyMemory<byte> data = ReadOnlyMemory<byte>.Empty;
                if (entry.DataStream is { } stream && !TryExpand(stream, entry.Length, entry.Length, "tar header", memberName, mimePath, out data)) continue;
                if (_unpackedExceeded) return;
                Member(data, memberName, mimePath, fileName, entry.Length, archiveDepth, mimeDepth);
            }
        }

        /// <summary>A member unpacked whole: recorded as a part, and what it holds analysed in turn.</summary>
        private void Member(ReadOnlyMemory<byte> data, string memberName, string mimePath, string? fileName, long? declared, int archiveDepth, int mimeDepth)
        {
            AddMember(memberName, mimePath, fileName, declared, data, null, archiveDepth);
            Inside(data, memberName, mimePath, fileName ?? "", archiveDepth, mimeDepth);
        }

        /// <summary>What an unpacked member holds in turn: another archive, or a message (an .eml) to analyse as MIME.</summary>
        private void Inside(ReadOnlyMemory<byte> data, string memberName, string mimePath, string fileName, int archiveDepth, int mimeDepth)
        {
            if (ArchiveSniffer.Detect(data.Span) is not ArchiveFormat.None)
                Archive(data, memberName, mimePath, fileName, archiveDepth + 1, mimeDepth);
            else if (CompoundFile.HasSignature(data.Span))
                Outlook(data, memberName, mimePath, archiveDepth, mimeDepth, MessageSniffer.ClaimsOutlookMessage(fileName, null));
            else if (MessageSniffer.IsMessage(fileName, data.Span))
                Embedded(data, $"{memberName}/", mimePath, mimeDepth + 1, archiveDepth);
        }

        private bool CountMember(string archiveName, string mimePath)
        {
            if (_membersExceeded) return false;
            if (++_members <= limits.MaxArchiveMembers) return true;
            _membersExceeded = true;
            Limit("archive", "max-archive-members", $"more than {limits.MaxArchiveMembers} archive members in the message", archiveName, mimePath);
            return false;
        }

        /// <summary>Takes a buffer's bytes from the account; false, with a finding naming the limit, when it cannot.</summary>
        private bool TryTake(long bytes, bool countsAgainstMessage, string area, string partName, string mimePath)
        {
            switch (account.Take(bytes, countsAgainstMessage))
            {
                case UnpackRefusal.None:
                    return true;
                case UnpackRefusal.MessageLimit:
                    UnpackedExceeded(area, partName, mimePath);
                    return false;
                case UnpackRefusal.LargerThanGatewayMemory:
                    Limit(area, "unpack-memory", $"{bytes} bytes are more than the gateway's whole unpacking memory", partName, mimePath);
                    return false;
                default:
                    // Others hold the memory: the account is marked postponed and the message is tried again later.
                    return false;
            }
        }

        /// <summary>
        /// Reads one member into a buffer of the size its header declares (taken from the budget first), stopping at
        /// one byte beyond it: a bomb is never unpacked further than it admits, and a member whose real size differs
        /// from the declared one is a finding. A size that is only a hint (<paramref name="trustDeclared"/> false: a
        /// gzip trailer, which a truncated file does not have) starts the buffer, which grows within the limits.
        /// False, with a finding, when nothing could be read.
        /// </summary>
        private bool TryExpand(Stream stream, long packedSize, long declaredSize, string declaredBy, string memberName, string mimePath,
            out ReadOnlyMemory<byte> data, bool trustDeclared = true)
        {
            data = ReadOnlyMemory<byte>.Empty;
            var ratioCap = Math.Max(RatioFloorBytes, packedSize * limits.MaxCompressionRatio);
            var ratioCapBytes = (long)Math.Min(ratioCap, Array.MaxLength);
            if (trustDeclared && declaredSize > ratioCapBytes)
            {
                RatioExceeded(memberName, mimePath, declaredSize, packedSize);
                return false;
            }
            // A hint beyond what the ratio allows (a truncated gzip's "trailer" is whatever bytes it ends with) starts
            // small and grows, doubling, up to the ratio's cap: a larger real size is found by the one byte read beyond.
            var growing = !trustDeclared && declaredSize > ratioCapBytes;
            var size = growing ? Math.Min(ratioCapBytes, Math.Max(64 * 1024, 4 * packedSize)) : declaredSize;
            if (!TryTake(size, countsAgainstMessage: true, "archive", memberName, mimePath)) return false;
            var buffer = new byte[size];
            var filled = Fill(stream, buffer, 0);
            Span<byte> beyond = stackalloc byte[1];
            while (growing && filled == buffer.Length && buffer.Length < ratioCapBytes && stream.Read(beyond) > 0)
            {
                var grown = Math.Min(ratioCapBytes, 2L * buffer.Length);
                if (!TryTake(grown, countsAgainstMessage: true, "archive", memberName, mimePath)) return false;
                var larger = new byte[grown];
                buffer.CopyTo(larger, 0);
                larger[filled++] = beyond[0];
                account.GiveBack(buffer.Length);
                buffer = larger;
                filled = Fill(stream, buffer, filled);
            }
            data = new ReadOnlyMemory<byte>(buffer, 0, filled);
            if (filled == buffer.Length && stream.Read(beyond) > 0)
            {
                if (growing || filled >= ratioCapBytes) RatioExceeded(memberName, mimePath, filled + 1L, packedSize);
                else Finding($"archive: real size differs from what the {declaredBy} declares (more than the {declaredSize} bytes declared; only those were analysed)", memberName, mimePath);
            }
            else if (filled != declaredSize)
            {
                Finding($"archive: real size differs from what the {declaredBy} declares ({filled} bytes unpacked, {declaredSize} declared; truncated or lying)", memberName, mimePath);
            }
            return true;
        }

        private static int Fill(Stream stream, byte[] buffer, int filled)
        {
            while (filled < buffer.Length)
            {
                var read = stream.Read(buffer, filled, buffer.Length - filled);
                if (read == 0) break;
                filled += read;
            }
            return filled;
        }

        private void RatioExceeded(string memberName, string mimePath, long size, long packedSize) =>
            Limit("archive", "max-compression-ratio", $"zip bomb? {size} bytes from {packedSize}; limit {limits.MaxCompressionRatio}:1", memberName, mimePath);

        private void UnpackedExceeded(string area, string partName, string mimePath)
        {
            if (_unpackedExceeded) return;
            _unpackedExceeded = true;
            Limit(area, "max-unpacked-bytes", $"more than {limits.MaxUnpackedBytes} bytes decoded and unpacked in the message", partName, mimePath);
        }

        private void AddMember(string memberName, string mimePath, string? fileName, long? declared, ReadOnlyMemory<byte> data, string? unscannable, int depth) =>
            _parts.Add(new AnalyzedPart(memberName, mimePath, fileName, "application/octet-stream", PartSource.ArchiveMember,
                IsAttachment: true, declared, data.Length, data, unscannable, depth));
    }

    private static int EncodedLength(IMimeContent? content) =>
        content?.Stream is { CanSeek: true } stream ? (int)Math.Clamp(stream.Length, 0, Array.MaxLength) : 0;

    /// <summary>The file name a gzip header carries (FNAME, ISO 8859-1), if any.</summary>
    private static string? GzipOriginalName(ReadOnlySpan<byte> gz)
    {
        const byte FExtra = 4, FName = 8;
        if (gz.Length < 10 || (gz[3] & FName) == 0) return null;
        var at = 10;
        if ((gz[3] & FExtra) != 0)
        {
            if (gz.Length < 12) return null;
            at = 12 + BinaryPrimitives.ReadUInt16LittleEndian(gz[10..]);
        }
        if (at >= gz.Length) return null;
        var end = gz[at..].IndexOf((byte)0);
        if (end <= 0) return null;
        return Sanitize(Encoding.Latin1.GetString(gz.Slice(at, Math.Min(end, 1024))));
    }

    private static string? WithoutGzipExtension(string? name)
    {
        if (name is null) return null;
        if (name.EndsWith(".tgz", StringComparison.OrdinalIgnoreCase)) return name[..^4] + ".tar";
        if (name.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) && name.Length > 3) return name[..^3];
        return null;
    }

    private static string LastSegment(string path)
    {
        var trimmed = path.TrimEnd('/', '\\');
        var slash = trimmed.LastIndexOfAny(['/', '\\']);
        return slash < 0 ? trimmed : trimmed[(slash + 1)..];
    }

    /// <summary>
    /// Null for a missing or blank name; otherwise the name, at most about 1 KiB (headers can be huge), cut in the
    /// middle so that its extension survives for the filename rules.
    /// </summary>
    private static string? Sanitize(string? name)
    {
        if (string.IsNullOrWhiteSpace(name)) return null;
        return name.Length > 1024 ? $"{name[..510]}...{name[^510..]}" : name;
    }
}
