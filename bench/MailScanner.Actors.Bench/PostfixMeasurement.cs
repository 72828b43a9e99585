using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using MailScanner.Actors.Identity;
using MailScanner.Actors.Queue;
using MailScanner.Actors.Queue.Exim;
using MailScanner.Actors.Queue.Postfix;
using MailScanner.Actors.Queue.Sendmail;
using MailScanner.Actors.Tests.TestSupport;

namespace MailScanner.Actors.Bench;

/// <summary>A (p) figure: how many messages in how long, and whether each arrived exactly once.</summary>
internal sealed record QueueRunResult(int Messages, TimeSpan Elapsed, int Missing, int Duplicated, string Detail)
{
    public double PerSecond => Messages / Elapsed.TotalSeconds;
    public bool ExactlyOnce => Missing == 0 && Duplicated == 0;
    public string Describe() => $"{PerSecond:F1} messages/s ({Elapsed.TotalSeconds:F2} s); missing {Missing}, duplicated {Duplicated}; {Detail}";
}

/// <summary>
/// One MTA's queues as a backlog measurement fills and reads them: the format (the gateway's own, which reads both the
/// incoming backlog and what the gateway wrote), the directory the gateway reads and the one it writes, how one
/// message is queued as the MTA queues it, and the gateway's keys for them.
/// </summary>
internal sealed record BacklogQueues(string Name, IQueueFormat Format, string Incoming, string Outgoing, Action<QueueMessage> Queue, string Hocon)
{
    /// <summary>
    /// Postfix hold files written as cleanup writes them (records, mode 0700, renamed to a short queue id of the inode;
    /// one syncfs at the end rather than an fsync each); the gateway writes into incoming/.
    /// </summary>
    public static BacklogQueues Postfix(string area)
    {
        var layout = new PostfixQueueLayout(Path.Combine(area, "postfix"));
        foreach (var directory in new[] { layout.HoldDirectory, layout.IncomingDirectory }) Directory.CreateDirectory(directory);
        var written = 0;
        return new BacklogQueues("postfix hold files", new PostfixFormat(layout), layout.HoldDirectory, layout.IncomingDirectory,
            message => WriteHeld(layout, message, written++), PostfixBacklogMeasurement.PostfixHocon(layout));
    }

    /// <summary>
    /// Exim -D/-H pairs in the receiving spool's input/ (split_spool_directory off), each written by the gateway's own
    /// <c>enqueue</c> code as the receiving Exim writes one; the gateway writes the delivering spool's input/. Both
    /// belong to the user the bench runs as; no Exim runs, so nothing is told to deliver.
    /// </summary>
    public static BacklogQueues Exim(string area)
    {
        var (incoming, outgoing) = (Path.Combine(area, "exim", "receiving", "input"), Path.Combine(area, "exim", "delivering", "input"));
        var options = new EximQueueOptions(SplitSpoolDirectory: false, Environment.UserName, DeliverCommand: []);
        return Enqueued("exim -D/-H pairs", new EximFormat(options), incoming, outgoing,
            $"mailscanner.queue.format = exim\nmailscanner.queue.exim {{ split-spool-directory = no, user = {JsonSerializer.Serialize(options.User)} }}");
    }

    /// <summary>Sendmail df/qf pairs in the receiving queue directory, each written by the gateway's own <c>enqueue</c> code as sendmail queues one.</summary>
    public static BacklogQueues Sendmail(string area)
    {
        var (incoming, outgoing) = (Path.Combine(area, "sendmail", "receiving"), Path.Combine(area, "sendmail", "delivering"));
        var options = new SendmailQueueOptions(Environment.UserName, DeliverCommand: []);
        return Enqueued("sendmail df/qf pairs", new SendmailFormat(options), incoming, outgoing,
            $"mailscanner.queue.format = sendmail\nmailscanner.queue.sendmail {{ user = {JsonSerializer.Serialize(options.User)} }}");
    }

    private static BacklogQueues Enqueued(string name, IQueueFormat format, string incoming, string outgoing, string hocon)
    {
        foreach (var directory in new[] { incoming, outgoing }) Directory.CreateDirectory(directory);
        return new BacklogQueues(name, format, incoming, outgoing,
            message => format.WriteIncomingEntry(incoming, new QueueEnvelope(message.Sender, message.Recipients), message.Rfc5322()),
            string.Join(Environment.NewLine, hocon,
                $"mailscanner.queue.incoming = {JsonSerializer.Serialize(incoming)}",
                $"mailscanner.queue.outgoing = {JsonSerializer.Serialize(outgoing)}"));
    }

