namespace MailScanner.Actors.Tests.TestSupport;

/// <summary>A fresh directory under a chosen mount (ext4 at /tmp, tmpfs at /dev/shm), removed with everything in it.</summary>
public sealed class TempDirectory : IDisposable
{
    public const string Ext4 = "/tmp";
    public const string Tmpfs = "/dev/shm";

    public TempDirectory(string under = Ext4)
    {
        Path = System.IO.Path.Combine(under, $"mailscanner-specs-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public IEnumerable<string> EntryNames() => Directory.EnumerateFileSystemEntries(Path).Select(System.IO.Path.GetFileName)!;

    public void Dispose() => Directory.Delete(Path, recursive: true);
}
