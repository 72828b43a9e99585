using System.Text;

namespace MailScanner.Actors.Scanning.Outlook;

/// <summary>A body of an Outlook message: the stream that holds it and how its bytes are text.</summary>
/// <param name="IsHtml">PR_HTML / PR_BODY_HTML rather than PR_BODY.</param>
/// <param name="Encoding">UTF-16LE for PT_UNICODE properties; Latin-1 for PT_STRING8 and PT_BINARY (the message's
/// code page is not looked up: the rules look for ASCII markers, tags and links, which every code page keeps).</param>
public sealed record OutlookBody(string Name, bool IsHtml, CompoundFileEntry Stream, Encoding Encoding);

/// <summary>
/// An attachment of an Outlook message: a file (<paramref name="Data"/>), or a storage (<paramref name="Embedded"/>)
/// that is an attached message or an embedded OLE object (<see cref="OutlookMessage.IsMessage"/> tells which).
/// </summary>
/// <param name="FileName">PR_ATTACH_LONG_FILENAME, else PR_ATTACH_FILENAME, else PR_DISPLAY_NAME; null when none is there.</param>
public sealed record OutlookAttachment(string Storage, string? FileName, CompoundFileEntry? Data, CompoundFileEntry? Embedded);

/// <summary>
/// The little of MS-OXMSG a scanner needs, over a <see cref="CompoundFile"/>: a message storage's plain and HTML
/// bodies and its attachments (<c>__attach_version1.0_#XXXXXXXX</c> storages with their data stream
/// <c>__substg1.0_37010102</c> or an attached message in the storage <c>__substg1.0_3701000D</c>, which is a message
/// storage again). Properties are named streams (<c>__substg1.0_</c> + property id + type, in hex), so nothing of the
/// property stream is needed. Recipients and named properties are not read.
/// </summary>
public sealed class OutlookMessage
{
    private const string Substorage = "__substg1.0_";
    private const string AttachmentPrefix = "__attach_version1.0_#";

    /// <summary>The longest file name read from its stream; longer names are cut (a name stream could be huge).</summary>
    private const int MaxNameBytes = 2048;

    private readonly CompoundFile _file;
    private readonly IReadOnlyList<CompoundFileEntry> _children;

    public OutlookMessage(CompoundFile file, CompoundFileEntry storage)
    {
        _file = file;
        _children = file.Children(storage);
    }

    /// <summary>
    /// Whether a storage is an Outlook message: it holds the property stream or property substreams. The root of a
    /// .msg is one; an attachment's <c>__substg1.0_3701000D</c> storage is one for an attached message and is not for
    /// an embedded OLE object (a document or package, the object's own streams).
    /// </summary>
    public static bool IsMessage(CompoundFile file, CompoundFileEntry storage) =>
        file.Children(storage).Any(e => e.Name is "__properties_version1.0" || e.Name.StartsWith(Substorage, StringComparison.OrdinalIgnoreCase));

    /// <summary>The plain and HTML bodies present (PR_BODY 1000001F/1000001E, PR_HTML 10130102, PR_BODY_HTML 1013001F/1013001E).</summary>
    public IEnumerable<OutlookBody> Bodies()
    {
        foreach (var (id, isHtml, name) in new[] { ("1000", false, "body.txt"), ("1013", true, "body.html") })
        {
            foreach (var (type, encoding) in new[] { ("001F", Encoding.Unicode), ("001E", Encoding.Latin1), ("0102", Encoding.Latin1) })
            {
                if (Stream(Substorage + id + type) is { } stream)
                {
                    yield return new OutlookBody(name, isHtml, stream, encoding);
                    break;
                }
            }
        }
    }

    /// <summary>PR_RTF_COMPRESSED (10090102): the RTF body, compressed as MS-OXRTFCP describes; null when there is none.</summary>
    public CompoundFileEntry? CompressedRtf() => Stream(Substorage + "10090102");

    /// <summary>The attachments, in storage order.</summary>
    public IEnumerable<OutlookAttachment> Attachments()
    {
        foreach (var storage in _children.Where(e => e.Type == CompoundFileEntryType.Storage && e.Name.StartsWith(AttachmentPrefix, StringComparison.OrdinalIgnoreCase)))
        {
            var attachment = _file.Children(storage);
            yield return new OutlookAttachment(storage.Name, FileName(attachment),
                Find(attachment, Substorage + "37010102", CompoundFileEntryType.Stream),
                Find(attachment, Substorage + "3701000D", CompoundFileEntryType.Storage));
        }
    }

    private string? FileName(IReadOnlyList<CompoundFileEntry> attachment)
    {
        foreach (var id in new[] { "3707", "3704", "3001" })
        {
            if (Find(attachment, Substorage + id + "001F", CompoundFileEntryType.Stream) is { } unicode) return Text(unicode, Encoding.Unicode);
            if (Find(attachment, Substorage + id + "001E", CompoundFileEntryType.Stream) is { } ansi) return Text(ansi, Encoding.Latin1);
        }
        return null;
    }

    private string? Text(CompoundFileEntry stream, Encoding encoding)
    {
        var text = encoding.GetString(_file.Read(stream, MaxNameBytes)).TrimEnd('\0');
        return string.IsNullOrWhiteSpace(text) ? null : text;
    }

    private CompoundFileEntry? Stream(string name) => Find(_children, name, CompoundFileEntryType.Stream);

    private static CompoundFileEntry? Find(IReadOnlyList<CompoundFileEntry> entries, string name, CompoundFileEntryType type) =>
        entries.FirstOrDefault(e => e.Type == type && string.Equals(e.Name, name, StringComparison.OrdinalIgnoreCase));
}
