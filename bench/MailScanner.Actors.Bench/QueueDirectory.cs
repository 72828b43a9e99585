using System.IO.Enumeration;

namespace MailScanner.Actors.Bench;

/// <summary>Counting queue files by name only (no stat per entry): a poll of a 100,000-entry directory stays cheap.</summary>
internal static class QueueDirectory
{
    /// <summary>ZMailer queue files are named by their inode number; any other name is somebody's temp file.</summary>
    public static bool IsQueueName(ReadOnlySpan<char> name)
    {
        if (name.IsEmpty) return false;
        foreach (var c in name)
        {
            if (c is < '0' or > '9') return false;
        }
        return true;
    }

    public static int CountQueueFiles(string directory)
    {
        var entries = new FileSystemEnumerable<bool>(directory, static (ref FileSystemEntry _) => true)
        {
            ShouldIncludePredicate = static (ref FileSystemEntry entry) => IsQueueName(entry.FileName),
        };
        return entries.Count();
    }

    public static IEnumerable<string> QueueFiles(string directory) =>
        new FileSystemEnumerable<string>(directory, static (ref FileSystemEntry entry) => entry.ToFullPath())
        {
            ShouldIncludePredicate = static (ref FileSystemEntry entry) => !entry.IsDirectory && IsQueueName(entry.FileName),
        };

    /// <summary>
    /// The originals kept in quarantine: <c>&lt;day&gt;/&lt;id&gt;/queue-file</c>. An entry still being written
    /// lives under a dot-name and is not counted.
    /// </summary>
    public static IEnumerable<string> QuarantinedFiles(string quarantine) =>
        AllFiles(quarantine).Where(path => Path.GetFileName(path) == "queue-file" && !path.Contains("/.", StringComparison.Ordinal));

    /// <summary>
    /// The messages claimed in the work area: every file there but the shared queue's id, which a clustered gateway keeps
    /// in the work area for good (<c>.mailscanner-queue-id</c>).
    /// </summary>
    public static IEnumerable<string> Claims(string work) =>
        AllFiles(work).Where(path => !Path.GetFileName(path).StartsWith(".mailscanner-queue-id", StringComparison.Ordinal));

    /// <summary>Every regular file below a directory, whatever its name (quarantine and bad areas).</summary>
    public static IEnumerable<string> AllFiles(string directory) =>
        System.IO.Directory.Exists(directory)
            ? System.IO.Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories)
            : [];
}
