using System.Globalization;
using MailScanner.Actors.Identity;
using MailScanner.Actors.Queue.ZMailer;

namespace MailScanner.Actors.Queue;

/// <summary>ZMailer's router queue: one file per message, named by its own inode number in decimal.</summary>
public sealed class ZMailerFormat : IQueueFormat
{
    public static readonly ZMailerFormat Instance = new();

    public string Name => "zmailer";

    public bool IsQueueFileName(string name) => ZMailerQueueFile.IsQueueFileName(name);

    public bool NameMatches(string name, FileIdentity identity) =>
        name == identity.Inode.ToString(CultureInfo.InvariantCulture);

    public QueueFileParse Parse(ReadOnlySpan<byte> content) => ZMailerQueueFile.Parse(content) switch
    {
        ZMailerParseResult.Parsed parsed => new QueueFileParse.Parsed(
            new QueueEnvelope(parsed.Envelope.Sender, parsed.Envelope.Recipients), parsed.MessageOffset),
        ZMailerParseResult.Malformed malformed => new QueueFileParse.Malformed(malformed.Reason),
        _ => new QueueFileParse.Malformed("unrecognised parse result"),
    };

    /// <summary>The envelope lines up to and including <c>env-end</c> are kept byte for byte.</summary>
    public byte[] ComposeOutgoing(ReadOnlySpan<byte> claimedFile, int messageOffset, QueueEnvelope envelope, ReadOnlySpan<byte> message)
    {
        var outgoing = new byte[messageOffset + message.Length];
        claimedFile[..messageOffset].CopyTo(outgoing);
        message.CopyTo(outgoing.AsSpan(messageOffset));
        return outgoing;
    }

    public string FileNameFor(FileIdentity writtenFile) => writtenFile.Inode.ToString(CultureInfo.InvariantCulture);
}
