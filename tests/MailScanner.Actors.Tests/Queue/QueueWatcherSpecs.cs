using Akka.Actor;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using MailScanner.Actors.Identity;
using MailScanner.Actors.Batching;
using MailScanner.Actors.Configuration;
using MailScanner.Actors.Journal;
using MailScanner.Actors.Metrics;
using MailScanner.Actors.Queue;
using MailScanner.Actors.Tests.Pipeline;
using MailScanner.Actors.Tests.TestSupport;
using Xunit;
using static MailScanner.Actors.Messages.MessageCommands;
using static MailScanner.Actors.Messages.MessageReplies;

namespace MailScanner.Actors.Tests.Queue;

/// <summary>The watcher on its own, with probes for the MessageActors and the journal.</summary>
public sealed class QueueWatcherSpecs : TestKit
{
    public QueueWatcherSpecs() : base("akka.loglevel = WARNING") { }

    [Fact]
    public void Should_claim_nothing_until_the_message_journal_answers()
    {
        using var bed = new GatewayTestbed();
        var (_, identity) = bed.Enqueue("waits for the journal");
        // A journal that is still recovering (or restarting after a failure) does not answer in time.
        var (_, journal, messages, _) = StartWatcher(bed, journalAnswerTimeout: TimeSpan.FromMilliseconds(300));

        EventFilter.Warning(contains: "Waiting for the message journal").ExpectOne(() =>
        {
            journal.ExpectMsg<MessageJournalProtocol.GetInterrupted>();
            messages.ExpectNoMsg(TimeSpan.FromMilliseconds(500));
            journal.ExpectMsg<MessageJournalProtocol.GetInterrupted>(TimeSpan.FromSeconds(5));
        });
        journal.Reply(new MessageJournalProtocol.Interrupted(new Dictionary<string, int>()));

        Assert.Equal(identity, messages.ExpectMsg<Admit>().Identity);
    }

    [Fact]
    public void Should_take_the_messages_repeated_crashes_interrupted_one_at_a_time_and_alone_before_anything_else()
    {
        using var bed = new GatewayTestbed();
        var onceInterrupted = bed.EnqueueClaimed("interrupted once: a single crash holds nothing back").Identity;
        var twiceInterrupted = bed.EnqueueClaimed("interrupted twice").Identity;
        var thriceInterrupted = bed.EnqueueClaimed("interrupted three times: perhaps the culprit").Identity;
        var neverScanned = bed.EnqueueClaimed("claimed, not yet scanned").Identity;
        var (_, waiting) = bed.Enqueue("waiting in the incoming queue");
        var (watcher, journal, messages, coordinator) = StartWatcher(bed);

        journal.ExpectMsg<MessageJournalProtocol.GetInterrupted>();
        EventFilter.Warning(contains: "2 message(s) were being scanned when the gateway last ended").ExpectOne(() =>
            journal.Reply(new MessageJournalProtocol.Interrupted(new Dictionary<string, int>
            {
                [thriceInterrupted.Key] = 3,
                [onceInterrupted.Key] = 1,
                [twiceInterrupted.Key] = 2,
            })));

        // Fewest attempts first; each alone: nothing else is claimed or admitted until its batch has finished.
        foreach (var suspect in new[] { twiceInterrupted, thriceInterrupted })
        {
            Assert.Equal(suspect, messages.ExpectMsg<Recover>().Identity);
            messages.ExpectNoMsg(TimeSpan.FromMilliseconds(300));
            watcher.Tell(new Admitted(suspect, suspect.Inode.ToString(), 100), messages.Ref);
            Assert.Equal(suspect, coordinator.FishForMessage<BatchCoordinatorProtocol.EnqueueMany>(_ => true).Messages.Single().Identity);
            messages.ExpectNoMsg(TimeSpan.FromMilliseconds(300));
            watcher.Tell(new BatchCoordinatorProtocol.BatchFinished([suspect], []), coordinator.Ref);
        }

        Assert.Equal(new[] { onceInterrupted, neverScanned }.OrderBy(i => i.Key),
            new[] { messages.ExpectMsg<Recover>().Identity, messages.ExpectMsg<Recover>().Identity }.OrderBy(i => i.Key));
        Assert.Equal(waiting, messages.ExpectMsg<Admit>().Identity);
    }

