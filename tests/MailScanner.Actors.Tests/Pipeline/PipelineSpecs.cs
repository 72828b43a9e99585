using System.Collections.Concurrent;
using System.Diagnostics;
using Akka.Actor;
using Akka.TestKit.Xunit2;
using MailScanner.Actors.Hosting;
using MailScanner.Actors.Metrics;
using MailScanner.Actors.Queue;
using MailScanner.Actors.Tests.TestSupport;
using Xunit;
using Xunit.Abstractions;

namespace MailScanner.Actors.Tests.Pipeline;

/// <summary>The whole pipeline — watcher, coordinators, message actors — on real queue directories.</summary>
public sealed class PipelineSpecs : TestKit
{
    private readonly ITestOutputHelper _output;

    public PipelineSpecs(ITestOutputHelper output) : base("akka.loglevel = WARNING", output: null) => _output = output;

    /// <remarks>
    /// On ext4 a freed inode number goes to the very next new file, so the MTA writes new messages under the names of
    /// those the gateway has just deleted (the seed's hazard): that row checks the names did come back. tmpfs numbers
    /// inodes from a counter that never goes back, so no name comes back there; its row is the same load on the
    /// identity tmpfs needs instead (no generation ioctl: the generation comes from the file handle).
    /// </remarks>
    [Theory]
    [InlineData(TempDirectory.Ext4)]
    [InlineData(TempDirectory.Tmpfs)]
    public async Task Should_deliver_every_message_exactly_once_while_the_mta_keeps_writing(string fileSystem)
    {
        const int messageCount = 20_000;
        using var bed = new GatewayTestbed(fileSystem);
        var counters = new PipelineCounters();
        await using var gateway = await HostedGateway.StartAsync(bed.Settings(coordinators: 5, deleteRepeats: 3, stageJitter: TimeSpan.FromMilliseconds(4)), counters);

        // A concurrent MTA: writes queue files while the gateway deletes them (on ext4 freed inode numbers come straight back).
        var namesSeen = new ConcurrentDictionary<string, int>();
        var producer = Task.Run(async () =>
        {
            for (var seq = 0; seq < messageCount; seq++)
            {
                var (path, _) = bed.Enqueue($"X-Seq: {seq}");
                namesSeen.AddOrUpdate(Path.GetFileName(path), 1, (_, n) => n + 1);
                if (Random.Shared.Next(200) == 0) await Task.Delay(Random.Shared.Next(1, 5));
            }
        });

        var clock = Stopwatch.StartNew();
        await producer;
        await Eventually.Holds(() => counters.Deleted == messageCount && !GatewayTestbed.AllEntries(bed.Incoming).Any(),
            TimeSpan.FromMinutes(4), () => $"all {messageCount} messages finished and the incoming queue empty ({counters})", TimeSpan.FromMilliseconds(100));

        var delivered = new Dictionary<int, int>();
        foreach (var file in GatewayTestbed.AllEntries(bed.Outgoing))
        {
            var seq = SeqHeader.OfFile(file);
            delivered[seq] = delivered.GetValueOrDefault(seq) + 1;
        }
        var lost = Enumerable.Range(0, messageCount).Count(seq => !delivered.ContainsKey(seq));
        var duplicated = delivered.Values.Count(n => n > 1);
        var reusedNames = namesSeen.Values.Count(n => n > 1);
        _output.WriteLine($"{fileSystem}: messages={messageCount} lost={lost} duplicated={duplicated} reused-names={reusedNames} " +
                          $"absorbed={counters.Absorbed} {counters} in {clock.Elapsed.TotalSeconds:F1}s");

        Assert.Equal(0, lost);
        Assert.Equal(0, duplicated);
        Assert.Equal(messageCount, delivered.Count);
        Assert.Empty(GatewayTestbed.AllEntries(bed.Work));
        Assert.Empty(GatewayTestbed.AllEntries(bed.Bad));
        // Every message was asked to be deleted 3 times after delivery and 3 times in the final sweep.
        Assert.True(counters.Absorbed >= 5L * messageCount, $"absorbed {counters.Absorbed}");
        if (fileSystem == TempDirectory.Ext4) Assert.True(reusedNames > 0, "ext4 should hand freed inode numbers, and so names, to new files");
    }

