using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace MailScanner.Actors.Queue.Exim;

/// <summary>
/// Exim's lock on a message: an <c>fcntl</c> write lock on the first line of its <c>-D</c> file, held by whichever Exim
/// process works on the message (the one receiving it, until it has written both files; a delivery). We take an
/// open-file-description read lock on the whole file: it conflicts with Exim's lock both ways, is tied to our open
/// handle (not to the process, so threads and other handles of ours do not disturb it) and ends when the handle closes.
/// </summary>
internal static partial class EximDataFileLock
{
    private const int FOfdSetLk = 37, FRdLck = 0, SeekSet = 0, EAGAIN = 11, EACCES = 13, EINTR = 4;

    /// <summary>struct flock on 64-bit Linux: l_type, l_whence, l_start, l_len, l_pid.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct Flock
    {
        public short Type;
        public short Whence;
        public long Start;
        public long Length;
        public int Pid;
    }

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static partial int Fcntl(SafeFileHandle fd, int command, ref Flock flock);

    /// <summary>False when an Exim process holds its lock on the file.</summary>
    public static bool TryLock(SafeFileHandle handle)
    {
        var flock = new Flock { Type = FRdLck, Whence = SeekSet, Start = 0, Length = 0, Pid = 0 };
        while (true)
        {
            if (Fcntl(handle, FOfdSetLk, ref flock) == 0) return true;
            var errno = Marshal.GetLastPInvokeError();
            if (errno is EAGAIN or EACCES) return false;
            if (errno != EINTR) throw new IOException($"fcntl(F_OFD_SETLK) failed: {Identity.NativeFile.Describe(errno)} (errno {errno})", errno);
        }
    }
}
