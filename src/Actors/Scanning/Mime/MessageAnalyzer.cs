using System.Buffers.Binary;
using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using MimeKit;

namespace MailScanner.Actors.Scanning.Mime;

/// <summary>
/// Takes a raw RFC 5322 message apart for the rules: every MIME leaf (inside forwarded messages too) and every
/// file inside zip, tar and gzip attachments (nested archives included), decoded into memory. Hostile input is
/// the normal case here, so everything is bounded by <see cref="AnalysisLimits"/>; a bound that is hit becomes
/// a finding and the rest of the message is still analysed as far as the bounds allow. Nothing here throws for
/// bad input: the pipeline must get a verdict for every message.
/// </summary>
public static class MessageAnalyzer
{
    /// <summary>A member must unpack to more than this before the compression ratio counts: a 10 KiB text file of
    /// spaces compresses 1000:1 and is no bomb.</summary>
    public const long RatioFloorBytes = 1024 * 1024;

    /// <summary>Analyses <paramref name="message"/> (the RFC 5322 message, without any queue-file envelope).</summary>
    public static MessageAnalysis Analyze(ReadOnlyMemory<byte> message, AnalysisLimits limits)
    {
        var walk = new Walk(limits);
        using (var stream = ReadOnlyStreams.Over(message))
        {
            MimeMessage parsed;
            try
            {
                // MaxMimeDepth one beyond ours: MimeKit then hands deeper nesting over as a leaf, which we report.
                var options = ParserOptions.Default.Clone();
                options.MaxMimeDepth = limits.MaxMimeDepth + 1;
                // persistent: parts refer to the caller's bytes instead of copying them.
                parsed = new MimeParser(options, stream, persistent: true).ParseMessage();
            }
            catch (Exception e) when (e is FormatException or IOException)
            {
                walk.Finding($"mime: message cannot be parsed ({e.Message})", null);
                return walk.Result(message.Length);
            }
            if (parsed.Body is not null) walk.Entity(parsed.Body, "", PartPosition.OfBody(parsed.Body, PartPosition.TopLevel), depth: 0);
        }
        return walk.Result(message.Length);
    }

    /// <summary>The state of one analysis: what was found so far and how much of each limit is used.</summary>
    private sealed class Walk(AnalysisLimits limits)
    {
        private readonly List<AnalyzedPart> _parts = [];
        private readonly List<ScanFinding> _findings = [];
        private int _mimeParts;
        private int _members;
        private long _expanded;
        private bool _partsExceeded, _membersExceeded, _expandedExceeded;

        public MessageAnalysis Result(long size) => new(size, _parts, _findings);

        public void Finding(string reason, string? partName) =>
            _findings.Add(new ScanFinding(VerdictKind.DangerousContent, reason, partName));

        /// <summary>
        /// One MIME entity. <paramref name="prefix"/> is the readable name of what contains it ("" or "fwd.eml/"),
        /// <paramref name="mimePath"/> the IMAP position of its parent in the top-level message.
        /// </summary>
        public void Entity(MimeEntity entity, string prefix, string position, int depth)
        {
            if (_partsExceeded) return;
            if (++_mimeParts > limits.MaxMimeParts)
            {
                _partsExceeded = true;
                Finding($"mime: part limit exceeded (more than {limits.MaxMimeParts} MIME parts)", null);
                return;
            }
            switch (entity)
            {
                case Multipart multipart:
                    if (TooDeep(depth, prefix, position)) return;
                    var i = 0;
                    foreach (var child in multipart)
                        Entity(child, prefix, PartPosition.Child(position, ++i), depth + 1);
                    break;
                case MessagePart { Message: { } inner } attached:
                    if (TooDeep(depth, prefix, position)) return;
                    var name = Sanitize(attached.ContentDisposition?.FileName ?? attached.ContentType.Name)
                        ?? $"message {PartPosition.Shown(position)}";
                    if (inner.Body is not null) Entity(inner.Body, $"{prefix}{name}/", PartPosition.OfBody(inner.Body, position), depth + 1);
                    break;
                case MimePart part:
                    Leaf(part, prefix, position, depth);
                    break;
                // MessagePart without a message, or an unknown entity type: nothing to scan in it.
            }
        }

        private bool TooDeep(int depth, string prefix, string position)
        {
            if (depth < limits.MaxMimeDepth) return false;
            Finding($"mime: nesting depth limit exceeded (more than {limits.MaxMimeDepth} nested parts or messages)",
                $"{prefix}part {PartPosition.Shown(position)}");
            return true;
        }