    [Fact]
    public void Should_hold_nothing_back_after_a_single_crash()
    {
        using var bed = new GatewayTestbed();
        var interrupted = bed.EnqueueClaimed("interrupted once").Identity;
        var neverScanned = bed.EnqueueClaimed("claimed, not yet scanned").Identity;
        var (_, journal, messages, _) = StartWatcher(bed);

        journal.ExpectMsg<MessageJournalProtocol.GetInterrupted>();
        journal.Reply(new MessageJournalProtocol.Interrupted(new Dictionary<string, int> { [interrupted.Key] = 1 }));

        Assert.Equal(new[] { interrupted, neverScanned }.OrderBy(i => i.Key),
            new[] { messages.ExpectMsg<Recover>().Identity, messages.ExpectMsg<Recover>().Identity }.OrderBy(i => i.Key));
    }

    [Fact]
    public void Should_admit_the_oldest_message_first()
    {
        using var bed = new GatewayTestbed();
        var now = DateTime.UtcNow;
        // Written in one order, last modified in another: the modification time decides, not the name or the inode.
        var (middle, _) = bed.Enqueue("two hours old");
        var (youngest, _) = bed.Enqueue("one hour old");
        var (oldest, _) = bed.Enqueue("three hours old");
        File.SetLastWriteTimeUtc(middle, now.AddHours(-2));
        File.SetLastWriteTimeUtc(youngest, now.AddHours(-1));
        File.SetLastWriteTimeUtc(oldest, now.AddHours(-3));
        var (_, journal, messages, _) = StartWatcher(bed);

        NoInterruptedMessages(journal);

        Assert.Equal([oldest, middle, youngest], messages.ReceiveN(3).Cast<Admit>().Select(a => a.IncomingPath));
    }

    [Fact]
    public void Should_admit_a_backlog_larger_than_one_listing_oldest_first_without_a_change_notification()
    {
        using var bed = new GatewayTestbed();
        var now = DateTime.UtcNow;
        var paths = Enumerable.Range(0, 7).Select(i => bed.Enqueue($"backlog {i}").Path).ToList();
        for (var i = 0; i < paths.Count; i++) File.SetLastWriteTimeUtc(paths[i], now.AddHours(-10 + i));
        // No periodic listing after the first within the spec: only the watcher's knowing that more wait lists them.
        var (watcher, journal, messages, _) = StartWatcher(bed, listingWindow: 3, scanInterval: TimeSpan.FromHours(1));
        NoInterruptedMessages(journal);

        // Each listing hands over the oldest three; the rest are listed once those are claimed, with no file
        // event to prompt it (the files were all there before the watcher started).
        var admitted = new List<string>();
        while (admitted.Count < paths.Count)
        {
            var admit = messages.ExpectMsg<Admit>();
            admitted.Add(admit.IncomingPath);
            Claim(bed, admit);
            watcher.Tell(new Admitted(admit.Identity, admit.Identity.Inode.ToString(), 100), messages.Ref);
        }
        Assert.Equal(paths, admitted);
    }

