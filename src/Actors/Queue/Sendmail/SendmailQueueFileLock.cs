using System.Runtime.InteropServices;
using MailScanner.Actors.Queue.Exim;
using Microsoft.Win32.SafeHandles;

namespace MailScanner.Actors.Queue.Sendmail;

/// <summary>
/// Sendmail's lock on a message: the process receiving or delivering it holds an exclusive lock on its <c>qf</c> file
/// (its <c>lockfile()</c>, <c>flock</c> or <c>fcntl</c> as it was built). We take a shared lock of both kinds, non-blocking:
/// either fails while sendmail holds its own, and while we hold them sendmail's queue runs skip the file as locked.
/// Both end when the handle closes.
/// </summary>
internal static partial class SendmailQueueFileLock
{
    private const int LockShared = 1, LockNonBlocking = 4, EWOULDBLOCK = 11, EINTR = 4;

    [LibraryImport("libc", EntryPoint = "flock", SetLastError = true)]
    private static partial int Flock(SafeFileHandle fd, int operation);

    /// <summary>False when a sendmail process holds its lock on the file.</summary>
    public static bool TryLock(SafeFileHandle handle)
    {
        while (Flock(handle, LockShared | LockNonBlocking) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno == EWOULDBLOCK) return false;
            if (errno != EINTR) throw new IOException($"flock failed: {Identity.NativeFile.Describe(errno)} (errno {errno})", errno);
        }
        return EximDataFileLock.TryLock(handle);
    }
}
