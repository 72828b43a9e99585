using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace MailScanner.Actors.Identity;

/// <summary>Directory calls the quarantine needs: an exclusive mkdir and an advisory lock that dies with its process.</summary>
public static partial class NativeFile
{
    private const int LockExclusive = 2, LockNonBlocking = 4, EWOULDBLOCK = 11, EINTR = 4;

    [LibraryImport("libc", EntryPoint = "mkdir", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int MkDir(string path, int mode);

    [LibraryImport("libc", EntryPoint = "flock", SetLastError = true)]
    private static partial int Flock(SafeFileHandle fd, int operation);

    /// <summary>mkdir(2) that fails when anything already has the name (unlike <see cref="Directory.CreateDirectory(string)"/>).</summary>
    /// <returns>False when the name is taken.</returns>
    public static bool TryCreateDirectoryExclusive(string path, int mode = 0b111_000_000)
    {
        if (MkDir(path, mode) == 0) return true;
        var errno = Marshal.GetLastPInvokeError();
        if (errno == EEXIST) return false;
        throw Failure(errno, "mkdir", path);
    }

    /// <summary>
    /// flock(LOCK_EX | LOCK_NB) on an open file or directory. The kernel drops the lock when the descriptor is
    /// closed or the process dies, so a crash never leaves a stale lock behind.
    /// </summary>
    /// <returns>False when another open descriptor (in this or another process) holds the lock.</returns>
    public static bool TryLockExclusive(SafeFileHandle handle)
    {
        while (true)
        {
            if (Flock(handle, LockExclusive | LockNonBlocking) == 0) return true;
            var errno = Marshal.GetLastPInvokeError();
            if (errno == EWOULDBLOCK) return false;
            if (errno != EINTR) throw Failure(errno, "flock", "descriptor");
        }
    }
}
