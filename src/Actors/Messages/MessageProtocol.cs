using MailScanner.Actors.Identity;
using MailScanner.Actors.Policy;
using MailScanner.Actors.Scanning;

namespace MailScanner.Actors.Messages;

/// <summary>Every command to a MessageActor carries the identity it is meant for; routing reads only this.</summary>
public interface IWithFileIdentity
{
    FileIdentity Identity { get; }
}

/// <summary>What the QueueWatcher and the BatchCoordinators ask of a MessageActor. Each may be sent any number of times.</summary>
public static class MessageCommands
{
    /// <summary>From the QueueWatcher: this identity was seen under this name; claim it.</summary>
    public sealed record Admit(FileIdentity Identity, string IncomingPath) : IWithFileIdentity;

    /// <summary>
    /// From the QueueWatcher when it starts: this identity was found claimed in the work area (by an earlier run, or
    /// while the watcher itself restarted). The MessageActor takes it over, or answers Admitted if it already holds it.
    /// </summary>
    public sealed record Recover(FileIdentity Identity, string WorkPath, string IncomingPath) : IWithFileIdentity;

    public sealed record Scan(FileIdentity Identity) : IWithFileIdentity;

    /// <summary>Act on the verdict: an infected message goes to quarantine, a clean one is marked for delivery.</summary>
    public sealed record Clean(FileIdentity Identity) : IWithFileIdentity;

    public sealed record Deliver(FileIdentity Identity) : IWithFileIdentity;

    /// <summary>Remove the original. Honoured once, only after the message is safely delivered or quarantined.</summary>
    public sealed record Delete(FileIdentity Identity) : IWithFileIdentity;

    /// <summary>
    /// From the QueueWatcher when the gateway stops and the grace period has passed: let go of the file now. Not yet
    /// being written, it goes back to the incoming queue untouched (answered <see cref="MessageReplies.HandedBack"/>);
    /// being written, the write is awaited; written, the original is deleted as a Delete would (answered
    /// <see cref="MessageReplies.Deleted"/>). A message is never handed back once its copies may be out.
    /// </summary>
    public sealed record LetGo(FileIdentity Identity) : IWithFileIdentity;
}

/// <summary>What a MessageActor answers. Every reply names the identity it speaks for.</summary>
public static class MessageReplies
{
    public sealed record Admitted(FileIdentity Identity, string QueueId, long Size) : IWithFileIdentity;

    /// <summary>The entry is not a message we can process; it was moved aside (or left in place) and logged.</summary>
    public sealed record Refused(FileIdentity Identity, string QueueId, string Reason) : IWithFileIdentity;

    public sealed record Scanned(FileIdentity Identity, Verdict Verdict) : IWithFileIdentity;

    /// <summary>The verdict's action under the message's policy, and the message as it will be delivered.</summary>
    public sealed record Cleaned(FileIdentity Identity, MessageAction Action) : IWithFileIdentity;

    /// <summary>
    /// The message is safely out of our hands: in the outgoing queue, in quarantine, or both (null where the
    /// action wrote nothing there; an action of Delete writes neither).
    /// </summary>
    public sealed record Delivered(FileIdentity Identity, MessageAction Action, string? OutgoingPath, string? QuarantinePath) : IWithFileIdentity;

    public sealed record Deleted(FileIdentity Identity) : IWithFileIdentity;

    /// <summary>Acknowledged without effect: the file is gone (already deleted, claimed elsewhere, or never ours).</summary>
    public sealed record Absorbed(FileIdentity Identity, string Command, string Why) : IWithFileIdentity;

    /// <summary>Refused for now: the step it depends on has not happened (a Delete before delivery). Nothing was touched.</summary>
    public sealed record NotReady(FileIdentity Identity, string Command, string Why) : IWithFileIdentity;

    /// <summary>
    /// Answer to LetGo: the message was not written; its file is back in the incoming queue untouched, or, when
    /// that rename failed, still claimed in the work area (<paramref name="InIncomingQueue"/> false), where the next
    /// start resumes it.
    /// </summary>
    public sealed record HandedBack(FileIdentity Identity, bool InIncomingQueue) : IWithFileIdentity;

    /// <summary>The step failed (I/O error); the original was handed back to the incoming queue to be retried.</summary>
    public sealed record Failed(FileIdentity Identity, string Command, string Reason) : IWithFileIdentity;
}