    [Fact]
    public async Task Should_never_have_more_than_max_in_flight_messages_admitted_or_in_process()
    {
        using var bed = new GatewayTestbed();
        for (var i = 0; i < 7; i++) bed.Enqueue($"backlog {i}");
        var (watcher, journal, messages, coordinator) = StartWatcher(bed, maxInFlight: 3);
        NoInterruptedMessages(journal);

        var admitted = messages.ReceiveN(3).Cast<Admit>().ToList();
        await AssertAtTheBound(watcher, messages, admitting: 3, inFlight: 0, waiting: 4);

        // Admitted (claimed): now in process, still taking its slot.
        Claim(bed, admitted[0]);
        watcher.Tell(new Admitted(admitted[0].Identity, "0", 100), messages.Ref);
        Assert.Equal(admitted[0].Identity, coordinator.FishForMessage<BatchCoordinatorProtocol.EnqueueMany>(_ => true).Messages.Single().Identity);
        await AssertAtTheBound(watcher, messages, admitting: 2, inFlight: 1, waiting: 4);

        // Its batch finished: its slot goes to exactly one more.
        watcher.Tell(new BatchCoordinatorProtocol.BatchFinished([admitted[0].Identity], []), coordinator.Ref);
        admitted.Add(messages.ExpectMsg<Admit>());
        await AssertAtTheBound(watcher, messages, admitting: 3, inFlight: 0, waiting: 3);

        // Refused: the slot is free again, for exactly one more.
        watcher.Tell(new Refused(admitted[1].Identity, "1", "malformed"), messages.Ref);
        admitted.Add(messages.ExpectMsg<Admit>());
        await AssertAtTheBound(watcher, messages, admitting: 3, inFlight: 0, waiting: 2);
        Assert.Equal(admitted.Count, admitted.Select(a => a.Identity).Distinct().Count());
    }

    [Fact]
    public async Task Should_leave_a_refused_entry_in_place_and_never_admit_it_again()
    {
        using var bed = new GatewayTestbed();
        var (refusedPath, refused) = bed.Enqueue("refused by its MessageActor");
        var (watcher, journal, messages, _) = StartWatcher(bed);
        NoInterruptedMessages(journal);
        Assert.Equal(refused, messages.ExpectMsg<Admit>().Identity);

        watcher.Tell(new Refused(refused, Path.GetFileName(refusedPath), "malformed queue file"), messages.Ref);
        var (_, later) = bed.Enqueue("a later message");
        watcher.Tell(QueueWatcherProtocol.ScanQueue.Instance);

        Assert.Equal(later, messages.ExpectMsg<Admit>().Identity);
        watcher.Tell(QueueWatcherProtocol.ScanQueue.Instance);
        await AssertAtTheBound(watcher, messages, admitting: 1, inFlight: 0, waiting: 0);
        Assert.True(File.Exists(refusedPath));
    }

    [Fact]
    public void Should_admit_a_new_message_that_was_given_the_inode_number_of_a_refused_one()
    {
        // The seed report's hazard on the watcher's own memory: a refused file is removed by the operator, and the MTA's
        // next file gets its inode number. It is a new message and must be admitted.
        using var bed = new GatewayTestbed();
        var (path, identity) = bed.Enqueue("refused by its MessageActor");
        var (watcher, journal, messages, _) = StartWatcher(bed);
        NoInterruptedMessages(journal);
        FileIdentity refused;
        var round = 0;
        while (true)
        {
            Assert.True(++round <= 200, "no new queue file took the inode of the one just deleted in 200 rounds");
            if (round > 1) watcher.Tell(QueueWatcherProtocol.ScanQueue.Instance);
            refused = identity;
            Assert.Equal(refused, messages.ExpectMsg<Admit>().Identity);
            watcher.Tell(new Refused(refused, Path.GetFileName(path), "cannot be read"), messages.Ref);
            File.Delete(path);
            // Linux hands the freed inode to the next file, unless another process takes it first, or (ext4 without a
            // journal) the clock's second turned since the delete: such an inode is skipped for a minute. Then the new
            // file is the next round's refused one, as in the seed's replay.
            (path, identity) = bed.Enqueue("a new message, perhaps on the same inode");
            if (identity.Inode == refused.Inode) break;
        }
        Assert.NotEqual(refused, identity);

        watcher.Tell(QueueWatcherProtocol.ScanQueue.Instance);
        Assert.Equal(identity, messages.ExpectMsg<Admit>().Identity);
    }

