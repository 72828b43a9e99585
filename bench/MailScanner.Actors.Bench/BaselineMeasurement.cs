using System.Diagnostics;
using System.Globalization;
using MailScanner.Actors.Identity;

namespace MailScanner.Actors.Bench;

internal sealed record BaselineResult(int Messages, TimeSpan Elapsed, DeliveryCheck Check)
{
    public double MessagesPerSecond => Messages / Elapsed.TotalSeconds;
}

/// <summary>
/// (a) The floor any queue-directory gateway stands on: one thread, per message only the unavoidable work —
/// read the queued file, write a temp file in outgoing, fsync it, rename it to its inode number, unlink the
/// original. No scanning, no parsing, no directory fsync. The gateway has to beat this by overlapping I/O.
/// </summary>
internal sealed class BaselineMeasurement(BenchWorkspace workspace, Func<int, QueueMessage> messageFor, int count)
{
    public async Task<BaselineResult> RunAsync(CancellationToken cancel)
    {
        var area = workspace.NewArea("baseline");
        var incoming = Directory.CreateDirectory(Path.Combine(area, "incoming")).FullName;
        var outgoing = Directory.CreateDirectory(Path.Combine(area, "outgoing")).FullName;
        try
        {
            var backlog = Backlog.Write(incoming, count, messageFor, cancel);
            Console.WriteLine($"  backlog: {backlog.Describe()}");

            var elapsed = await Task.Run(() => MoveAll(incoming, outgoing, cancel), cancel);

            var check = DeliveryCheck.Run(count, outgoing, [incoming]);
            if (!check.ExactlyOnce) throw new BenchFailure($"baseline loop itself is wrong: {check.Describe()}");
            return new BaselineResult(count, elapsed, check);
        }
        finally
        {
            workspace.Release(area);
        }
    }

    private static TimeSpan MoveAll(string incoming, string outgoing, CancellationToken cancel)
    {
        var pid = Environment.ProcessId;
        var buffer = new byte[256 * 1024];
        long n = 0;
        var clock = Stopwatch.StartNew();

        foreach (var path in QueueDirectory.QueueFiles(incoming).ToList())
        {
            cancel.ThrowIfCancellationRequested();

            int length;
            using (var input = File.OpenHandle(path, FileMode.Open, FileAccess.Read))
            {
                var size = RandomAccess.GetLength(input);
                if (size > buffer.Length) buffer = new byte[size];
                length = ReadFully(input, buffer.AsSpan(0, (int)size));
            }

            var temp = Path.Combine(outgoing, string.Create(CultureInfo.InvariantCulture, $"tf-{pid}-{++n}"));
            ulong inode;
            using (var output = NativeFile.CreateExclusive(temp))
            {
                RandomAccess.Write(output, buffer.AsSpan(0, length), 0);
                NativeFile.Sync(output);
                inode = NativeFile.Stat(output).Inode;
            }
            var final = Path.Combine(outgoing, inode.ToString(CultureInfo.InvariantCulture));
            if (NativeFile.TryRenameNoReplace(temp, final) != RenameOutcome.Renamed)
                throw new BenchFailure($"baseline: could not rename {temp} to {final}");

            File.Delete(path);
        }
        return clock.Elapsed;
    }

    private static int ReadFully(Microsoft.Win32.SafeHandles.SafeFileHandle handle, Span<byte> into)
    {
        var total = 0;
        while (total < into.Length)
        {
            var read = RandomAccess.Read(handle, into[total..], total);
            if (read == 0) break;
            total += read;
        }
        return total;
    }
}
