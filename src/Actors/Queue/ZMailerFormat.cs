using System.Globalization;
using MailScanner.Actors.Identity;
using MailScanner.Actors.Queue.ZMailer;

namespace MailScanner.Actors.Queue;

/// <summary>ZMailer's router queue: one file per message, named by its own inode number in decimal.</summary>
public sealed class ZMailerFormat : IQueueFormat, IOutgoingQueueRules
{
    public static readonly ZMailerFormat Instance = new();

    public string Name => "zmailer";

    public bool IsQueueFileName(string name) => ZMailerQueueFile.IsQueueFileName(name);

    public bool NameMatches(string name, FileIdentity identity) => name == FileNameFor(identity);

    public QueueFileParse Parse(ReadOnlyMemory<byte> content) => ZMailerQueueFile.Parse(content.Span) switch
    {
        ZMailerParseResult.Parsed parsed => new QueueFileParse.Parsed(
            new QueueEnvelope(parsed.Envelope.Sender, parsed.Envelope.Recipients), content, content[parsed.MessageOffset..]),
        ZMailerParseResult.Malformed malformed => new QueueFileParse.Malformed(malformed.Reason),
        _ => new QueueFileParse.Malformed("unrecognised parse result"),
    };

    /// <summary>The envelope lines up to and including <c>env-end</c> are kept byte for byte.</summary>
    public OutgoingEntry ComposeOutgoing(QueueFileParse.Parsed claimed, ReadOnlySpan<byte> message)
    {
        var envelope = claimed.Original.Span[..(claimed.Original.Length - claimed.Message.Length)];
        var outgoing = new byte[envelope.Length + message.Length];
        envelope.CopyTo(outgoing);
        message.CopyTo(outgoing.AsSpan(envelope.Length));
        return OutgoingEntry.OneFile(outgoing);
    }

    public IOutgoingQueueRules Outgoing => this;

    /// <summary>ZMailer names a queue file by its inode number; nothing else is needed, and ZMailer's router finds it by scanning.</summary>
    public string FinalNameFor(FileIdentity staged) => FileNameFor(staged);

    /// <summary>As the router queue is written: temp file, fsync, rename to its inode number (ZMailerQueueWriter).</summary>
    public string WriteIncomingEntry(string incomingDirectory, QueueEnvelope envelope, ReadOnlySpan<byte> message) =>
        FileNameFor(ZMailerQueueWriter.WriteDurably(incomingDirectory, ZMailerQueueFile.Format(new Envelope(envelope.Sender, envelope.Recipients, null, []), message)).Identity);

    public static string FileNameFor(FileIdentity file) => file.Inode.ToString(CultureInfo.InvariantCulture);
}