    [Fact]
    public async Task Should_move_a_symlink_and_a_fifo_under_queue_file_names_to_the_bad_directory_without_opening_them()
    {
        using var bed = new GatewayTestbed();
        var target = Path.Combine(bed.State, "not-a-queue-file");
        File.WriteAllText(target, "whatever the link points to");
        File.CreateSymbolicLink(Path.Combine(bed.Incoming, "900001"), target);
        SpecialFiles.MakeFifo(Path.Combine(bed.Incoming, "900002"));
        var (_, message) = bed.Enqueue("a real message");
        var counters = new PipelineCounters();
        var (watcher, journal, messages, _) = StartWatcher(bed, counters: counters);

        EventFilter.Warning(contains: "was moved to").Expect(2, () =>
        {
            NoInterruptedMessages(journal);
            // The listing that admits the message has dealt with every entry beside it.
            Assert.Equal(message, messages.ExpectMsg<Admit>().Identity);
        });

        Assert.Equal(["900001.", "900002."], Directory.EnumerateFileSystemEntries(bed.Bad).Select(Path.GetFileName).Select(n => n![..7]).Order());
        Assert.Single(Directory.EnumerateFileSystemEntries(bed.Bad), p => p.EndsWith(".symlink", StringComparison.Ordinal) && new FileInfo(p).LinkTarget == target);
        Assert.Single(Directory.EnumerateFileSystemEntries(bed.Bad), p => p.EndsWith(".fifo", StringComparison.Ordinal));
        Assert.Equal("whatever the link points to", File.ReadAllText(target));
        Assert.Equal(2, counters.Refused);
        await AssertAtTheBound(watcher, messages, admitting: 1, inFlight: 0, waiting: 0);
    }

    [Fact]
    public async Task Should_leave_a_directory_under_a_queue_file_name_in_place_and_report_it_once()
    {
        using var bed = new GatewayTestbed();
        var directory = Directory.CreateDirectory(Path.Combine(bed.Incoming, "900003")).FullName;
        var counters = new PipelineCounters();
        var (watcher, journal, messages, _) = StartWatcher(bed, counters: counters);

        await EventFilter.Warning(contains: "is left in place and ignored").ExpectOneAsync(async () =>
        {
            NoInterruptedMessages(journal);
            for (var i = 0; i < 3; i++)
            {
                watcher.Tell(QueueWatcherProtocol.ScanQueue.Instance);
                await AssertAtTheBound(watcher, messages, admitting: 0, inFlight: 0, waiting: 0);
            }
        });

        Assert.True(Directory.Exists(directory));
        Assert.Equal(1, counters.Refused);
    }

    [Fact]
    public void Should_look_again_soon_at_an_entry_the_MTA_had_not_finished_without_waiting_for_the_periodic_listing()
    {
        using var bed = new GatewayTestbed();
        var (path, _) = bed.Enqueue("finished by a write in place, as sendmail writes its qf");
        var content = File.ReadAllBytes(path);
        File.WriteAllBytes(path, []);
        var (finished, _) = bed.Enqueue("finished before the watcher started");
        File.SetLastWriteTimeUtc(finished, DateTime.UtcNow.AddHours(-1));
        // No periodic listing after the first within the spec, and a write in place sends no change notification.
        var (_, journal, messages, _) = StartWatcher(bed, scanInterval: TimeSpan.FromHours(1), format: new CompleteOnceWritten());
        NoInterruptedMessages(journal);
        // The first listing has happened: it found the finished file, and the empty one not finished.
        Assert.Equal(finished, messages.ExpectMsg<Admit>().IncomingPath);
        messages.ExpectNoMsg(TimeSpan.FromMilliseconds(100));

        using (var file = new FileStream(path, FileMode.Open, FileAccess.Write)) file.Write(content);

        Assert.Equal(path, messages.ExpectMsg<Admit>(TimeSpan.FromSeconds(10)).IncomingPath);
    }

    [Fact]
    public void Should_look_again_soon_at_a_file_whose_claim_found_it_held_by_the_MTA()
    {
        using var bed = new GatewayTestbed();
        var (path, _) = bed.Enqueue("held locked by the MTA at first");
        var (watcher, journal, messages, _) = StartWatcher(bed, scanInterval: TimeSpan.FromHours(1));
        NoInterruptedMessages(journal);

        // The MessageActor's claim found the MTA's lock and let the file be (ClaimOutcome.Gone): it answers Absorbed.
        var first = messages.ExpectMsg<Admit>();
        watcher.Tell(new Absorbed(first.Identity, nameof(Admit), "the MTA is working on it (it holds its lock); looked at again later"), messages.Ref);

        Assert.Equal(path, messages.ExpectMsg<Admit>(TimeSpan.FromSeconds(10)).IncomingPath);
    }