    [Fact]
    public async Task Should_keep_a_backlog_on_disk_and_never_have_more_than_max_in_flight_messages()
    {
        using var bed = new GatewayTestbed();
        for (var i = 0; i < 600; i++) bed.Enqueue($"backlog {i}");
        var counters = new PipelineCounters();
        await using var gateway = await HostedGateway.StartAsync(bed.Settings(maxInFlight: 50, maxMessages: 10), counters);

        var peak = 0;
        await Eventually.Holds(async () =>
        {
            var status = await gateway.QueueWatcher.Ask<QueueWatcherProtocol.Status>(QueueWatcherProtocol.GetStatus.Instance);
            peak = Math.Max(peak, status.Admitting + status.InFlight);
            return counters.Deleted == 600;
        }, TimeSpan.FromMinutes(1), () => $"the backlog of 600 delivered ({counters})", TimeSpan.FromMilliseconds(5));

        Assert.InRange(peak, 1, 50);
        Assert.Equal(600, GatewayTestbed.AllEntries(bed.Outgoing).Count());
    }

    [Fact]
    public async Task Should_leave_the_mtas_temp_files_alone()
    {
        using var bed = new GatewayTestbed();
        var temp = Path.Combine(bed.Incoming, "tf-4242-1");
        await File.WriteAllTextAsync(temp, "half written");
        var counters = new PipelineCounters();
        await using var gateway = await HostedGateway.StartAsync(bed.Settings(), counters);
        bed.Enqueue("a real message");

        await Eventually.Holds(() => counters.Deleted == 1, TimeSpan.FromSeconds(20), () => $"the message delivered ({counters})");
        Assert.Equal("half written", await File.ReadAllTextAsync(temp));
        Assert.Equal(0, counters.Refused);
    }

    [Fact]
    public async Task Should_move_a_symlink_or_fifo_aside_without_following_it_and_leave_a_directory_in_place()
    {
        using var bed = new GatewayTestbed();
        using var elsewhere = new TempDirectory();
        var target = elsewhere.File("precious");
        await File.WriteAllTextAsync(target, "not a queue file");
        File.CreateSymbolicLink(Path.Combine(bed.Incoming, "1001"), target);
        MakeFifo(Path.Combine(bed.Incoming, "1002"));
        Directory.CreateDirectory(Path.Combine(bed.Incoming, "1003"));
        var counters = new PipelineCounters();
        await using var gateway = await HostedGateway.StartAsync(bed.Settings(), counters);
        bed.Enqueue("a real message behind the junk");

        await Eventually.Holds(() => counters.Deleted == 1 && counters.Refused == 3, TimeSpan.FromSeconds(20), () => $"the message delivered and the 3 odd entries refused ({counters})");
        var moved = GatewayTestbed.AllEntries(bed.Bad).Select(Path.GetFileName).Order().ToList();
        Assert.Equal(2, moved.Count);
        Assert.StartsWith("1001.", moved[0]);
        Assert.EndsWith(".symlink", moved[0]);
        Assert.StartsWith("1002.", moved[1]);
        Assert.EndsWith(".fifo", moved[1]);
        Assert.Equal("not a queue file", await File.ReadAllTextAsync(target));
        Assert.True(Directory.Exists(Path.Combine(bed.Incoming, "1003")));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)] // named by the identity alone, as versions before the queue id was part of the name left it
    public async Task Should_finish_claims_left_by_an_earlier_run(bool namedWithQueueId)
    {
        using var bed = new GatewayTestbed();
        var (path, identity) = bed.Enqueue("claimed before a crash");
        File.Move(path, namedWithQueueId ? bed.WorkPathOf(identity) : Path.Combine(bed.Work, identity.Key));
        var counters = new PipelineCounters();
        await using var gateway = await HostedGateway.StartAsync(bed.Settings(), counters);

        await Eventually.Holds(() => counters.Deleted == 1, TimeSpan.FromSeconds(20), () => $"the message delivered ({counters})");
        Assert.Empty(GatewayTestbed.AllEntries(bed.Work));
        Assert.Contains("claimed before a crash", await File.ReadAllTextAsync(Assert.Single(GatewayTestbed.AllEntries(bed.Outgoing))));
    }

    private static void MakeFifo(string path)
    {
        using var mkfifo = Process.Start("mkfifo", path);
        mkfifo.WaitForExit();
        Assert.Equal(0, mkfifo.ExitCode);
    }
}
