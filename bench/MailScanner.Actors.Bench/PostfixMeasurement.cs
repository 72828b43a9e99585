using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using MailScanner.Actors.Identity;
using MailScanner.Actors.Queue.Postfix;
using MailScanner.Actors.Tests.TestSupport;

namespace MailScanner.Actors.Bench;

/// <summary>A Postfix figure: how many messages in how long, and whether each arrived exactly once.</summary>
internal sealed record PostfixRunResult(int Messages, TimeSpan Elapsed, int Missing, int Duplicated, string Detail)
{
    public double PerSecond => Messages / Elapsed.TotalSeconds;
    public bool ExactlyOnce => Missing == 0 && Duplicated == 0;
    public string Describe() => $"{PerSecond:F1} messages/s ({Elapsed.TotalSeconds:F2} s); missing {Missing}, duplicated {Duplicated}; {Detail}";
}

/// <summary>
/// The gateway on a backlog of Postfix hold files (format postfix, the built-in rules on, the journal on: the
/// defaults), as (b2) is on ZMailer files: the hold files are queued before the gateway starts, written as cleanup
/// writes them (records, mode 0700, renamed to a short queue id of the inode; one syncfs at the end rather than an
/// fsync each), then timed from the first claim until hold/ is empty and incoming/ holds every message. No Postfix
/// runs, so nothing takes the files out of incoming/ (and the gateway says once that qmgr cannot be woken).
/// </summary>
internal sealed class PostfixBacklogMeasurement(BenchWorkspace workspace, Func<int, QueueMessage> messageFor, int count, string gatewayDll, BenchOptions options)
{
    public async Task<PostfixRunResult> RunAsync(CancellationToken cancel)
    {
        var area = workspace.NewArea("postfix-backlog");
        try
        {
            var layout = new PostfixQueueLayout(Path.Combine(area, "postfix"));
            foreach (var directory in new[] { layout.HoldDirectory, layout.IncomingDirectory }) Directory.CreateDirectory(directory);
            var directories = GatewayDirectories.CreateUnder(area);
            var written = Stopwatch.StartNew();
            for (var seq = 0; seq < count; seq++)
            {
                cancel.ThrowIfCancellationRequested();
                WriteHeld(layout, messageFor(seq), seq);
            }
            using (var handle = NativeFile.OpenDirectory(layout.HoldDirectory)) NativeFile.SyncFileSystem(handle);
            Console.WriteLine($"  backlog: {count} hold files written in {written.Elapsed.TotalSeconds:F1} s");

            await using var gateway = GatewayProcess.Start(gatewayDll, directories, options.Coordinators, area, PostfixHocon(layout));
            long firstClaim = 0, last = Stopwatch.GetTimestamp();
            var lastProgress = (Hold: count, Incoming: 0);
            while (true)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(20), cancel);
                gateway.EnsureRunning();
                var progress = (Hold: CountQueueFiles(layout.HoldDirectory), Incoming: CountQueueFiles(layout.IncomingDirectory));
                var now = Stopwatch.GetTimestamp();
                if (firstClaim == 0 && progress.Hold < count) firstClaim = now;
                if (progress.Hold == 0 && progress.Incoming >= count) break;
                if (progress != lastProgress) (lastProgress, last) = (progress, now);
                else if (Stopwatch.GetElapsedTime(last, now) > options.StallTimeout)
                    throw new BenchFailure($"no progress for {options.StallTimeout.TotalSeconds:F0} s ({progress.Hold} in hold, {progress.Incoming} in incoming):{Environment.NewLine}{gateway.Tail()}");
            }
            var elapsed = Stopwatch.GetElapsedTime(firstClaim);
            var cpu = gateway.CpuTime();
            await gateway.StopAsync();
            var (missing, duplicated) = CheckSeqs(count, Directory.EnumerateFiles(layout.IncomingDirectory).Where(IsQueueFile)
                .Select(path => PostfixQueueFileReader.Read(File.ReadAllBytes(path)) is PostfixQueueFileRead.Complete complete ? DeliveryCheck.FindSeq(complete.File.Message) : null));
            return new PostfixRunResult(count, elapsed, missing, duplicated,
                $"{CountQueueFiles(layout.IncomingDirectory)} in incoming/; gateway CPU {cpu.TotalMilliseconds / count:F3} ms per message (start-up included)");
        }
        finally
        {
            workspace.Release(area);
        }
    }

    /// <summary>The gateway's queue keys for this layout, after the bench's ZMailer defaults (the later key wins).</summary>
    internal static string PostfixHocon(PostfixQueueLayout layout) => string.Join(Environment.NewLine,
        "mailscanner.queue.format = postfix",
        $"mailscanner.queue.incoming = {JsonSerializer.Serialize(layout.HoldDirectory)}",
        $"mailscanner.queue.outgoing = {JsonSerializer.Serialize(layout.IncomingDirectory)}",
        $"mailscanner.queue.postfix {{ long-queue-ids = {(layout.LongQueueIds ? "yes" : "no")}, mail-owner = {layout.MailOwner} }}");

    private static void WriteHeld(PostfixQueueLayout layout, QueueMessage message, int seq)
    {
        var envelope = new PostfixEnvelope(PostfixArrivalTime.From(DateTimeOffset.UtcNow), message.Sender,
            message.Recipients.Select(r => new PostfixRecipient(r, r)).ToList(), [], []);
        var temp = Path.Combine(layout.HoldDirectory, string.Create(CultureInfo.InvariantCulture, $"bench.{seq}"));
        ulong inode;
        using (var handle = NativeFile.CreateExclusive(temp, mode: 0b111_000_000))
        {
            RandomAccess.Write(handle, PostfixQueueFileWriter.Format(envelope, message.Rfc5322()), 0);
            inode = NativeFile.Stat(handle).Inode;
        }
        var id = PostfixQueueId.For(PostfixArrivalTime.From(DateTimeOffset.UtcNow), inode, layout.LongQueueIds);
        if (NativeFile.TryRenameNoReplace(temp, Path.Combine(layout.HoldDirectory, id)) != RenameOutcome.Renamed)
            throw new BenchFailure($"could not rename {temp} to {id}");
    }

    private static bool IsQueueFile(string path) => PostfixQueueId.IsValid(Path.GetFileName(path));

    private static int CountQueueFiles(string directory) => Directory.EnumerateFiles(directory).Count(IsQueueFile);

    internal static (int Missing, int Duplicated) CheckSeqs(int count, IEnumerable<int?> seqs)
    {
        var copies = new int[count];
        foreach (var seq in seqs)
        {
            if (seq is { } s && s >= 0 && s < count) copies[s]++;
        }
        return (copies.Count(c => c == 0), copies.Sum(c => Math.Max(0, c - 1)));
    }
}