    /// <summary>ZMailer files, complete only once they hold something: a format whose MTA finishes an entry by writing it in place.</summary>
    private sealed class CompleteOnceWritten : IQueueFormat
    {
        private static readonly IQueueFormat ZMailer = ZMailerFormat.Instance;
        public string Name => "complete-once-written";
        public bool IsQueueFileName(string name) => ZMailer.IsQueueFileName(name);
        public bool IsComplete(FileStatus status) => status.Size > 0;
        public bool NameMatches(string name, FileIdentity identity) => ZMailer.NameMatches(name, identity);
        public QueueFileParse Parse(ReadOnlyMemory<byte> content) => ZMailer.Parse(content);
        public OutgoingEntry ComposeOutgoing(QueueFileParse.Parsed claimed, ReadOnlySpan<byte> message) => ZMailer.ComposeOutgoing(claimed, message);
        public IOutgoingQueueRules Outgoing => ZMailer.Outgoing;
    }

    private static void NoInterruptedMessages(TestProbe journal)
    {
        journal.ExpectMsg<MessageJournalProtocol.GetInterrupted>();
        journal.Reply(new MessageJournalProtocol.Interrupted(new Dictionary<string, int>()));
    }

    /// <summary>
    /// The watcher's own count, asked after everything told to it so far, and no Admit beyond the ones already taken:
    /// the probe stands in for the MessageActors on the calling thread, so an Admit sent before the answer is already there.
    /// </summary>
    private static async Task AssertAtTheBound(IActorRef watcher, TestProbe messages, int admitting, int inFlight, int waiting)
    {
        var status = await watcher.Ask<QueueWatcherProtocol.Status>(QueueWatcherProtocol.GetStatus.Instance, TimeSpan.FromSeconds(5));
        Assert.Equal((admitting, inFlight, waiting), (status.Admitting, status.InFlight, status.Candidates));
        if (messages.HasMessages) Assert.Fail($"sent beyond the bound: {messages.ReceiveOne(TimeSpan.FromSeconds(1))}");
    }

    /// <summary>What the MessageActor does on Admit: the file leaves the incoming queue for the work area.</summary>
    private static QueueSettings QueueWith(QueueSettings queue, int listingWindow, TimeSpan? scanInterval) =>
        queue with { ListingWindow = listingWindow, ScanInterval = scanInterval ?? queue.ScanInterval };

    private static void Claim(GatewayTestbed bed, Admit admit) =>
        File.Move(admit.IncomingPath, Path.Combine(bed.Work, WorkArea.EntryName(admit.Identity, Path.GetFileName(admit.IncomingPath))));

    /// <summary>A watcher on <paramref name="bed"/>'s queue with probes for the journal, the MessageActors and one coordinator; max-processing-attempts 6.</summary>
    private (IActorRef Watcher, TestProbe Journal, TestProbe Messages, TestProbe Coordinator) StartWatcher(GatewayTestbed bed,
        TimeSpan? journalAnswerTimeout = null, int maxInFlight = 2000, PipelineCounters? counters = null, int listingWindow = 100_000,
        TimeSpan? scanInterval = null, IQueueFormat? format = null)
    {
        var (journal, messages, coordinator) = (CreateTestProbe(), CreateTestProbe(), CreateTestProbe());
        var settings = JournalSettings.For(bed.State, maxProcessingAttempts: 6);
        if (journalAnswerTimeout is { } timeout) settings = settings with { AnswerTimeout = timeout };
        var watcher = Sys.ActorOf(QueueWatcher.PropsFor(QueueWith(bed.Settings(maxInFlight: maxInFlight).Queue, listingWindow, scanInterval), format ?? ZMailerFormat.Instance, messages.Ref, _ => [coordinator.Ref], 30,
            counters ?? new PipelineCounters(), MessageJournalClient.For(journal.Ref, settings)));
        return (watcher, journal, messages, coordinator);
    }
}
