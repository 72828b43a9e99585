using System.Collections.Concurrent;
using System.Text;

namespace MailScanner.Actors.Tests.TestSupport;

/// <summary>
/// A fresh directory on a chosen kind of file system, removed with everything in it. Specs that count on what a file
/// system does (ext4 hands a freed inode number to the next new file and has inode generations; tmpfs numbers inodes
/// from a counter that never goes back and answers the generation ioctl with ENOTTY) name the file system, and get a
/// directory that the mount table says is on one, wherever that is on this machine.
/// </summary>
public sealed class TempDirectory : IDisposable
{
    public const string Ext4 = "ext4";
    public const string Tmpfs = "tmpfs";

    /// <summary>Where to look, in order: the usual temp directories, then the test binaries' own (inside the repository).</summary>
    private static readonly Dictionary<string, string[]> Candidates = new()
    {
        [Ext4] = ["/tmp", "/var/tmp", System.IO.Path.GetTempPath(), AppContext.BaseDirectory],
        [Tmpfs] = ["/dev/shm", "/run/shm", "/tmp", System.IO.Path.GetTempPath()],
    };

    private static readonly ConcurrentDictionary<string, string> Found = new();

    public TempDirectory(string fileSystem = Ext4)
    {
        Path = System.IO.Path.Combine(On(fileSystem), $"mailscanner-specs-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public IEnumerable<string> EntryNames() => Directory.EnumerateFileSystemEntries(Path).Select(System.IO.Path.GetFileName)!;

    public void Dispose() => Directory.Delete(Path, recursive: true);

    /// <summary>
    /// A writable directory on a <paramref name="fileSystem"/> mount (<see cref="Ext4"/> or <see cref="Tmpfs"/>);
    /// throws, naming what each place is, when there is none.
    /// </summary>
    public static string On(string fileSystem) => Found.GetOrAdd(fileSystem, Find);

    private static string Find(string fileSystem)
    {
        if (!Candidates.TryGetValue(fileSystem, out var candidates))
            throw new ArgumentException($"no candidate directories for file system '{fileSystem}' (known: {string.Join(", ", Candidates.Keys)})", nameof(fileSystem));
        var mounts = Mounts();
        var seen = new List<string>();
        foreach (var candidate in candidates.Where(c => c.Length > 1 && Directory.Exists(c)).Select(c => System.IO.Path.GetFullPath(c).TrimEnd('/')).Distinct())
        {
            var type = TypeOf(candidate, mounts);
            seen.Add($"{candidate}: {type ?? "unknown"}");
            if (type == fileSystem && IsWritable(candidate)) return candidate;
        }
        throw new InvalidOperationException(
            $"These specs need a writable directory on {fileSystem} and found none ({string.Join("; ", seen)}). " +
            $"Mount one at one of: {string.Join(", ", candidates.Distinct())}.");
    }

    /// <summary>(mount point, file system type) from /proc/self/mountinfo, in mount order: a later mount hides an earlier one at the same point.</summary>
    private static List<(string MountPoint, string Type)> Mounts()
    {
        const string mountInfo = "/proc/self/mountinfo";
        if (!System.IO.File.Exists(mountInfo)) throw new InvalidOperationException($"{mountInfo} is missing: these specs need Linux");
        var mounts = new List<(string, string)>();
        foreach (var line in System.IO.File.ReadLines(mountInfo))
        {
            // "36 35 98:0 /root /mnt rw,noatime master:1 - ext4 /dev/root rw": the mount point is field 5, the type follows " - ".
            var fields = line.Split(' ');
            var separator = Array.IndexOf(fields, "-");
            if (fields.Length < 5 || separator < 0 || separator + 1 >= fields.Length) continue;
            mounts.Add((Unescape(fields[4]), fields[separator + 1]));
        }
        return mounts;
    }

    /// <summary>The type of the mount whose point is the longest prefix of <paramref name="path"/> (symbolic links resolved).</summary>
    private static string? TypeOf(string path, List<(string MountPoint, string Type)> mounts)
    {
        var real = new DirectoryInfo(path).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? path;
        string? type = null;
        var longest = -1;
        foreach (var (point, mountType) in mounts)
        {
            var contains = point == "/" || real == point || real.StartsWith(point + "/", StringComparison.Ordinal);
            if (contains && point.Length >= longest) (longest, type) = (point.Length, mountType);
        }
        return type;
    }

    /// <summary>mountinfo writes a space, tab, newline and backslash in a path as octal escapes (\040).</summary>
    private static string Unescape(string field)
    {
        if (!field.Contains('\\', StringComparison.Ordinal)) return field;
        var text = new StringBuilder(field.Length);
        for (var i = 0; i < field.Length; i++)
        {
            if (field[i] == '\\' && i + 3 < field.Length)
            {
                text.Append((char)Convert.ToInt32(field.Substring(i + 1, 3), 8));
                i += 3;
            }
            else text.Append(field[i]);
        }
        return text.ToString();
    }

    private static bool IsWritable(string directory)
    {
        var probe = System.IO.Path.Combine(directory, $"mailscanner-specs-probe-{Guid.NewGuid():N}");
        try
        {
            Directory.CreateDirectory(probe);
            Directory.Delete(probe);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }
}
