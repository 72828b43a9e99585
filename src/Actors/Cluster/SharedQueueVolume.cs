using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using MailScanner.Actors.Configuration;
using MailScanner.Actors.Identity;

namespace MailScanner.Actors.Cluster;

/// <summary>
/// The id of a shared queue's file system, kept on it: <c>.mailscanner-queue-id</c> in the work area, written once by
/// the first node that starts and read by every other. Clustered, a file's identity is (this id, inode, generation)
/// instead of (device, inode, generation): the inode and the generation live in the file system itself and every
/// machine that mounts it reads the same ones, while a device number is this machine's own.
/// </summary>
/// <remarks>
/// The work area (and with it the incoming queue and the bad directory, which must share its file system) is what the
/// nodes share, so the id is stored there; the name starts with a dot, which no claim's name does.
/// </remarks>
public static class SharedQueueVolume
{
    public const string FileName = ".mailscanner-queue-id";

    /// <summary>Reads the id (creating it if no node did yet) and names the work area's file system by it, process-wide.</summary>
    public static ulong Establish(string workDirectory)
    {
        var id = ReadOrCreate(workDirectory);
        NativeFile.NameVolume(workDirectory, id);
        return id;
    }

    internal static ulong ReadOrCreate(string workDirectory)
    {
        var path = Path.Combine(workDirectory, FileName);
        if (TryRead(path) is { } existing) return existing;
        // Written under a temp name and renamed without replacing: when nodes start together, one id wins and all read it.
        var temp = Path.Combine(workDirectory, $"{FileName}.{Guid.NewGuid():N}");
        using (var handle = NativeFile.CreateExclusive(temp, 0b110_100_100))
        {
            RandomAccess.Write(handle, Encoding.ASCII.GetBytes(Spelled(NewId()) + "\n"), 0);
            NativeFile.Sync(handle);
        }
        if (NativeFile.TryRenameNoReplace(temp, path) != RenameOutcome.Renamed) File.Delete(temp);
        NativeFile.SyncDirectory(workDirectory);
        return TryRead(path) ?? throw new ConfigurationException(path, "the shared queue's id was written but cannot be read back");
    }

    private static ulong? TryRead(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path).Trim();
        }
        catch (FileNotFoundException)
        {
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ConfigurationException(path, $"the shared queue's id cannot be read: {e.Message}", e);
        }
        return ulong.TryParse(text, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var id) && text.Length == 16
            ? id
            : throw new ConfigurationException(path, $"is not a shared queue id (16 hex digits; got '{text}'): restore it from another node or remove it while every node is stopped and the work area is empty");
    }

    /// <summary>Random, with the top bit set: never a real device number (major and minor are far smaller), so never mistaken for one.</summary>
    private static ulong NewId() => BitConverter.ToUInt64(RandomNumberGenerator.GetBytes(8)) | (1UL << 63);

    private static string Spelled(ulong id) => id.ToString("x16", CultureInfo.InvariantCulture);
}
