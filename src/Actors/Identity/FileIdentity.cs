using System.Globalization;

namespace MailScanner.Actors.Identity;

/// <summary>
/// What a queue file *is*, as opposed to what it is called. A name (and on ZMailer, Postfix and qmail even
/// the inode number) is handed to the next new file the moment the old one is unlinked; the generation is not.
/// Every command in the pipeline is addressed by this triple, never by a path.
/// </summary>
public readonly record struct FileIdentity(ulong Device, ulong Inode, ulong Generation)
{
    /// <summary>A stable, file-name-safe spelling, used for the entity id and for names in the work area.</summary>
    public string Key => string.Create(CultureInfo.InvariantCulture, $"{Device:x}-{Inode}-{Generation:x}");

    public override string ToString() => Key;

    public static bool TryParse(string key, out FileIdentity identity)
    {
        identity = default;
        var parts = key.Split('-');
        if (parts.Length != 3) return false;
        if (!ulong.TryParse(parts[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var device)) return false;
        if (!ulong.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var inode)) return false;
        if (!ulong.TryParse(parts[2], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var generation)) return false;
        var parsed = new FileIdentity(device, inode, generation);
        // Only the canonical spelling parses: " 1-2-3" or "01-2-3" would be a second key for the same file.
        if (parsed.Key != key) return false;
        identity = parsed;
        return true;
    }
}

/// <summary>Where a file system let us read the generation part of an identity from.</summary>
public enum GenerationSource
{
    /// <summary>ioctl FS_IOC_GETVERSION: ext4, xfs, btrfs. Random per inode life; the strongest source.</summary>
    InodeVersion,
    /// <summary>A hash of the name_to_handle_at file handle, which embeds the generation on tmpfs.</summary>
    FileHandle,
    /// <summary>Birth time in nanoseconds: the last resort (overlayfs and friends); weaker, logged at start-up.</summary>
    BirthTime,
}