/// <summary>
/// A real Postfix end to end: messages sent over SMTP (several connections at once) until smtp-sink has them all,
/// first with Postfix alone (no hold: each message goes straight to qmgr), then with the gateway in the path (every
/// message held, scanned by the gateway with its defaults, handed back to incoming/). Both Postfix instances are
/// the specs' <see cref="PostfixInstance"/> on ext4, as the gateway's own work and journal directories are.
/// </summary>
internal sealed class PostfixEndToEndMeasurement(BenchWorkspace workspace, Func<int, QueueMessage> messageFor, int count, int connections, string gatewayDll, BenchOptions options)
{
    public async Task<PostfixRunResult> RunAloneAsync(CancellationToken cancel)
    {
        await using var postfix = await PostfixInstance.StartAsync(new PostfixInstanceOptions(FileSystem: TempDirectory.Ext4, HoldEverything: false));
        return await SendAndWaitAsync(postfix, null, cancel);
    }

    public async Task<PostfixRunResult> RunWithGatewayAsync(CancellationToken cancel)
    {
        var area = workspace.NewArea("postfix-gateway");
        try
        {
            await using var postfix = await PostfixInstance.StartAsync(new PostfixInstanceOptions(FileSystem: TempDirectory.Ext4));
            var directories = GatewayDirectories.CreateUnder(area);
            if (NativeFile.DeviceOf(directories.Work) != NativeFile.DeviceOf(postfix.QueueDirectory))
                throw new BenchFailure($"{area} and {postfix.QueueDirectory} are on different file systems; the gateway claims by rename");
            await using var gateway = GatewayProcess.Start(gatewayDll, directories, options.Coordinators, area, PostfixBacklogMeasurement.PostfixHocon(postfix.Layout));
            return await SendAndWaitAsync(postfix, gateway, cancel);
        }
        finally
        {
            workspace.Release(area);
        }
    }

    private async Task<PostfixRunResult> SendAndWaitAsync(PostfixInstance postfix, GatewayProcess? gateway, CancellationToken cancel)
    {
        // One message through first: start-up (the gateway's, Postfix's first smtp client) is not what is timed.
        await postfix.SendAsync("warm-up@bench.example", ["warm-up@bench.example"], "Subject: warm-up\n\nwarm-up\n");
        await WaitForSink(postfix, gateway, 1, cancel);

        var clock = Stopwatch.StartNew();
        await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = connections, CancellationToken = cancel },
            async (seq, _) =>
            {
                var message = messageFor(seq);
                await postfix.SendAsync(message.Sender, message.Recipients, Encoding.Latin1.GetString(message.Rfc5322()), Encoding.Latin1);
            });
        var sent = clock.Elapsed;
        await WaitForSink(postfix, gateway, count + 1, cancel);
        var elapsed = clock.Elapsed;
        // What the gateway cost in CPU, start-up and warm-up included: on a shared two-core machine the figure to weigh the ratio by.
        var gatewayCpu = gateway is null ? "" : $"; gateway CPU {gateway.CpuTime().TotalMilliseconds / count:F2} ms per message";
        var (missing, duplicated) = PostfixBacklogMeasurement.CheckSeqs(count, postfix.SinkFiles().Select(DeliveryCheck.ReadSeq));
        var log = postfix.Log().Split('\n');
        var problems = log.Count(line => line.Contains("warning:", StringComparison.Ordinal) || line.Contains("fatal:", StringComparison.Ordinal));
        return new PostfixRunResult(count, elapsed, missing, duplicated,
            $"all sent over SMTP by {sent.TotalSeconds:F2} s, {connections} connections; Postfix log: {problems} warning/fatal lines{gatewayCpu}");
    }

    private async Task WaitForSink(PostfixInstance postfix, GatewayProcess? gateway, int expected, CancellationToken cancel)
    {
        var last = (Count: -1, At: Stopwatch.GetTimestamp());
        while (postfix.SinkFiles().Count < expected)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(20), cancel);
            gateway?.EnsureRunning();
            var count = postfix.SinkFiles().Count;
            if (count != last.Count) last = (count, Stopwatch.GetTimestamp());
            else if (Stopwatch.GetElapsedTime(last.At) > options.StallTimeout)
                throw new BenchFailure($"the sink got {count} of {expected} and nothing more for {options.StallTimeout.TotalSeconds:F0} s; Postfix log tail:{Environment.NewLine}" +
                                       string.Join(Environment.NewLine, postfix.Log().Split('\n').TakeLast(20)) + (gateway is null ? "" : $"{Environment.NewLine}gateway:{Environment.NewLine}{gateway.Tail()}"));
        }
    }
}