    /// <summary>The complete entries (by their primary file) in <paramref name="directory"/>, laid out as this format lays out its queue.</summary>
    public IEnumerable<string> EntriesIn(string directory) =>
        Format.CandidateEntries(directory).Where(path => Format.IsQueueFileName(Path.GetFileName(path)));

    /// <summary>The bench's sequence number of each entry the gateway wrote, read back with the format (null: unreadable).</summary>
    public IEnumerable<int?> DeliveredSeqs() => EntriesIn(Outgoing).Select(path =>
        Format.ParseEntry(new QueueEntryContent(File.ReadAllBytes(path), Format.CompanionPathsOf(path).Select(companion => (ReadOnlyMemory<byte>)File.ReadAllBytes(companion)).ToList()))
            is QueueFileParse.Parsed parsed ? DeliveryCheck.FindSeq(parsed.Message.Span) : null);

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
}

/// <summary>
/// The gateway on a backlog in an MTA's own queue format (the built-in rules on, the journal on: the defaults), as (b2)
/// is on ZMailer files: the backlog is queued before the gateway starts, then timed from the first claim until the
/// incoming queue is empty and the outgoing one holds every message, each read back with the format and found exactly
/// once. No MTA runs, so nothing takes the entries out of the outgoing queue (and with Postfix the gateway says once
/// that qmgr cannot be woken).
/// </summary>
internal sealed class FormatBacklogMeasurement(BenchWorkspace workspace, Func<int, QueueMessage> messageFor, int count, string gatewayDll, BenchOptions options)
{
    public async Task<QueueRunResult> RunAsync(Func<string, BacklogQueues> queuesUnder, CancellationToken cancel)
    {
        var area = workspace.NewArea("format-backlog");
        try
        {
            var queues = queuesUnder(area);
            var directories = GatewayDirectories.CreateUnder(area);
            var written = Stopwatch.StartNew();
            for (var seq = 0; seq < count; seq++)
            {
                cancel.ThrowIfCancellationRequested();
                queues.Queue(messageFor(seq));
            }
            using (var handle = NativeFile.OpenDirectory(queues.Incoming)) NativeFile.SyncFileSystem(handle);
            Console.WriteLine($"  backlog: {count} messages as {queues.Name} written in {written.Elapsed.TotalSeconds:F1} s");

            await using var gateway = GatewayProcess.Start(gatewayDll, directories, options.Coordinators, area, queues.Hocon);
            long firstClaim = 0, last = Stopwatch.GetTimestamp();
            var lastProgress = (Incoming: count, Outgoing: 0);
            while (true)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(20), cancel);
                gateway.EnsureRunning();
                var progress = (Incoming: queues.EntriesIn(queues.Incoming).Count(), Outgoing: queues.EntriesIn(queues.Outgoing).Count());
                var now = Stopwatch.GetTimestamp();
                if (firstClaim == 0 && progress.Incoming < count) firstClaim = now;
                if (progress.Incoming == 0 && progress.Outgoing >= count) break;
                if (progress != lastProgress) (lastProgress, last) = (progress, now);
                else if (Stopwatch.GetElapsedTime(last, now) > options.StallTimeout)
                    throw new BenchFailure($"no progress for {options.StallTimeout.TotalSeconds:F0} s ({progress.Incoming} incoming, {progress.Outgoing} outgoing):{Environment.NewLine}{gateway.Tail()}");
            }
            var elapsed = Stopwatch.GetElapsedTime(firstClaim);
            var cpu = gateway.CpuTime();
            await gateway.StopAsync();
            var (missing, duplicated) = PostfixBacklogMeasurement.CheckSeqs(count, queues.DeliveredSeqs());
            return new QueueRunResult(count, elapsed, missing, duplicated,
                $"{queues.EntriesIn(queues.Outgoing).Count()} in the outgoing queue; gateway CPU {cpu.TotalMilliseconds / count:F3} ms per message (start-up included)");
        }
        finally
        {
            workspace.Release(area);
        }
    }
}

