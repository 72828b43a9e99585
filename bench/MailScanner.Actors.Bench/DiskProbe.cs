using System.Diagnostics;
using System.Globalization;
using MailScanner.Actors.Identity;

namespace MailScanner.Actors.Bench;

/// <summary>
/// How fast the disk under the scratch directory answers fsync right now. Every figure here is bounded by it,
/// and on a shared machine it can swing tenfold between runs, so it is printed before and after the measurements:
/// a ratio b/a is only meaningful when the two probes agree.
/// </summary>
internal static class DiskProbe
{
    public static double FsyncMedianMs(string directory, int rounds = 100)
    {
        var payload = new byte[4096];
        var times = new double[rounds];
        for (var i = 0; i < rounds; i++)
        {
            var path = Path.Combine(directory, string.Create(CultureInfo.InvariantCulture, $"probe-{i}"));
            using (var handle = NativeFile.CreateExclusive(path))
            {
                RandomAccess.Write(handle, payload, 0);
                var start = Stopwatch.GetTimestamp();
                NativeFile.Sync(handle);
                times[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            }
            File.Delete(path);
        }
        Array.Sort(times);
        return times[rounds / 2];
    }
}
