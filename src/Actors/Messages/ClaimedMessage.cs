using MailScanner.Actors.Identity;
using MailScanner.Actors.Queue;
using Microsoft.Win32.SafeHandles;
using static MailScanner.Actors.Messages.MessageCommands;

namespace MailScanner.Actors.Messages;

/// <summary>
/// A queue file this gateway has claimed into its work area, read once: which file it is, where it came from and
/// lies now, and what it holds. Immutable; <see cref="Handle"/> keeps the file open, so that its inode number cannot
/// be given to another file until it is deleted (see <see cref="QueueFileOperations"/>).
/// </summary>
/// <param name="QueueId">The name it had in the incoming queue.</param>
/// <param name="IncomingPath">Where it goes back to when it is handed back.</param>
/// <param name="Content">The whole (primary) queue file as read: the MTA's envelope and the message.</param>
public sealed record ClaimedMessage(FileIdentity Identity, string QueueId, string IncomingPath, string WorkPath, SafeFileHandle Handle, byte[] Content)
{
    /// <summary>The entry's companion files (Exim's <c>-D</c>), claimed with it; none for one-file formats.</summary>
    public IReadOnlyList<CompanionFile> Companions { get; init; } = [];

    /// <summary>The file as its queue format reads it; null until it is parsed (<see cref="MessageClaim"/>).</summary>
    public QueueFileParse.Parsed? Parsed { get; init; }

    public QueueEnvelope Envelope => Parsed?.Envelope ?? new QueueEnvelope("", Array.Empty<string>());

    public long Size => Content.Length + Companions.Sum(c => (long)c.Content.Length);

    /// <summary>The RFC 5322 message, without the MTA's envelope.</summary>
    public ReadOnlyMemory<byte> Message => Parsed?.Message ?? ReadOnlyMemory<byte>.Empty;
}

/// <summary>A companion file of a claimed entry: where it goes back to, where it lies in the work area, and what it held.</summary>
public sealed record CompanionFile(string IncomingPath, string WorkPath, byte[] Content);

/// <summary>How a MessageActor comes to hold its file: claimed from the incoming queue, or taken over from the work area.</summary>
public abstract record ClaimResult
{
    /// <summary>Ours and parsed.</summary>
    public sealed record Claimed(ClaimedMessage Message) : ClaimResult;

    /// <summary>Ours, but not a queue file we can process: it is to be moved aside.</summary>
    public sealed record Malformed(ClaimedMessage File, string Reason) : ClaimResult;

    /// <summary>Not ours (gone, claimed by another worker, now a newer file): nothing was touched.</summary>
    public sealed record Gone(string Why) : ClaimResult;

    /// <summary>Cannot be read; left in place.</summary>
    public sealed record Unreadable(string Why) : ClaimResult;
}

/// <summary>The file work of taking a message on: each step checks the identity it was given before it acts.</summary>
internal static class MessageClaim
{
    /// <summary>Claims the file named in <paramref name="admit"/> into the work area, if it still carries that identity.</summary>
    public static ClaimResult Claim(Admit admit, string workDirectory, IQueueFormat format)
    {
        var workPath = Path.Combine(workDirectory, WorkArea.EntryName(admit.Identity, Path.GetFileName(admit.IncomingPath)));
        ClaimOutcome outcome;
        try
        {
            outcome = QueueFileOperations.Claim(admit.Identity, admit.IncomingPath, workPath, format);
        }
        catch (IOException e)
        {
            outcome = new ClaimOutcome.Unreadable(e.Message);
        }
        return outcome switch
        {
            ClaimOutcome.Claimed claimed => Parse(
                new ClaimedMessage(admit.Identity, Path.GetFileName(admit.IncomingPath), admit.IncomingPath, workPath, claimed.Handle, claimed.Content)
                    { Companions = claimed.Companions },
                format, nameMustMatch: true),
            ClaimOutcome.Gone gone => new ClaimResult.Gone(gone.Why),
            ClaimOutcome.Unreadable unreadable => new ClaimResult.Unreadable(unreadable.Why),
            _ => throw new InvalidOperationException($"unknown claim outcome {outcome}"),
        };
    }

    /// <summary>
    /// A claim left in the work area by an earlier run (or still ours while the watcher restarted): taken over if the
    /// entry there is still this identity. A companion not in the work area is where a crash between the moves of a
    /// claim or a hand-back left it, in the incoming queue: it is fetched (while our primary is claimed, no entry of the
    /// MTA's can have its name). One found nowhere makes the entry malformed; it is moved aside with what is left.
    /// </summary>
    public static ClaimResult TakeOver(Recover recover, IQueueFormat format)
    {
        var opened = NativeFile.TryOpenRegularForReading(recover.WorkPath, out var handle, out var identity);
        if (opened != OpenOutcome.Opened) return new ClaimResult.Gone("nothing left in the work area to recover");
        if (identity != recover.Identity)
        {
            handle!.Dispose();
            return new ClaimResult.Gone("the work area entry is not this file");
        }
        var companions = new List<CompanionFile>();
        var missing = new List<string>();
        foreach (var incomingPath in format.CompanionPathsOf(recover.IncomingPath))
        {
            var workPath = QueueFileOperations.CompanionWorkPath(recover.WorkPath, recover.Identity, incomingPath);
            if (NativeFile.TryLStat(workPath) is null && NativeFile.TryLStat(incomingPath) is not null)
                NativeFile.TryRenameNoReplace(incomingPath, workPath);
            if (NativeFile.TryOpenRegularForReading(workPath, out var companion) != OpenOutcome.Opened)
            {
                missing.Add(Path.GetFileName(incomingPath));
                continue;
            }
            using (companion) companions.Add(new CompanionFile(incomingPath, workPath, QueueFileOperations.ReadAll(companion!)));
        }
        var file = new ClaimedMessage(recover.Identity, Path.GetFileName(recover.IncomingPath), recover.IncomingPath, recover.WorkPath,
            handle!, QueueFileOperations.ReadAll(handle!)) { Companions = companions };
        if (missing.Count > 0)
            return new ClaimResult.Malformed(file, $"its companion file(s) {string.Join(", ", missing)} are neither in the work area nor in the incoming queue");
        // The name in the incoming queue was checked when the file was first claimed.
        return Parse(file, format, nameMustMatch: false);
    }

    /// <summary>Reads the envelope; a file that is not a queue file of <paramref name="format"/> is Malformed, never an exception.</summary>
    private static ClaimResult Parse(ClaimedMessage file, IQueueFormat format, bool nameMustMatch)
    {
        if (nameMustMatch && !format.NameMatches(file.QueueId, file.Identity))
            return new ClaimResult.Malformed(file, $"its name {file.QueueId} does not carry its inode number {file.Identity.Inode}");
        QueueFileParse parse;
        try
        {
            parse = format.ParseEntry(new QueueEntryContent(file.Content, file.Companions.Select(c => (ReadOnlyMemory<byte>)c.Content).ToList()));
        }
        catch (Exception e)
        {
            // A parser bug must not turn into a crash loop: the same bytes would fail the same way every time.
            parse = new QueueFileParse.Malformed($"the queue file parser failed: {e.GetType().Name}: {e.Message}");
        }
        return parse switch
        {
            QueueFileParse.Parsed parsed => new ClaimResult.Claimed(file with { Parsed = parsed }),
            QueueFileParse.Malformed malformed => new ClaimResult.Malformed(file, malformed.Reason),
            _ => throw new InvalidOperationException($"unknown parse result {parse}"),
        };
    }
}