        private void Leaf(MimePart part, string prefix, string position, int depth)
        {
            var type = part.ContentType.MimeType.ToLowerInvariant();
            var fileName = Sanitize(part.FileName);
            var partName = prefix + (fileName ?? $"part {PartPosition.Shown(position)}");
            if (type.StartsWith("multipart/", StringComparison.Ordinal) || type is "message/rfc822" or "message/global")
            {
                // MimeKit stopped recursing (beyond ParserOptions.MaxMimeDepth) and handed the rest over as a leaf.
                Finding($"mime: nesting depth limit exceeded (more than {limits.MaxMimeDepth} nested parts or messages)", partName);
                return;
            }
            byte[] content;
            try
            {
                // Decoding never makes content longer than its encoded form (7bit and 8bit keep the length exactly), so
                // sized to that the buffer never grows, and for an unencoded part it is the content as it is.
                using var decoded = new MemoryStream(EncodedLength(part.Content));
                part.Content?.DecodeTo(decoded);
                content = decoded.Length == decoded.Capacity ? decoded.GetBuffer() : decoded.ToArray();
            }
            catch (Exception e) when (e is IOException or FormatException or NotSupportedException)
            {
                Finding($"mime: part cannot be decoded ({e.Message})", partName);
                return;
            }
            string? html = null;
            if (type == "text/html" && part is TextPart text)
            {
                try { html = HtmlPartText.Decode(text, content); }
                catch (Exception e) when (e is IOException or FormatException or NotSupportedException or ArgumentException) { }
            }
            var isAttachment = part.IsAttachment || fileName is not null;
            _parts.Add(new AnalyzedPart(partName, PartPosition.Shown(position), fileName, type, PartSource.MimePart, isAttachment,
                part.ContentDisposition?.Size, content.LongLength, content, null, 0, html));
            if (ArchiveSniffer.Detect(content) is not ArchiveFormat.None) Archive(content, partName, PartPosition.Shown(position), fileName, 1);
        }

        /// <summary>Unpacks an archive found at <paramref name="depth"/> (1 = attached to the mail).</summary>
        private void Archive(byte[] content, string name, string mimePath, string? fileName, int depth)
        {
            if (_membersExceeded || _expandedExceeded) return;
            if (depth > limits.MaxArchiveDepth)
            {
                Finding($"archive: nesting depth limit exceeded (more than {limits.MaxArchiveDepth} archives inside each other)", name);
                return;
            }
            try
            {
                switch (ArchiveSniffer.Detect(content))
                {
                    case ArchiveFormat.Zip: Zip(content, name, mimePath, depth); break;
                    case ArchiveFormat.Gzip: Gzip(content, name, mimePath, fileName, depth); break;
                    case ArchiveFormat.Tar: Tar(content, name, mimePath, depth); break;
                }
            }
            catch (Exception e) when (e is InvalidDataException or IOException or FormatException
                                           or NotSupportedException or ArgumentException or InvalidOperationException)
            {
                // A truncated or garbled archive cannot be checked; what it hides is unknown.
                Finding($"archive: cannot be unpacked ({e.GetType().Name}: {e.Message})", name);
            }
        }

        private void Zip(byte[] content, string name, string mimePath, int depth)
        {
            using var zip = new ZipArchive(new MemoryStream(content, writable: false), ZipArchiveMode.Read);
            foreach (var entry in zip.Entries)
            {
                if (!CountMember(name)) return;
                if (entry.FullName.EndsWith('/') && entry.Length == 0) continue; // a directory
                var memberName = $"{name}/{entry.FullName}";
                var fileName = LastSegment(entry.FullName);
                if (entry.IsEncrypted)
                {
                    AddMember(memberName, mimePath, fileName, entry.Length, [], AnalyzedPart.Encrypted, depth);
                    continue;
                }
                byte[] data;
                try
                {
                    using var stream = entry.Open();
                    if (!TryExpand(stream, entry.CompressedLength, entry.Length, memberName, out data)) continue;
                }
                catch (Exception e) when (e is InvalidDataException or NotSupportedException or IOException)
                {
                    AddMember(memberName, mimePath, fileName, entry.Length, [], $"cannot be unpacked ({e.Message})", depth);
                    continue;
                }
                if (_expandedExceeded) return;
                AddMember(memberName, mimePath, fileName, entry.Length, data, null, depth);
                if (ArchiveSniffer.Detect(data) is not ArchiveFormat.None) Archive(data, memberName, mimePath, fileName, depth + 1);
            }
        }

