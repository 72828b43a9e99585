using System.ComponentModel;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace MailScanner.Actors.Identity;

/// <summary>
/// The few libc calls .NET does not offer: statx for (device, inode), FS_IOC_GETVERSION for the generation,
/// renameat2(RENAME_NOREPLACE) for an atomic claim, syncfs for a durability barrier shared by many files.
/// Everything else stays with System.IO.
/// </summary>
public static partial class NativeFile
{
    private const int AtFdCwd = -100;
    private const int AtSymlinkNoFollow = 0x100;
    private const int AtEmptyPath = 0x1000;
    private const uint StatxBasicStats = 0x7ff;
    private const uint StatxBirthTime = 0x800;
    private const uint RenameNoReplace = 1;
    private const ulong FsIocGetVersion = 0x80087601;

    private const int ORdOnly = 0, OWrOnly = 1, OCreat = 0x40, OExcl = 0x80, ONonBlock = 0x800,
        ODirectory = 0x10000, ONoFollow = 0x20000, OCloExec = 0x80000;

    private const int ENOENT = 2, ENXIO = 6, EEXIST = 17, EXDEV = 18, ENOTTY = 25, ELOOP = 40, EOPNOTSUPP = 95, ENOSYS = 38, EINVAL = 22;

    [StructLayout(LayoutKind.Explicit, Size = 256)]
    private struct Statx
    {
        [FieldOffset(0)] public uint Mask;
        [FieldOffset(28)] public ushort Mode;
        [FieldOffset(32)] public ulong Inode;
        [FieldOffset(40)] public ulong Size;
        [FieldOffset(80)] public long BirthSeconds;
        [FieldOffset(88)] public uint BirthNanoseconds;
        [FieldOffset(112)] public long ModifiedSeconds;
        [FieldOffset(120)] public uint ModifiedNanoseconds;
        [FieldOffset(136)] public uint DeviceMajor;
        [FieldOffset(140)] public uint DeviceMinor;
    }

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int StatxCall(int dirFd, string path, int flags, uint mask, out Statx buffer);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static partial int IoctlGetVersion(SafeFileHandle fd, ulong request, out int version);

