using System.Runtime.InteropServices;

namespace MailScanner.Actors.Tests.TestSupport;

/// <summary>Directory entries that are not regular files, for specs about what must never be opened as a queue file.</summary>
public static partial class SpecialFiles
{
    /// <summary>Makes a FIFO (owner read/write) at <paramref name="path"/>; .NET has no API for it.</summary>
    public static void MakeFifo(string path)
    {
        if (MkFifo(path, 0b110_000_000) != 0)
            throw new IOException($"mkfifo {path} failed: {Marshal.GetLastPInvokeErrorMessage()}");
    }

    [LibraryImport("libc", EntryPoint = "mkfifo", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int MkFifo(string path, uint mode);
}
