using System.Text;
using MailScanner.Actors.Scanning.Outlook;
using MimeKit.Tnef;

namespace MailScanner.Actors.Scanning.Mime;

public static partial class MessageAnalyzer
{
    /// <summary>
    /// MimeKit's TNEF property reader looks up Windows code pages (1252 and the message's own) when its type is first
    /// used; without the code-page provider that type initializer fails, and stays failed for the life of the process.
    /// </summary>
    static MessageAnalyzer() => Encoding.RegisterProvider(CodePagesEncodingProvider.Instance);

    /// <summary>The most directory entries an Outlook .msg may have (each is an object while it is read).</summary>
    public const int MaxCompoundFileEntries = 100_000;

    /// <summary>
    /// TNEF (winmail.dat) and Outlook .msg: containers of files and bodies that Outlook writes. Their attachments are
    /// analysed as archive members are (filename and filetype rules, EICAR, archives and messages inside them), within
    /// the same limits and budget; what cannot be read is a finding, never an exception.
    /// </summary>
    private sealed partial class Walk
    {
        /// <summary>TNEF compliance problems that mean the content cannot be trusted to have been read whole.</summary>
        private const TnefComplianceStatus Corrupt = TnefComplianceStatus.AttributeOverflow | TnefComplianceStatus.InvalidAttributeChecksum |
            TnefComplianceStatus.InvalidAttributeLength | TnefComplianceStatus.InvalidPropertyLength | TnefComplianceStatus.InvalidRowCount |
            TnefComplianceStatus.InvalidTnefSignature | TnefComplianceStatus.NestingTooDeep | TnefComplianceStatus.StreamTruncated;

