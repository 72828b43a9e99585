using MailScanner.Actors.Identity;

namespace MailScanner.Actors.Queue;

/// <summary>
/// How a claimed file is named in the gateway's work area: <c>&lt;identity key&gt;.&lt;queue id&gt;</c>. The identity says
/// which file it is; the queue id is the name it goes back under if it is handed back, which for most MTAs cannot be
/// worked out from the file (Postfix's ids carry the time of arrival).
/// </summary>
public static class WorkArea
{
    public static string EntryName(FileIdentity identity, string queueId) => $"{identity.Key}.{queueId}";

    /// <summary>
    /// Reads an entry name. A bare identity key (claims left by versions that knew only ZMailer, whose queue id is the
    /// inode number) has no queue id: <paramref name="queueId"/> is then null.
    /// </summary>
    public static bool TryParse(string name, out FileIdentity identity, out string? queueId)
    {
        var dot = name.IndexOf('.', StringComparison.Ordinal);
        queueId = dot < 0 ? null : name[(dot + 1)..];
        return FileIdentity.TryParse(dot < 0 ? name : name[..dot], out identity) && queueId is null or { Length: > 0 };
    }
}
