using System.Diagnostics;
using System.Text.RegularExpressions;
using Akka.Event;
using Akka.TestKit.Xunit2;
using MailScanner.Actors.Hosting;
using MailScanner.Actors.Metrics;
using MailScanner.Actors.Tests.Pipeline;
using MailScanner.Actors.Tests.TestSupport;
using Xunit;

namespace MailScanner.Actors.Tests.Stopping;

/// <summary>
/// The outgoing queue on a real, full file system (a small tmpfs mounted for the test; the specs run as root): no
/// message is lost or half-written, the log says so once for the whole episode, and everything is delivered exactly
/// once when space comes back.
/// </summary>
public sealed partial class DiskFullSpecs : TestKit
{
    private const int MessageCount = 20;
    private const int MessageBodyBytes = 40 * 1024;
    private const int SpaceLeftBytes = 16 * 1024;

    private readonly GatewayTestbed _bed = new();
    private readonly bool _mounted;

    public DiskFullSpecs() : base("akka.loglevel = INFO", output: null)
    {
        var (exitCode, output) = Run("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", _bed.Outgoing);
        Assert.True(exitCode == 0,
            $"these specs need a real full file system: mounting a 2 MiB tmpfs on {_bed.Outgoing} failed ({output.Trim()}); run them as root with CAP_SYS_ADMIN");
        _mounted = true;
    }

    [Fact]
    public async Task Should_keep_every_message_queued_and_warn_once_while_the_outgoing_disk_is_full_then_deliver_each_exactly_once()
    {
        var filler = FillLeaving(SpaceLeftBytes);
        var originals = new Dictionary<int, byte[]>();
        for (var seq = 0; seq < MessageCount; seq++)
        {
            // Bigger than the space left: each write gets part of the way before ENOSPC.
            var (path, _) = _bed.Enqueue($"X-Seq: {seq}\r\n{new string('x', MessageBodyBytes)}");
            originals[seq] = await File.ReadAllBytesAsync(path);
        }
        var counters = new PipelineCounters();
        var settings = _bed.Settings();
        settings = settings with
        {
            Queue = settings.Queue with { RetryBackoffMin = TimeSpan.FromMilliseconds(50), RetryBackoffMax = TimeSpan.FromMilliseconds(200) },
        };
        await using var gateway = await HostedGateway.StartAsync(settings, counters, hocon: "akka.loglevel = INFO");
        var log = gateway.Log;

        // Every message has failed at least twice: the episode is well under way.
        await Eventually.Holds(() => counters.Failed >= 2 * MessageCount, TimeSpan.FromSeconds(60), () => $"every message to fail twice on the full disk ({counters})");
        Assert.Equal(0, counters.Delivered);
        Assert.Equal([Path.GetFileName(filler)], OutgoingEntries()); // no half-written temp, no partial message
        var queued = QueuedOriginals();
        Assert.Equal(Enumerable.Range(0, MessageCount), queued.Keys.Order());
        foreach (var (seq, content) in queued) Assert.Equal(originals[seq], content);
        var warning = Assert.Single(log.Lines(LogLevel.WarningLevel));
        Assert.StartsWith($"Disk full on {_bed.Outgoing}:", warning);
        Assert.Contains("kept in the incoming queue", warning);

        File.Delete(filler);
        await Eventually.Holds(() => counters.Deleted == MessageCount, TimeSpan.FromSeconds(60), () => $"every message to be delivered once the disk has room ({counters})");

        var delivered = OutgoingEntries().Select(name => SeqHeader.OfFile(Path.Combine(_bed.Outgoing, name))).Order().ToList();
        Assert.Equal(Enumerable.Range(0, MessageCount), delivered);
        Assert.Empty(GatewayTestbed.AllEntries(_bed.Incoming));
        Assert.Empty(GatewayTestbed.AllEntries(_bed.Work));
        Assert.Single(log.Lines(LogLevel.WarningLevel));
        var recovered = Assert.Single(log.Lines(LogLevel.InfoLevel), line => line.Contains("recovered after", StringComparison.Ordinal));
        Assert.StartsWith($"Disk full on {_bed.Outgoing} recovered after", recovered);
        var handedBack = int.Parse(HandedBackCount().Match(recovered).Groups[1].Value);
        Assert.Equal(counters.Failed, handedBack);
    }

    /// <summary>Fills the outgoing file system up, then gives back all but <paramref name="bytesLeft"/>.</summary>
    private string FillLeaving(int bytesLeft)
    {
        var filler = Path.Combine(_bed.Outgoing, "filler");
        using var stream = new FileStream(filler, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.None);
        var block = new byte[4096];
        try
        {
            while (true) stream.Write(block);
        }
        catch (IOException e) when (e.HResult == 28)
        {
            // ENOSPC: full.
        }
        stream.SetLength(Math.Max(0, stream.Length - bytesLeft));
        return filler;
    }

    private List<string> OutgoingEntries() => Directory.EnumerateFileSystemEntries(_bed.Outgoing).Select(p => Path.GetFileName(p)!).Order().ToList();

    /// <summary>The originals wherever they are right now: in the incoming queue, or claimed in the work area by a retry.</summary>
    private Dictionary<int, byte[]> QueuedOriginals()
    {
        var found = new Dictionary<int, byte[]>();
        foreach (var path in GatewayTestbed.AllEntries(_bed.Incoming).Concat(GatewayTestbed.AllEntries(_bed.Work)))
        {
            var content = File.ReadAllBytes(path);
            Assert.True(found.TryAdd(SeqHeader.Of(content), content), $"{path} is a second copy");
        }
        return found;
    }

    protected override void Dispose(bool disposing)
    {
        // The actor system first: its durability barrier holds the outgoing directory open.
        base.Dispose(disposing);
        if (!disposing) return;
        if (_mounted && Run("umount", _bed.Outgoing).ExitCode != 0) Run("umount", "-l", _bed.Outgoing);
        _bed.Dispose();
    }

    private static (int ExitCode, string Output) Run(string program, params string[] args)
    {
        var info = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args) info.ArgumentList.Add(arg);
        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, output);
    }

    [GeneratedRegex(@"(\d+) message\(s\) were handed back")]
    private static partial Regex HandedBackCount();
}