/// <summary>The gateway's keys for a Postfix queue, and the exactly-once count every Postfix figure makes.</summary>
internal static class PostfixBacklogMeasurement
{
    /// <summary>The gateway's queue keys for this layout, after the bench's ZMailer defaults (the later key wins).</summary>
    internal static string PostfixHocon(PostfixQueueLayout layout) => string.Join(Environment.NewLine,
        "mailscanner.queue.format = postfix",
        $"mailscanner.queue.incoming = {JsonSerializer.Serialize(layout.HoldDirectory)}",
        $"mailscanner.queue.outgoing = {JsonSerializer.Serialize(layout.IncomingDirectory)}",
        $"mailscanner.queue.postfix {{ long-queue-ids = {(layout.LongQueueIds ? "yes" : "no")}, mail-owner = {layout.MailOwner} }}");

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
    public async Task<QueueRunResult> RunAloneAsync(CancellationToken cancel)
    {
        await using var postfix = await PostfixInstance.StartAsync(new PostfixInstanceOptions(FileSystem: TempDirectory.Ext4, HoldEverything: false));
        return await SendAndWaitAsync(postfix, null, cancel);
    }

    public Task<QueueRunResult> RunWithGatewayAsync(CancellationToken cancel) =>
        WithGatewayAsync((postfix, gateway) => SendAndWaitAsync(postfix, gateway, cancel));

    /// <summary>
    /// (p7) One message at a time through a quiet Postfix with the gateway in the path: from Postfix's answer to the data
    /// until smtp-sink has the message, as the sender's side sees it; each sample sorted, shortest first.
    /// </summary>
    public Task<IReadOnlyList<TimeSpan>> IdleLatencyWithGatewayAsync(int samples, CancellationToken cancel) =>
        WithGatewayAsync<IReadOnlyList<TimeSpan>>(async (postfix, gateway) =>
        {
            await postfix.SendAsync("warm-up@bench.example", ["warm-up@bench.example"], "Subject: warm-up\n\nwarm-up\n");
            await WaitForSink(postfix, gateway, 1, cancel);
            var latencies = new List<TimeSpan>();
            for (var seq = 0; seq < samples; seq++)
            {
                var message = messageFor(seq);
                await postfix.SendAsync(message.Sender, message.Recipients, Encoding.Latin1.GetString(message.Rfc5322()), Encoding.Latin1);
                var sent = Stopwatch.GetTimestamp();
                await WaitForSink(postfix, gateway, seq + 2, cancel, TimeSpan.FromMilliseconds(2));
                latencies.Add(Stopwatch.GetElapsedTime(sent));
            }
            return latencies.Order().ToList();
        });

    private async Task<T> WithGatewayAsync<T>(Func<PostfixInstance, GatewayProcess, Task<T>> run)
    {
        var area = workspace.NewArea("postfix-gateway");
        try
        {
            await using var postfix = await PostfixInstance.StartAsync(new PostfixInstanceOptions(FileSystem: TempDirectory.Ext4));
            var directories = GatewayDirectories.CreateUnder(area);
            if (NativeFile.DeviceOf(directories.Work) != NativeFile.DeviceOf(postfix.QueueDirectory))
                throw new BenchFailure($"{area} and {postfix.QueueDirectory} are on different file systems; the gateway claims by rename");
            await using var gateway = GatewayProcess.Start(gatewayDll, directories, options.Coordinators, area, PostfixBacklogMeasurement.PostfixHocon(postfix.Layout));
            return await run(postfix, gateway);
        }
        finally
        {
            workspace.Release(area);
        }
    }

    private async Task<QueueRunResult> SendAndWaitAsync(PostfixInstance postfix, GatewayProcess? gateway, CancellationToken cancel)
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
        return new QueueRunResult(count, elapsed, missing, duplicated,
            $"all sent over SMTP by {sent.TotalSeconds:F2} s, {connections} connections; Postfix log: {problems} warning/fatal lines{gatewayCpu}");
    }

    private async Task WaitForSink(PostfixInstance postfix, GatewayProcess? gateway, int expected, CancellationToken cancel, TimeSpan? every = null)
    {
        var last = (Count: -1, At: Stopwatch.GetTimestamp());
        while (postfix.SinkFiles().Count < expected)
        {
            await Task.Delay(every ?? TimeSpan.FromMilliseconds(20), cancel);
            gateway?.EnsureRunning();
            var count = postfix.SinkFiles().Count;
            if (count != last.Count) last = (count, Stopwatch.GetTimestamp());
            else if (Stopwatch.GetElapsedTime(last.At) > options.StallTimeout)
                throw new BenchFailure($"the sink got {count} of {expected} and nothing more for {options.StallTimeout.TotalSeconds:F0} s; Postfix log tail:{Environment.NewLine}" +
                                       string.Join(Environment.NewLine, postfix.Log().Split('\n').TakeLast(20)) + (gateway is null ? "" : $"{Environment.NewLine}gateway:{Environment.NewLine}{gateway.Tail()}"));
        }
    }
}