        private void Gzip(byte[] content, string name, string mimePath, string? containerFileName, int depth)
        {
            if (!CountMember(name)) return;
            var innerName = GzipOriginalName(content) ?? WithoutGzipExtension(containerFileName) ?? "gunzipped";
            var memberName = $"{name}/{innerName}";
            using var gzip = new GZipStream(new MemoryStream(content, writable: false), CompressionMode.Decompress);
            if (!TryExpand(gzip, content.LongLength, null, memberName, out var data)) return;
            var fileName = LastSegment(innerName);
            AddMember(memberName, mimePath, fileName, null, data, null, depth);
            if (ArchiveSniffer.Detect(data) is not ArchiveFormat.None) Archive(data, memberName, mimePath, fileName, depth + 1);
        }

        private void Tar(byte[] content, string name, string mimePath, int depth)
        {
            using var tar = new TarReader(new MemoryStream(content, writable: false), leaveOpen: false);
            while (tar.GetNextEntry(copyData: false) is { } entry)
            {
                if (!CountMember(name)) return;
                if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile))
                    continue; // directories, links, devices: no content of their own
                var memberName = $"{name}/{entry.Name}";
                var fileName = LastSegment(entry.Name);
                byte[] data = [];
                if (entry.DataStream is { } stream && !TryExpand(stream, entry.Length, entry.Length, memberName, out data)) continue;
                if (_expandedExceeded) return;
                AddMember(memberName, mimePath, fileName, entry.Length, data, null, depth);
                if (ArchiveSniffer.Detect(data) is not ArchiveFormat.None) Archive(data, memberName, mimePath, fileName, depth + 1);
            }
        }

        private bool CountMember(string archiveName)
        {
            if (_membersExceeded) return false;
            if (++_members <= limits.MaxArchiveMembers) return true;
            _membersExceeded = true;
            Finding($"archive: member limit exceeded (more than {limits.MaxArchiveMembers} archive members in the message)", archiveName);
            return false;
        }

        /// <summary>
        /// Reads one member, stopping as soon as it passes the message's expansion budget or the compression ratio
        /// (so a bomb is never unpacked further than the limit). False, with a finding, when it had to stop.
        /// </summary>
        private bool TryExpand(Stream stream, long packedSize, long? declaredSize, string memberName, out byte[] data)
        {
            data = [];
            var budget = limits.MaxExpandedBytes - _expanded;
            var ratioCap = Math.Max(RatioFloorBytes, packedSize * limits.MaxCompressionRatio);
            var ratioCapBytes = ratioCap >= long.MaxValue ? long.MaxValue : (long)ratioCap;
            // The declared size of a zip or tar member is checked before reading anything: a bomb usually says what it is.
            if (declaredSize > ratioCapBytes)
            {
                RatioExceeded(memberName, declaredSize.Value, packedSize);
                return false;
            }
            if (declaredSize > budget)
            {
                ExpandedExceeded(memberName);
                return false;
            }
            var cap = Math.Min(budget, ratioCapBytes);
            var buffer = new MemoryStream();
            var chunk = new byte[81920];
            while (true)
            {
                var want = (int)Math.Min(chunk.Length, cap + 1 - buffer.Length);
                var read = stream.Read(chunk, 0, want);
                if (read == 0) break;
                buffer.Write(chunk, 0, read);
                if (buffer.Length > cap)
                {
                    if (buffer.Length > ratioCapBytes) RatioExceeded(memberName, buffer.Length, packedSize);
                    else ExpandedExceeded(memberName);
                    return false;
                }
            }
            _expanded += buffer.Length;
            data = buffer.ToArray();
            return true;
        }

        private void RatioExceeded(string memberName, long size, long packedSize) =>
            Finding($"archive: compression ratio limit exceeded (zip bomb? {size} bytes or more from {packedSize}; " +
                    $"limit {limits.MaxCompressionRatio}:1)", memberName);

        private void ExpandedExceeded(string memberName)
        {
            if (_expandedExceeded) return;
            _expandedExceeded = true;
            Finding($"archive: expanded size limit exceeded (more than {limits.MaxExpandedBytes} bytes unpacked from the message's archives)", memberName);
        }

        private void AddMember(string memberName, string mimePath, string? fileName, long? declared, byte[] data, string? unscannable, int depth) =>
            _parts.Add(new AnalyzedPart(memberName, mimePath, fileName, "application/octet-stream", PartSource.ArchiveMember,
                IsAttachment: true, declared, data.LongLength, data, unscannable, depth));
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
