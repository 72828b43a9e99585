using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace MailScanner.Actors.Queue.Postfix;

/// <summary>
/// The libc calls .NET lacks for writing into a Postfix queue: fchown (queue files must belong to the mail_owner,
/// or qmgr stops with "Permission denied") and getpwnam_r (the mail_owner's uid and gid).
/// </summary>
internal static partial class PostfixLibc
{
    private const int ERANGE = 34, EINTR = 4;

    /// <summary>struct passwd of glibc on 64-bit Linux: name, passwd, uid, gid, gecos, dir, shell.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct Passwd
    {
        public IntPtr Name;
        public IntPtr Password;
        public uint Uid;
        public uint Gid;
        public IntPtr Gecos;
        public IntPtr Directory;
        public IntPtr Shell;
    }

    [LibraryImport("libc", EntryPoint = "fchown", SetLastError = true)]
    private static partial int FChown(SafeFileHandle fd, uint owner, uint group);

    [LibraryImport("libc", EntryPoint = "getpwnam_r", StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int GetPwNamR(string name, out Passwd entry, byte* buffer, nuint bufferLength, out IntPtr result);

    public static void ChangeOwner(SafeFileHandle handle, uint uid, uint gid, string what)
    {
        while (FChown(handle, uid, gid) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno != EINTR) throw new IOException($"fchown {uid}:{gid} failed on {what}: {Identity.NativeFile.Describe(errno)} (errno {errno})", errno);
        }
    }

    /// <summary>The uid and gid of user <paramref name="name"/>, or null when there is no such user.</summary>
    public static unsafe (uint Uid, uint Gid)? LookUpUser(string name)
    {
        for (var size = 1024; size <= 1 << 20; size *= 4)
        {
            var buffer = new byte[size];
            int error;
            Passwd entry;
            IntPtr result;
            fixed (byte* start = buffer) error = GetPwNamR(name, out entry, start, (nuint)size, out result);
            if (error == ERANGE) continue;
            if (error != 0) throw new IOException($"getpwnam_r({name}) failed: {Identity.NativeFile.Describe(error)} (errno {error})", error);
            return result == IntPtr.Zero ? null : (entry.Uid, entry.Gid);
        }
        throw new IOException($"getpwnam_r({name}): the entry does not fit in 1 MiB");
    }
}
