using System.Diagnostics;

namespace MailScanner.Actors.Bench;

/// <summary>What was queued for one measurement: enough to find the oldest file and to check delivery.</summary>
internal sealed record Backlog(int Count, long Bytes, string OldestFile, TimeSpan WriteTime)
{
    /// <summary>
    /// Queues <paramref name="count"/> messages (sequence numbers <paramref name="first"/>..first+count-1) as complete
    /// ZMailer files, then one syncfs so the gateway does not pay for our write-back.
    /// </summary>
    public static Backlog Write(string incoming, int count, Func<int, QueueMessage> messageFor, CancellationToken cancel, int first = 0)
    {
        var clock = Stopwatch.StartNew();
        var writer = new ZMailerQueueWriter(incoming, durable: false);
        string? oldest = null;
        long bytes = 0;
        for (var seq = first; seq < first + count; seq++)
        {
            cancel.ThrowIfCancellationRequested();
            var message = messageFor(seq);
            var path = writer.Write(message);
            oldest ??= path;
            bytes += message.Content.Length;
        }
        writer.SyncFileSystem();
        return new Backlog(count, bytes, oldest!, clock.Elapsed);
    }

    public string Describe() => $"{Count} files, {Bytes / 1048576.0:F1} MB, written in {WriteTime.TotalSeconds:F1} s";
}
