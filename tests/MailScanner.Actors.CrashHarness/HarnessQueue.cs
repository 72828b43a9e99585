using System.Globalization;
using System.Text;
using System.Text.Json;
using MailScanner.Actors.Queue.Postfix;

namespace MailScanner.Actors.CrashHarness;

/// <summary>
/// The MTA's side of one queue format: where the gateway reads and writes, the configuration lines that say so, how
/// the producer queues a message as the MTA would, and how a queue file's message is found again for the census.
/// </summary>
public abstract class HarnessQueue
{
    public const string ZMailer = "zmailer";
    public const string Postfix = "postfix";

    public static IReadOnlyList<string> Formats { get; } = [ZMailer, Postfix];

    /// <summary>The queues of <paramref name="format"/> under <paramref name="spool"/>.</summary>
    /// <exception cref="ArgumentException">An unknown format.</exception>
    public static HarnessQueue For(string format, string spool) => format switch
    {
        ZMailer => new ZMailerQueue(spool),
        Postfix => new PostfixQueue(spool),
        _ => throw new ArgumentException($"unknown queue format '{format}' (known: {string.Join(", ", Formats)})", nameof(format)),
    };

    public abstract string Format { get; }

    /// <summary>What the gateway reads (the MTA writes there).</summary>
    public abstract string Incoming { get; }

    /// <summary>What the gateway delivers into.</summary>
    public abstract string Outgoing { get; }

    public virtual void Create()
    {
        Directory.CreateDirectory(Incoming);
        Directory.CreateDirectory(Outgoing);
    }

    /// <summary>The <c>mailscanner.queue</c> lines for this format (besides work and bad).</summary>
    public virtual string Hocon() =>
        $"mailscanner.queue.format = {Format}\nmailscanner.queue.incoming = {Quote(Incoming)}\nmailscanner.queue.outgoing = {Quote(Outgoing)}\n";

    /// <summary>Queues message <paramref name="seq"/> durably and completely, as the MTA would.</summary>
    public abstract void Write(int seq, int infectedEvery);

    /// <summary>Whether an entry of the outgoing queue is a queue file (anything else is somebody's temp file).</summary>
    public abstract bool IsQueueName(string name);

    /// <summary>The RFC 5322 message in a queue file of this format (or in a quarantined copy of one); null when it is not one.</summary>
    public abstract ReadOnlyMemory<byte>? MessageOf(byte[] queueFile);

    protected static string Quote(string path) => JsonSerializer.Serialize(path);

    /// <summary>ZMailer (DESIGN.md §3): temp file in router/, write, fsync, rename to its own inode number without replacing.</summary>
    private sealed class ZMailerQueue(string spool) : HarnessQueue
    {
        public override string Format => ZMailer;
        public override string Incoming => Path.Combine(spool, "router");
        public override string Outgoing => Path.Combine(spool, "outgoing");

        public override void Write(int seq, int infectedEvery)
        {
            var temp = Path.Combine(Incoming, string.Create(CultureInfo.InvariantCulture, $"tf-harness-{seq}"));
            using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                file.Write(HarnessMessage.Create(seq, infectedEvery));
                file.Flush(flushToDisk: true);
            }
            Libc.RenameNoReplace(temp, Path.Combine(Incoming, Libc.Inode(temp).ToString(CultureInfo.InvariantCulture)));
        }

        public override bool IsQueueName(string name) => name.Length > 0 && name.All(char.IsAsciiDigit);

        public override ReadOnlyMemory<byte>? MessageOf(byte[] queueFile) => queueFile;
    }

    /// <summary>
    /// Postfix as MailScanner sets it up: the gateway reads hold/ and writes incoming/ of one queue directory. The
    /// producer plays Postfix's cleanup putting a message on hold (the library's writer: records, temp name, mode
    /// 0700, fsync, rename to a short queue id carrying the inode). No Postfix runs: nothing takes the delivered files
    /// out of incoming/, and qmgr's trigger socket is missing (the gateway says so once).
    /// </summary>
    private sealed class PostfixQueue(string spool) : HarnessQueue
    {
        private PostfixMailQueue? _cleanup;

        public override string Format => Postfix;
        private PostfixQueueLayout Layout => new(Path.Combine(spool, "postfix"), MailOwner: MailOwner);
        public override string Incoming => Layout.HoldDirectory;
        public override string Outgoing => Layout.IncomingDirectory;

        /// <summary>Postfix's mail_owner when this machine has one (the gateway gives its files to it), else root.</summary>
        private static string MailOwner => File.ReadLines("/etc/passwd").Any(line => line.StartsWith("postfix:", StringComparison.Ordinal)) ? "postfix" : "root";

        public override string Hocon() =>
            base.Hocon() + $"mailscanner.queue.postfix.mail-owner = {MailOwner}\nmailscanner.queue.postfix.long-queue-ids = no\n";

        public override void Write(int seq, int infectedEvery)
        {
            _cleanup ??= new PostfixMailQueue(Layout);
            var (sender, recipient, message) = HarnessMessage.Parts(seq, infectedEvery);
            var envelope = new PostfixEnvelope(PostfixArrivalTime.From(DateTimeOffset.UtcNow), sender, [new PostfixRecipient(recipient, recipient)], [], []);
            _cleanup.Enter(PostfixQueueFileWriter.Format(envelope, message), PostfixQueueLayout.Hold);
        }

        public override bool IsQueueName(string name) => PostfixQueueId.IsValid(name);

        public override ReadOnlyMemory<byte>? MessageOf(byte[] queueFile) =>
            PostfixQueueFileReader.Read(queueFile) is PostfixQueueFileRead.Complete complete ? complete.File.Message : null;
    }
}