        /// <summary>
        /// Expands a TNEF stream with MimeKit's <see cref="TnefReader"/>: its plain, HTML and RTF bodies and its attachments,
        /// attached messages (TNEF again) one MIME level deeper. Every attribute's bytes are taken from the budget
        /// before MimeKit reads them into memory.
        /// </summary>
        private void Tnef(ReadOnlyMemory<byte> content, string name, string mimePath, int archiveDepth, int mimeDepth)
        {
            try
            {
                using var reader = new TnefReader(ReadOnlyStreams.Over(content), 0, TnefComplianceMode.Loose);
                var attachment = (TnefAttachment?)null;
                var index = 0;
                while (reader.ReadNextAttribute())
                {
                    if (reader.AttributeRawValueLength > content.Length - reader.AttributeRawValueStreamOffset)
                    {
                        Finding($"tnef: could not be analysed: an attribute declares {reader.AttributeRawValueLength} bytes, more than are left", name, mimePath);
                        return;
                    }
                    // Strings become UTF-16 and then UTF-8 for the rules: at most four bytes in memory per byte read.
                    var cost = (long)reader.AttributeRawValueLength * (reader.AttributeTag is TnefAttributeTag.AttachData ? 1 : 4);
                    if (reader.AttributeTag is TnefAttributeTag.Body or TnefAttributeTag.MapiProperties or TnefAttributeTag.AttachRenderData
                            or TnefAttributeTag.AttachTitle or TnefAttributeTag.AttachData or TnefAttributeTag.Attachment &&
                        !TryTake(cost, countsAgainstMessage: true, "tnef", name, mimePath)) return;
                    var prop = reader.TnefPropertyReader;
                    switch (reader.AttributeLevel, reader.AttributeTag)
                    {
                        case (TnefAttributeLevel.Message, TnefAttributeTag.Body):
                            Body(name, mimePath, "body.txt", prop.ReadValueAsString(), html: false, archiveDepth, mimeDepth);
                            break;
                        case (TnefAttributeLevel.Message, TnefAttributeTag.MapiProperties):
                            while (prop.ReadNextProperty())
                            {
                                if (prop.PropertyTag.Id == TnefPropertyId.RtfCompressed && prop.PropertyTag.ValueTnefType == TnefPropertyType.Binary)
                                    RtfBody(name, mimePath, prop.ReadValueAsBytes(), archiveDepth);
                                else if (prop.PropertyTag.Id is TnefPropertyId.Body or TnefPropertyId.BodyHtml &&
                                    prop.PropertyTag.ValueTnefType is TnefPropertyType.String8 or TnefPropertyType.Unicode or TnefPropertyType.Binary)
                                {
                                    var html = prop.PropertyTag.Id == TnefPropertyId.BodyHtml;
                                    var text = prop.PropertyTag.ValueTnefType == TnefPropertyType.Binary
                                        ? Encoding.Latin1.GetString(prop.ReadValueAsBytes()) : prop.ReadValueAsString();
                                    Body(name, mimePath, html ? "body.html" : "body.txt", text, html, archiveDepth, mimeDepth);
                                }
                            }
                            break;
                        case (TnefAttributeLevel.Attachment, TnefAttributeTag.AttachRenderData):
                            if (attachment is not null && !TnefMember(attachment, name, mimePath, archiveDepth, mimeDepth)) return;
                            attachment = new TnefAttachment(++index);
                            break;
                        case (TnefAttributeLevel.Attachment, TnefAttributeTag.AttachTitle) when attachment is not null:
                            attachment.Title = prop.ReadValueAsString();
                            break;
                        case (TnefAttributeLevel.Attachment, TnefAttributeTag.AttachData) when attachment is not null:
                            attachment.Data = prop.ReadValueAsBytes();
                            break;
                        case (TnefAttributeLevel.Attachment, TnefAttributeTag.Attachment) when attachment is not null:
                            while (prop.ReadNextProperty())
                            {
                                switch (prop.PropertyTag.Id)
                                {
                                    case TnefPropertyId.AttachLongFilename:
                                        attachment.LongName = prop.ReadValueAsString();
                                        break;
                                    case TnefPropertyId.AttachFilename:
                                        attachment.Title ??= prop.ReadValueAsString();
                                        break;
                                    case TnefPropertyId.AttachMethod:
                                        attachment.Method = (TnefAttachMethod)prop.ReadValueAsInt32();
                                        break;
                                    case TnefPropertyId.AttachData when prop.PropertyTag.ValueTnefType is TnefPropertyType.Binary or TnefPropertyType.Object:
                                        attachment.Data = prop.ReadValueAsBytes();
                                        attachment.IsObject = prop.PropertyTag.ValueTnefType == TnefPropertyType.Object;
                                        break;
                                }
                            }
                            break;
                    }
                }
                if (attachment is not null && !TnefMember(attachment, name, mimePath, archiveDepth, mimeDepth)) return;
                if ((reader.ComplianceStatus & Corrupt) != 0)
                    Finding($"tnef: could not be analysed: corrupt ({reader.ComplianceStatus})", name, mimePath);
            }
            catch (Exception e) when (e is TnefException or IOException or FormatException or ArgumentException or InvalidOperationException
                                          or OverflowException or IndexOutOfRangeException or NotSupportedException)
            {
                Finding($"tnef: could not be analysed: corrupt ({e.Message})", name, mimePath);
            }
        }

        /// <summary>One attachment of a TNEF stream, as its attributes describe it so far.</summary>
        private sealed class TnefAttachment(int index)
        {
            public int Index { get; } = index;
            public string? Title { get; set; }
            public string? LongName { get; set; }
            public byte[]? Data { get; set; }
            public bool IsObject { get; set; }
            public TnefAttachMethod Method { get; set; } = TnefAttachMethod.ByValue;
        }

        /// <summary>Analyses one TNEF attachment as an archive member; false when the walk of this TNEF must stop.</summary>
        private bool TnefMember(TnefAttachment attachment, string name, string mimePath, int archiveDepth, int mimeDepth)
        {
            if (!CountMember(name, mimePath)) return false;
            var fileName = Sanitize(attachment.LongName) ?? Sanitize(attachment.Title);
            var memberName = $"{name}/{(fileName is null ? $"attachment {attachment.Index}" : LastSegment(fileName))}";
            if (attachment.Data is not { } data) return true; // a link or an OLE object without data: nothing to scan
            if (attachment.Method == TnefAttachMethod.EmbeddedMessage && attachment.IsObject)
            {
                // An attached message: a TNEF stream again, after the 16-byte interface id of the object.
                if (mimeDepth + 1 >= limits.MaxMimeDepth)
                {
                    MimeDepthExceeded(memberName, mimePath);
                    return true;
                }
                Tnef(data.AsMemory(Math.Min(16, data.Length)), memberName, mimePath, archiveDepth, mimeDepth + 1);
                return !_unpackedExceeded;
            }
            var memberFileName = fileName is null ? null : LastSegment(fileName);
            Member(data, memberName, mimePath, memberFileName, data.Length, archiveDepth, mimeDepth);
            return !_unpackedExceeded;
        }