    [LibraryImport("libc", EntryPoint = "name_to_handle_at", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int NameToHandleAt(SafeFileHandle fd, string path, byte* handle, out int mountId, int flags);

    [LibraryImport("libc", EntryPoint = "renameat2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int RenameAt2(int oldDirFd, string oldPath, int newDirFd, string newPath, uint flags);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags, int mode);

    [LibraryImport("libc", EntryPoint = "syncfs", SetLastError = true)]
    private static partial int SyncFs(SafeFileHandle fd);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(SafeFileHandle fd);

    /// <summary>lstat: what the entry itself is. Null when nothing is there.</summary>
    public static FileStatus? TryLStat(string path)
    {
        if (StatxCall(AtFdCwd, path, AtSymlinkNoFollow, StatxBasicStats, out var stx) == 0) return ToStatus(stx);
        var errno = Marshal.GetLastPInvokeError();
        if (errno == ENOENT) return null;
        throw Failure(errno, "lstat", path);
    }

    /// <summary>fstat of an open descriptor.</summary>
    public static FileStatus Stat(SafeFileHandle handle)
    {
        var stx = StatxOf(handle, StatxBasicStats);
        return ToStatus(stx);
    }

    /// <summary>
    /// Opens an existing regular file for reading without following a symlink and without blocking on a FIFO
    /// (O_NOFOLLOW | O_NONBLOCK), then checks on the descriptor that it really is a regular file.
    /// </summary>
    public static OpenOutcome TryOpenRegularForReading(string path, out SafeFileHandle? handle) =>
        TryOpenRegularForReading(path, out handle, out _, withIdentity: false);

    /// <summary>
    /// As <see cref="TryOpenRegularForReading(string, out SafeFileHandle?)"/>, with the identity of what was opened:
    /// the one statx that checks the kind also gives the device, inode and birth time, so that taking the identity of
    /// every queue file (the watcher at admission, the MessageActor at its claim) costs one system call less each.
    /// </summary>
    public static OpenOutcome TryOpenRegularForReading(string path, out SafeFileHandle? handle, out FileIdentity identity) =>
        TryOpenRegularForReading(path, out handle, out identity, withIdentity: true);

    private static OpenOutcome TryOpenRegularForReading(string path, out SafeFileHandle? handle, out FileIdentity identity, bool withIdentity)
    {
        handle = null;
        identity = default;
        var fd = Open(path, ORdOnly | ONoFollow | ONonBlock | OCloExec, 0);
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            return errno switch
            {
                ENOENT => OpenOutcome.Missing,
                // O_NOFOLLOW on a symlink gives ELOOP; opening a Unix socket gives ENXIO. Neither is a queue file.
                ELOOP or ENXIO => OpenOutcome.NotRegular,
                _ => OpenOutcome.Failed(errno, Describe(errno)),
            };
        }
        var opened = new SafeFileHandle(fd, ownsHandle: true);
        try
        {
            var stx = StatxOf(opened, withIdentity ? StatxBasicStats | StatxBirthTime : StatxBasicStats);
            if (ToStatus(stx).Kind != FileKind.Regular)
            {
                opened.Dispose();
                return OpenOutcome.NotRegular;
            }
            if (withIdentity) identity = IdentityOf(opened, stx, out _);
        }
        catch
        {
            opened.Dispose();
            throw;
        }
        handle = opened;
        return OpenOutcome.Opened;
    }

    /// <summary>Creates a new file that must not exist yet (O_CREAT | O_EXCL), owner read/write only.</summary>
    public static SafeFileHandle CreateExclusive(string path, int mode = 0b110_000_000) =>
        TryCreateExclusive(path, mode) ?? throw Failure(EEXIST, "create", path);

    /// <summary>As <see cref="CreateExclusive"/>; null when something of that name exists already.</summary>
    public static SafeFileHandle? TryCreateExclusive(string path, int mode = 0b110_000_000)
    {
        var fd = Open(path, OWrOnly | OCreat | OExcl | ONoFollow | OCloExec, mode);
        if (fd >= 0) return new SafeFileHandle(fd, ownsHandle: true);
        var errno = Marshal.GetLastPInvokeError();
        return errno == EEXIST ? null : throw Failure(errno, "create", path);
    }

    /// <summary>The identity of the file behind an open descriptor, and where its generation came from.</summary>
    public static FileIdentity GetIdentity(SafeFileHandle handle) => GetIdentity(handle, out _);

    public static FileIdentity GetIdentity(SafeFileHandle handle, out GenerationSource source) =>
        IdentityOf(handle, StatxOf(handle, StatxBasicStats | StatxBirthTime), out source);

    /// <param name="stx">The descriptor's statx, birth time included.</param>
    private static unsafe FileIdentity IdentityOf(SafeFileHandle handle, in Statx stx, out GenerationSource source)
    {
        var device = VolumeOf(stx);

        if (IoctlGetVersion(handle, FsIocGetVersion, out var version) == 0)
        {
            source = GenerationSource.InodeVersion;
            return new FileIdentity(device, stx.Inode, (uint)version);
        }
        var ioctlErrno = Marshal.GetLastPInvokeError();
        if (ioctlErrno is not (ENOTTY or EOPNOTSUPP or EINVAL or ENOSYS)) throw Failure(ioctlErrno, "FS_IOC_GETVERSION", "descriptor");

        // struct file_handle { u32 handle_bytes; s32 handle_type; u8 f_handle[]; } with MAX_HANDLE_SZ = 128.
        const int maxHandle = 128;
        var buffer = stackalloc byte[8 + maxHandle];
        *(uint*)buffer = maxHandle;
        if (NameToHandleAt(handle, "", buffer, out _, AtEmptyPath) == 0)
        {
            var length = (int)*(uint*)buffer;
            source = GenerationSource.FileHandle;
            return new FileIdentity(device, stx.Inode, Fnv1a(new ReadOnlySpan<byte>(buffer + 4, 4 + length)));
        }

        source = GenerationSource.BirthTime;
        return new FileIdentity(device, stx.Inode, ((ulong)stx.BirthSeconds * 1_000_000_000UL) + stx.BirthNanoseconds);
    }

    /// <summary>Identity of the file at a path (not following a symlink), or null when nothing regular is there.</summary>
    public static FileIdentity? TryGetIdentity(string path)
    {
        var outcome = TryOpenRegularForReading(path, out var handle, out var identity);
        if (outcome != OpenOutcome.Opened) return null;
        handle!.Dispose();
        return identity;
    }

    /// <summary>rename(2) that fails instead of replacing: the only atomic way to claim a queue file.</summary>
    public static RenameOutcome TryRenameNoReplace(string from, string to)
    {
        if (RenameAt2(AtFdCwd, from, AtFdCwd, to, RenameNoReplace) == 0) return RenameOutcome.Renamed;
        var errno = Marshal.GetLastPInvokeError();
        return errno switch
        {
            ENOENT => RenameOutcome.SourceMissing,
            EEXIST => RenameOutcome.TargetExists,
            EXDEV => throw Failure(errno, "rename across file systems", $"{from} -> {to}"),
            _ => throw Failure(errno, "rename", $"{from} -> {to}"),
        };
    }

    /// <summary>Flushes every dirty page and inode of the file system holding the directory: one barrier for many files.</summary>
    public static void SyncFileSystem(SafeFileHandle anyHandleOnIt)
    {
        if (SyncFs(anyHandleOnIt) != 0) throw Failure(Marshal.GetLastPInvokeError(), "syncfs", "file system");
    }

    public static void Sync(SafeFileHandle handle)
    {
        if (Fsync(handle) != 0) throw Failure(Marshal.GetLastPInvokeError(), "fsync", "file");
    }

    /// <summary>Opens a directory for fsync/syncfs.</summary>
    public static SafeFileHandle OpenDirectory(string path)
    {
        var fd = Open(path, ORdOnly | ODirectory | OCloExec, 0);
        if (fd < 0) throw Failure(Marshal.GetLastPInvokeError(), "open directory", path);
        return new SafeFileHandle(fd, ownsHandle: true);
    }

    public static void SyncDirectory(string path)
    {
        using var handle = OpenDirectory(path);
        Sync(handle);
    }

    /// <summary>The device number of the file system a path lives on (following symlinks for the path itself).</summary>
    public static ulong DeviceOf(string path)
    {
        if (StatxCall(AtFdCwd, path, 0, StatxBasicStats, out var stx) != 0) throw Failure(Marshal.GetLastPInvokeError(), "stat", path);
        return VolumeOf(stx);
    }

    /// <summary>Local device numbers that stand for a volume every node of a cluster names alike (see <see cref="NameVolume"/>).</summary>
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<ulong, ulong> VolumeNames = new();

    /// <summary>
    /// From now on, files on the file system whose local device number is that of <paramref name="pathOnIt"/> report
    /// <paramref name="volumeId"/> as their device, in identities and in statuses alike. A device number is local to
    /// one machine (two machines mounting one file system see different ones); a clustered gateway names its shared
    /// queue's file system by an id kept on it (<see cref="Cluster.SharedQueueVolume"/>), so that a file's identity
    /// is the same on every node. Process-wide, so set once at start-up, before any identity is taken.
    /// </summary>
    public static void NameVolume(string pathOnIt, ulong volumeId)
    {
        if (StatxCall(AtFdCwd, pathOnIt, 0, StatxBasicStats, out var stx) != 0) throw Failure(Marshal.GetLastPInvokeError(), "stat", pathOnIt);
        VolumeNames[((ulong)stx.DeviceMajor << 32) | stx.DeviceMinor] = volumeId;
    }

    private static ulong VolumeOf(in Statx stx)
    {
        var device = ((ulong)stx.DeviceMajor << 32) | stx.DeviceMinor;
        return !VolumeNames.IsEmpty && VolumeNames.TryGetValue(device, out var named) ? named : device;
    }

    private static Statx StatxOf(SafeFileHandle handle, uint mask)
    {
        var fd = (int)handle.DangerousGetHandle();
        if (StatxCall(fd, "", AtEmptyPath | AtSymlinkNoFollow, mask, out var stx) != 0)
            throw Failure(Marshal.GetLastPInvokeError(), "fstat", "descriptor");
        GC.KeepAlive(handle);
        return stx;
    }

    private static FileStatus ToStatus(in Statx stx)
    {
        var kind = (stx.Mode & 0xF000) switch
        {
            0x8000 => FileKind.Regular,
            0x4000 => FileKind.Directory,
            0xA000 => FileKind.Symlink,
            0x1000 => FileKind.Fifo,
            0xC000 => FileKind.Socket,
            0x2000 => FileKind.CharacterDevice,
            0x6000 => FileKind.BlockDevice,
            _ => FileKind.Unknown,
        };
        var modified = DateTime.UnixEpoch.AddTicks((stx.ModifiedSeconds * TimeSpan.TicksPerSecond) + (stx.ModifiedNanoseconds / 100));
        var device = VolumeOf(stx);
        return new FileStatus(kind, device, stx.Inode, (long)stx.Size, modified, stx.Mode & 0xFFFu);
    }

    private static ulong Fnv1a(ReadOnlySpan<byte> bytes)
    {
        var hash = 14695981039346656037UL;
        foreach (var b in bytes) hash = (hash ^ b) * 1099511628211UL;
        return hash;
    }

    internal static string Describe(int errno) => new Win32Exception(errno).Message;

    private static IOException Failure(int errno, string operation, string what) =>
        new($"{operation} failed on {what}: {Describe(errno)} (errno {errno})", errno);
}

public enum RenameOutcome { Renamed, SourceMissing, TargetExists }

/// <summary>Result of opening a queue file: opened, gone, not a regular file, or an error worth a log line.</summary>
public sealed record OpenOutcome(string Kind, int Errno = 0, string Reason = "")
{
    public static readonly OpenOutcome Opened = new("opened");
    public static readonly OpenOutcome Missing = new("missing");
    public static readonly OpenOutcome NotRegular = new("not a regular file");
    public static OpenOutcome Failed(int errno, string reason) => new("failed", errno, reason);
}
