using System.Text;
using MailScanner.Actors.Configuration;
using MailScanner.Actors.Identity;
using MailScanner.Actors.Queue.ZMailer;
using MailScanner.Actors.Tests.TestSupport;

namespace MailScanner.Actors.Tests.Pipeline;

/// <summary>
/// A gateway's directories on a real file system (ext4 or tmpfs), with an MTA stand-in that writes queue
/// files the way ZMailer does, and readers for what ended up where.
/// </summary>
public sealed class GatewayTestbed : IDisposable
{
    private readonly TempDirectory _root;

    public GatewayTestbed(string fileSystem = TempDirectory.Ext4)
    {
        _root = new TempDirectory(fileSystem);
        Incoming = Create("router");
        Outgoing = Create("outgoing");
        Work = Create("work");
        Bad = Create("bad");
        Quarantine = Create("quarantine");
        State = Create("state");
    }

    public string Incoming { get; }
    public string Outgoing { get; }
    public string Work { get; }
    public string Bad { get; }
    public string Quarantine { get; }
    public string State { get; }

    public GatewaySettings Settings(int coordinators = 5, int maxInFlight = 2000, int maxMessages = 30,
        int deleteRepeats = 1, TimeSpan stageJitter = default) =>
        new(new QueueSettings("zmailer", Incoming, Outgoing, Work, Bad, TimeSpan.FromMilliseconds(200), maxInFlight),
            new QuarantineSettings(Quarantine),
            new BatchSettings(coordinators, maxMessages, 50L * 1024 * 1024, TimeSpan.FromMilliseconds(20), deleteRepeats, stageJitter),
            State);

    /// <summary>Writes a message into the incoming queue as ZMailer would: temp, fsync, rename to its inode number.</summary>
    public (string Path, FileIdentity Identity) Enqueue(string body, string sender = "alice@example.org", params string[] recipients)
    {
        var envelope = new Envelope(sender, recipients.Length == 0 ? new[] { "bob@example.com" } : recipients, "mx.example.org [192.0.2.1]", Array.Empty<string>());
        var message = Encoding.UTF8.GetBytes($"From: {sender}\r\nTo: bob@example.com\r\nSubject: test\r\n\r\n{body}\r\n");
        return ZMailerQueueWriter.WriteDurably(Incoming, ZMailerQueueFile.Format(envelope, message));
    }

    /// <summary>Where a MessageActor claims a ZMailer file of this identity into the work area.</summary>
    public string WorkPathOf(FileIdentity identity) => Path.Combine(Work, MailScanner.Actors.Queue.WorkArea.EntryName(identity, MailScanner.Actors.Queue.ZMailerFormat.FileNameFor(identity)));

    /// <summary>A message already claimed into the work area, as a run that died left it.</summary>
    public (string WorkPath, FileIdentity Identity) EnqueueClaimed(string body)
    {
        var (incomingPath, identity) = Enqueue(body);
        var workPath = WorkPathOf(identity);
        if (NativeFile.TryRenameNoReplace(incomingPath, workPath) != RenameOutcome.Renamed)
            throw new InvalidOperationException($"could not claim {incomingPath} into {workPath}");
        return (workPath, identity);
    }

    /// <summary>Puts arbitrary bytes into the incoming queue under the file's own inode number.</summary>
    public (string Path, FileIdentity Identity) EnqueueRaw(byte[] content) => ZMailerQueueWriter.WriteDurably(Incoming, content);

    /// <summary>
    /// A backlog queued before the gateway starts: each file complete under a temp name, then renamed to its inode
    /// number, as ZMailer does, but without the fsyncs (thousands of them would only time the disk; no crash is
    /// simulated here). Returns the path of each file, in order.
    /// </summary>
    public IReadOnlyList<string> EnqueueBacklog(IEnumerable<byte[]> queueFiles)
    {
        var paths = new List<string>();
        var temp = Path.Combine(Incoming, $"tf-backlog-{Environment.ProcessId}");
        foreach (var content in queueFiles)
        {
            FileIdentity identity;
            using (var handle = NativeFile.CreateExclusive(temp))
            {
                RandomAccess.Write(handle, content, fileOffset: 0);
                identity = NativeFile.GetIdentity(handle);
            }
            var path = Path.Combine(Incoming, identity.Inode.ToString(System.Globalization.CultureInfo.InvariantCulture));
            if (NativeFile.TryRenameNoReplace(temp, path) != RenameOutcome.Renamed)
                throw new IOException($"cannot rename {temp} to {path}");
            paths.Add(path);
        }
        return paths;
    }

    public static IEnumerable<string> QueueFiles(string directory) =>
        Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories)
            .Where(path => ZMailerQueueFile.IsQueueFileName(Path.GetFileName(path)) || FileIdentity.TryParse(Path.GetFileName(path), out _));

    public static IEnumerable<string> AllEntries(string directory) =>
        Directory.EnumerateFileSystemEntries(directory, "*", SearchOption.AllDirectories);

    private string Create(string name)
    {
        var path = Path.Combine(_root.Path, name);
        Directory.CreateDirectory(path);
        return path;
    }

    public void Dispose() => _root.Dispose();
}