        /// <summary>
        /// Analyses an Outlook .msg (an MS-CFB compound file) as a message one MIME level deeper than
        /// <paramref name="mimeDepth"/>: its bodies as text parts, its attachments as archive members, attached
        /// messages recursively. <paramref name="claimsToBeMessage"/>: named *.msg or typed as one, so that a compound
        /// file that is not a message (a Word document) is a finding only then.
        /// </summary>
        private void Outlook(ReadOnlyMemory<byte> content, string name, string mimePath, int archiveDepth, int mimeDepth, bool claimsToBeMessage)
        {
            if (mimeDepth + 1 >= limits.MaxMimeDepth)
            {
                MimeDepthExceeded(name, mimePath);
                return;
            }
            try
            {
                // The directory costs an object per 128-byte entry: taken like the bytes it was read from.
                if (!TryTake(content.Length, countsAgainstMessage: true, "outlook", name, mimePath)) return;
                var file = CompoundFile.Open(content, MaxCompoundFileEntries);
                if (!OutlookMessage.IsMessage(file, file.Root))
                {
                    if (claimsToBeMessage) Finding("outlook: could not be analysed: a compound file without message properties", name, mimePath);
                    return;
                }
                OutlookStorage(file, file.Root, name, mimePath, archiveDepth, mimeDepth + 1);
            }
            catch (CompoundFileException e)
            {
                // A damaged compound file that does not claim to be a message (a Word document) is left to clamd.
                if (claimsToBeMessage) Finding($"outlook: could not be analysed: corrupt ({e.Message})", name, mimePath);
            }
        }

        private void OutlookStorage(CompoundFile file, CompoundFileEntry storage, string name, string mimePath, int archiveDepth, int mimeDepth)
        {
            var message = new OutlookMessage(file, storage);
            foreach (var body in message.Bodies())
            {
                if (!TryTake(4 * body.Stream.Size, countsAgainstMessage: true, "outlook", $"{name}/{body.Name}", mimePath)) return;
                Body(name, mimePath, body.Name, body.Encoding.GetString(file.Read(body.Stream)).TrimEnd('\0'), body.IsHtml, archiveDepth, mimeDepth);
            }
            if (message.CompressedRtf() is { } rtf)
            {
                if (!TryTake(rtf.Size, countsAgainstMessage: true, "outlook", $"{name}/body.rtf", mimePath)) return;
                RtfBody(name, mimePath, file.Read(rtf), archiveDepth);
            }
            var index = 0;
            foreach (var attachment in message.Attachments())
            {
                if (!CountMember(name, mimePath)) return;
                index++;
                var fileName = Sanitize(attachment.FileName) is { } named ? LastSegment(named) : null;
                var memberName = $"{name}/{fileName ?? $"attachment {index}"}";
                if (attachment.Embedded is { } embedded)
                {
                    if (mimeDepth + 1 >= limits.MaxMimeDepth)
                    {
                        MimeDepthExceeded(memberName, mimePath);
                        continue;
                    }
                    if (OutlookMessage.IsMessage(file, embedded)) OutlookStorage(file, embedded, memberName, mimePath, archiveDepth, mimeDepth + 1);
                    else OleObject(file, embedded, memberName, mimePath, archiveDepth, mimeDepth + 1);
                }
                else if (attachment.Data is { } stream)
                {
                    if (!TryTake(stream.Size, countsAgainstMessage: true, "outlook", memberName, mimePath)) return;
                    var data = file.Read(stream);
                    Member(data, memberName, mimePath, fileName, data.Length, archiveDepth, mimeDepth);
                }
                if (_unpackedExceeded || _membersExceeded) return;
            }
        }

