using System.Runtime.InteropServices;

namespace MailScanner.Actors.CrashHarness;

/// <summary>
/// The three system calls the harness needs and .NET does not offer. Its own, so that the harness shares no code
/// with the gateway it judges.
/// </summary>
internal static partial class Libc
{
    private const int AtFdCwd = -100;
    private const uint StatxIno = 0x100;
    private const uint NoReplace = 1;
    private const int StatxSize = 256;
    private const int StatxInoOffset = 32; // struct statx: mask, blksize, attributes, nlink, uid, gid, mode, pad, ino

    public const int SigTerm = 15;

    /// <summary>The inode number of a file (statx, not following a final symlink).</summary>
    public static unsafe ulong Inode(string path)
    {
        var buffer = stackalloc byte[StatxSize];
        if (Statx(AtFdCwd, path, 0x100 /* AT_SYMLINK_NOFOLLOW */, StatxIno, buffer) != 0)
            throw new IOException($"statx {path}: errno {Marshal.GetLastPInvokeError()}");
        return *(ulong*)(buffer + StatxInoOffset);
    }

    /// <summary>rename(2) that fails instead of replacing an existing target (File.Move checks and renames non-atomically).</summary>
    public static void RenameNoReplace(string from, string to)
    {
        if (Renameat2(AtFdCwd, from, AtFdCwd, to, NoReplace) != 0)
            throw new IOException($"renameat2 {from} -> {to}: errno {Marshal.GetLastPInvokeError()}");
    }

    public static bool Signal(int pid, int signal) => Kill(pid, signal) == 0;

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int Statx(int dirfd, string path, int flags, uint mask, byte* buffer);

    [LibraryImport("libc", EntryPoint = "renameat2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Renameat2(int olddirfd, string oldpath, int newdirfd, string newpath, uint flags);

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
