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
    /// How a companion file of the entry claimed as <paramref name="identity"/> is named: <c>&lt;identity key&gt;+&lt;its name&gt;</c>.
    /// A '+' is never part of an identity key, so no companion is ever read as a claim.
    /// </summary>
    public static string CompanionEntryName(FileIdentity identity, string companionName) => $"{identity.Key}+{companionName}";

    /// <summary>The identity key of the claim a companion entry belongs to; false for any other name.</summary>
    public static bool TryParseCompanion(string name, out FileIdentity identity)
    {
        var plus = name.IndexOf('+', StringComparison.Ordinal);
        identity = default;
        return plus > 0 && plus < name.Length - 1 && FileIdentity.TryParse(name[..plus], out identity);
    }

    /// <summary>The companion files in <paramref name="workDirectory"/>, with the claim each belongs to.</summary>
    public static IReadOnlyList<(string Path, FileIdentity Claim)> CompanionsIn(string workDirectory)
    {
        var companions = new List<(string, FileIdentity)>();
        foreach (var path in Directory.EnumerateFiles(workDirectory))
        {
            if (TryParseCompanion(Path.GetFileName(path), out var identity)) companions.Add((path, identity));
        }
        return companions;
    }

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