        /// <summary>
        /// An OLE object embedded in a .msg (a document, or a package wrapping any file): its streams are analysed as
        /// members (no file names: the EICAR and filetype rules apply, and clamd reads the object itself), storages
        /// inside it one level deeper.
        /// </summary>
        private void OleObject(CompoundFile file, CompoundFileEntry storage, string name, string mimePath, int archiveDepth, int mimeDepth)
        {
            foreach (var entry in file.Children(storage))
            {
                if (!CountMember(name, mimePath)) return;
                var memberName = $"{name}/{Sanitize(entry.Name) ?? "stream"}";
                if (entry.IsStorage)
                {
                    if (mimeDepth + 1 >= limits.MaxMimeDepth) MimeDepthExceeded(memberName, mimePath);
                    else OleObject(file, entry, memberName, mimePath, archiveDepth, mimeDepth + 1);
                    continue;
                }
                if (!TryTake(entry.Size, countsAgainstMessage: true, "outlook", memberName, mimePath)) return;
                var data = file.Read(entry);
                Member(data, memberName, mimePath, null, data.Length, archiveDepth, mimeDepth);
                if (_unpackedExceeded) return;
            }
        }

        /// <summary>
        /// The RTF body of a TNEF or .msg, decompressed with MimeKit's <see cref="RtfCompressedToRtf"/> (MS-OXRTFCP) and
        /// analysed as a text/rtf part. That format cannot expand more than 8 times (a 2-byte reference yields at most
        /// 17 bytes, 8 of them per control byte), but MimeKit sizes its buffer from the size the header declares: a
        /// header that declares more than the format can give is a finding, and is never handed to MimeKit.
        /// </summary>
        private void RtfBody(string container, string mimePath, byte[] compressed, int archiveDepth)
        {
            var partName = $"{container}/body.rtf";
            var declared = compressed.Length >= 16 ? BitConverter.ToInt32(compressed, 4) : -1;
            var most = 8L * compressed.Length + 4096;
            if (declared < 0 || declared > most)
            {
                Finding($"rtf: could not be analysed: corrupt (the compressed body declares {declared} bytes from {compressed.Length})", partName, mimePath);
                return;
            }
            // MimeKit's output buffer (at most the input plus the declared size's distance from it), and our copy.
            if (!TryTake(2 * (compressed.Length + most), countsAgainstMessage: true, "rtf", partName, mimePath)) return;
            ReadOnlyMemory<byte> content;
            try
            {
                var output = new RtfCompressedToRtf().Flush(compressed, 0, compressed.Length, out var index, out var length);
                content = output.AsSpan(index, length).ToArray();
            }
            catch (Exception e) when (e is ArgumentException or IndexOutOfRangeException or OverflowException or InvalidOperationException or FormatException)
            {
                Finding($"rtf: could not be analysed: corrupt ({e.Message})", partName, mimePath);
                return;
            }
            _parts.Add(new AnalyzedPart(partName, mimePath, null, "text/rtf", PartSource.ArchiveMember,
                IsAttachment: false, declared, content.Length, content, null, archiveDepth));
        }

        /// <summary>A body found inside a container, analysed as a text part of it (the HTML rules for HTML, encoded blocks for text).</summary>
        private void Body(string container, string mimePath, string bodyName, string text, bool html, int archiveDepth, int mimeDepth)
        {
            var partName = $"{container}/{bodyName}";
            var content = new ReadOnlyMemory<byte>(Encoding.UTF8.GetBytes(text));
            _parts.Add(new AnalyzedPart(partName, mimePath, null, html ? "text/html" : "text/plain", PartSource.ArchiveMember,
                IsAttachment: false, null, content.Length, content, null, archiveDepth, html ? text : null));
            if (!html && EncodedBlocks.MayContain(content.Span)) Blocks(content, partName, mimePath, archiveDepth, mimeDepth);
        }
    }
}
