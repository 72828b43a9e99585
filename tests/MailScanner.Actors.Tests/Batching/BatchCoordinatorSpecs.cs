using Akka.Actor;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using MailScanner.Actors.Batching;
using MailScanner.Actors.Configuration;
using MailScanner.Actors.Identity;
using MailScanner.Actors.Metrics;
using MailScanner.Actors.Policy;
using MailScanner.Actors.Scanning;
using Xunit;
using static MailScanner.Actors.Batching.BatchCoordinatorProtocol;
using static MailScanner.Actors.Messages.MessageCommands;
using static MailScanner.Actors.Messages.MessageReplies;

namespace MailScanner.Actors.Tests.Batching;

/// <summary>
/// One coordinator on its own, with probes for the MessageActors (the message region) and the watcher. Time is the
/// test scheduler's, moved on by hand, and the coordinator runs on the calling thread: whatever it sends in answer to
/// a message is with the probes when the Tell returns, so "nothing was sent" is checked, not waited for.
/// </summary>
public sealed class BatchCoordinatorSpecs : TestKit
{
    /// <summary>BatchCoordinator's StageTimeout: a stage's commands are sent again when an answer is this late.</summary>
    private static readonly TimeSpan StageTimeout = TimeSpan.FromSeconds(30);

    private static readonly BatchSettings Defaults = new(Coordinators: 1, MaxMessages: 3, MaxBytes: 1000,
        MaxWait: TimeSpan.FromSeconds(1), DeleteRepeats: 1);

    private readonly TestProbe _messages;
    private readonly TestProbe _watcher;
    private readonly PipelineCounters _counters = new();

    public BatchCoordinatorSpecs() : base("""
        akka.loglevel = WARNING
        akka.scheduler.implementation = "Akka.TestKit.TestScheduler, Akka.TestKit"
        """)
    {
        _messages = CreateTestProbe("messages");
        _watcher = CreateTestProbe("watcher");
    }

    private TestScheduler Clock => (TestScheduler)Sys.Scheduler;

    // ---- Forming batches ---------------------------------------------------------------------------------------

    [Fact]
    public void Should_start_a_batch_as_soon_as_it_holds_max_messages()
    {
        var coordinator = Start();

        Enqueue(coordinator, 1, 2);
        Assert.Empty(Sent());

        Enqueue(coordinator, 3);
        Assert.Equal(Commands(id => new Scan(id), 1, 2, 3), Sent());
        Assert.Equal(1, _counters.Batches);
    }

    [Fact]
    public void Should_start_a_batch_before_it_would_pass_max_bytes_and_keep_the_rest_for_the_next()
    {
        var coordinator = Start();

        EnqueueSized(coordinator, 400, 1, 2);
        Assert.Empty(Sent());
        EnqueueSized(coordinator, 300, 3); // 1,100 bytes: over the limit, so the batch is the first two only

        Assert.Equal(Commands(id => new Scan(id), 1, 2), Sent());
        Assert.Equal([1, 2], Numbers(Finish(coordinator, 1, 2).Messages));
        Assert.Equal(Commands(id => new Scan(id), 3), Sent());
    }

    [Fact]
    public void Should_batch_a_message_larger_than_max_bytes_alone()
    {
        var coordinator = Start();

        EnqueueSized(coordinator, 5000, 1, 2);

        Assert.Equal(Commands(id => new Scan(id), 1), Sent());
    }

    [Fact]
    public void Should_start_a_smaller_batch_when_max_wait_has_passed_since_its_first_message()
    {
        var coordinator = Start();

        Enqueue(coordinator, 1);
        Clock.Advance(TimeSpan.FromMilliseconds(600));
        Enqueue(coordinator, 2); // does not start the wait again
        Clock.Advance(TimeSpan.FromMilliseconds(399));
        Assert.Empty(Sent());

        Clock.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(Commands(id => new Scan(id), 1, 2), Sent());
    }

    [Fact]
    public void Should_start_a_batch_at_once_when_told_to_flush()
    {
        var coordinator = Start();
        Enqueue(coordinator, 1);

        coordinator.Tell(Flush.Instance);

        Assert.Equal(Commands(id => new Scan(id), 1), Sent());
    }

    [Fact]
    public void Should_drive_one_batch_at_a_time_and_start_the_next_when_it_finishes()
    {
        var coordinator = Start();
        Enqueue(coordinator, 1, 2, 3);
        Assert.Equal(Commands(id => new Scan(id), 1, 2, 3), Sent());

        Enqueue(coordinator, 4, 5, 6);
        coordinator.Tell(Flush.Instance);
        Clock.Advance(Defaults.MaxWait);
        Assert.Empty(Sent());

        Assert.Equal([1, 2, 3], Numbers(Finish(coordinator, 1, 2, 3).Messages));
        Assert.Equal(Commands(id => new Scan(id), 4, 5, 6), Sent());
        Assert.Equal(2, _counters.Batches);
    }

    // ---- Driving the stages ------------------------------------------------------------------------------------

    [Fact]
    public void Should_send_each_stage_once_every_message_answered_the_one_before_and_report_the_batch_finished()
    {
        var coordinator = Start(Defaults with { DeleteRepeats = 2 });
        Enqueue(coordinator, 1, 2, 3);
        Assert.Equal(Commands(id => new Scan(id), 1, 2, 3), Sent());

        Answer(coordinator, ScannedClean, 1, 2);
        Assert.Empty(Sent());
        Answer(coordinator, ScannedClean, 3);
        Assert.Equal(Commands(id => new Clean(id), 1, 2, 3), Sent());

        Answer(coordinator, CleanedForDelivery, 1, 2, 3);
        Assert.Equal(Commands(id => new Deliver(id), 1, 2, 3), Sent());

        Answer(coordinator, Delivered, 1, 2, 3);
        // Deletion is asked for delete-repeats times after delivery, as MailScanner does...
        Assert.Equal(Commands(id => new Delete(id), 1, 1, 2, 2, 3, 3), Sent());
        Answer(coordinator, DeletedOriginal, 1, 2, 3);
        // ...and again in a final sweep; the MessageActors absorb the repeats.
        Assert.Equal(Commands(id => new Delete(id), 1, 1, 2, 2, 3, 3), Sent());
        Assert.False(_watcher.HasMessages);

        Answer(coordinator, RepeatAbsorbed, 1, 2, 3);
        var finished = _watcher.ExpectMsg<BatchFinished>();
        Assert.Equal([1, 2, 3], Numbers(finished.Messages));
        Assert.Empty(finished.HandedBack);
        Assert.Empty(Sent());
    }

    [Fact]
    public void Should_send_a_stage_again_to_the_messages_that_did_not_answer_within_the_stage_timeout()
    {
        var coordinator = Start();
        Enqueue(coordinator, 1, 2, 3);
        Sent();
        Answer(coordinator, ScannedClean, 1, 3);

        Clock.Advance(StageTimeout - TimeSpan.FromSeconds(1));
        Assert.Empty(Sent());
        Clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(Commands(id => new Scan(id), 2), Sent());

        // Still silent: asked again after another timeout, and the batch goes on once it answers.
        Clock.Advance(StageTimeout);
        Assert.Equal(Commands(id => new Scan(id), 2), Sent());
        Answer(coordinator, ScannedClean, 2);
        Assert.Equal(Commands(id => new Clean(id), 1, 2, 3), Sent());
    }

    [Fact]
    public void Should_send_a_delete_again_when_the_message_was_not_ready_for_it()
    {
        var coordinator = Start();
        StartBatch(coordinator, 1);
        DriveThroughDelivery(coordinator, 1);
        Assert.Equal(Commands(id => new Delete(id), 1), Sent());

        // Not an answer: the stage waits, and asks again after the timeout.
        Answer(coordinator, id => new NotReady(id, nameof(Delete), "not delivered yet"), 1);
        Assert.Empty(Sent());
        Clock.Advance(StageTimeout);
        Assert.Equal(Commands(id => new Delete(id), 1), Sent());
    }

    [Fact]
    public void Should_count_each_message_once_however_often_and_late_it_answers()
    {
        var coordinator = Start();
        Enqueue(coordinator, 1, 2, 3);
        Sent();
        Answer(coordinator, ScannedClean, 1);
        Clock.Advance(StageTimeout);
        Assert.Equal(Commands(id => new Scan(id), 2, 3), Sent());

        // The answer to the first Scan and to the resent one both come; the second counts for nothing.
        Answer(coordinator, ScannedClean, 2, 2);
        Assert.Empty(Sent());
        Answer(coordinator, ScannedClean, 3);
        Assert.Equal(Commands(id => new Clean(id), 1, 2, 3), Sent());

        // A late Scanned in the Clean stage is not a Cleaned, nor is an answer for a message outside the batch.
        Answer(coordinator, ScannedClean, 1, 2, 3);
        Answer(coordinator, CleanedForDelivery, 9);
        Answer(coordinator, CleanedForDelivery, 1, 1, 2);
        Assert.Empty(Sent());

        Answer(coordinator, CleanedForDelivery, 3);
        Assert.Equal(Commands(id => new Deliver(id), 1, 2, 3), Sent());
    }

    [Fact]
    public void Should_ignore_answers_that_come_after_its_batch_finished()
    {
        var coordinator = Start();
        StartBatch(coordinator, 1);
        Finish(coordinator, 1);

        Answer(coordinator, DeletedOriginal, 1);
        Answer(coordinator, RepeatAbsorbed, 1);
        Clock.Advance(StageTimeout);

        Assert.Empty(Sent());
        Assert.False(_watcher.HasMessages);
    }

    // ---- Messages that leave early -----------------------------------------------------------------------------

    [Fact]
    public void Should_report_a_message_that_failed_a_stage_as_handed_back_and_send_it_nothing_more()
    {
        var coordinator = Start();
        Enqueue(coordinator, 1, 2, 3);
        Assert.Equal(Commands(id => new Scan(id), 1, 2, 3), Sent());
        DriveThroughClean(coordinator, 1, 2, 3);
        Assert.Equal(Commands(id => new Deliver(id), 1, 2, 3), Sent());

        Answer(coordinator, id => new Failed(id, nameof(Deliver), "No space left on device"), 2);
        Answer(coordinator, Delivered, 1, 3);
        Assert.Equal(Commands(id => new Delete(id), 1, 3), Sent());
        Answer(coordinator, DeletedOriginal, 1, 3);
        Assert.Equal(Commands(id => new Delete(id), 1, 3), Sent());
        Answer(coordinator, RepeatAbsorbed, 1, 3);

        var finished = _watcher.ExpectMsg<BatchFinished>();
        Assert.Equal([1, 2, 3], Numbers(finished.Messages));
        Assert.Equal([2], Numbers(finished.HandedBack));
    }

    [Fact]
    public void Should_send_nothing_more_to_a_message_whose_file_is_gone_and_not_report_it_as_handed_back()
    {
        var coordinator = Start();
        StartBatch(coordinator, 1, 2);

        Answer(coordinator, id => new Absorbed(id, nameof(Scan), "the file is gone"), 2);

        var finished = Finish(coordinator, 1); // which checks that each later stage is sent to 1 alone
        Assert.Equal([1, 2], Numbers(finished.Messages));
        Assert.Empty(finished.HandedBack);
    }

    // ---- Stage jitter and restarts -----------------------------------------------------------------------------

    [Fact]
    public void Should_wait_no_longer_than_the_stage_jitter_before_the_next_stage()
    {
        var jitter = TimeSpan.FromHours(1); // long enough that the random wait is never zero
        var coordinator = Start(Defaults with { StageJitter = jitter });
        StartBatch(coordinator, 1);

        Answer(coordinator, ScannedClean, 1);
        Assert.Empty(Sent());

        Clock.Advance(jitter);
        Assert.Equal(Commands(id => new Clean(id), 1), Sent());
    }

    [Fact]
    public void Should_tell_the_watcher_when_it_restarts_and_start_again_with_nothing()
    {
        var parent = Sys.ActorOf(Props.Create(() => new RestartingParent()));
        parent.Tell(BatchCoordinator.PropsFor(Defaults, _messages.Ref, _watcher.Ref, _counters));
        var coordinator = ExpectMsg<IActorRef>();
        Enqueue(coordinator, 1, 2, 3);
        Assert.Equal(3, _messages.ReceiveN(3).Count);

        coordinator.Tell(Kill.Instance);

        _watcher.ExpectMsg<CoordinatorRestarted>();
        Assert.Equal(coordinator, _watcher.LastSender); // the watcher gives the messages back to whoever says so
        // The batch is gone: a late answer to it moves nothing on; the watcher's Enqueues start a new one.
        Answer(coordinator, ScannedClean, 1, 2, 3);
        Enqueue(coordinator, 1, 2, 3);
        Assert.Equal(Commands(id => new Scan(id), 1, 2, 3), Order(_messages.ReceiveN(3)));
    }

    // ---- Clustered: a node's own coordinator, serving the watcher singleton ------------------------------------

    [Fact]
    public void Should_register_with_the_watcher_and_take_messages_only_from_the_watcher_that_answered()
    {
        var (proxy, watcher, coordinator) = StartRegistered(Guid.NewGuid());

        // An Enqueue from anyone else (a watcher that ended, an earlier incarnation) starts nothing.
        var stranger = CreateTestProbe("earlier-watcher");
        foreach (var n in new[] { 7, 8, 9 }) coordinator.Tell(new Enqueue(Id(n), "x", 100), stranger.Ref);
        Assert.Empty(Sent());

        foreach (var n in new[] { 1, 2, 3 }) coordinator.Tell(new Enqueue(Id(n), "x", 100), watcher.Ref);
        Assert.Equal(Commands(id => new Scan(id), 1, 2, 3), Sent());
        var finished = FinishFor(watcher, coordinator, 1, 2, 3);

        Assert.Equal([1, 2, 3], Numbers(finished.Messages));
        proxy.ExpectNoMsg(TimeSpan.Zero); // the batch's end goes to the watcher itself, not through the proxy
    }

    [Fact]
    public void Should_drop_its_batches_when_another_watcher_incarnation_answers()
    {
        var first = Guid.NewGuid();
        var (_, watcher, coordinator) = StartRegistered(first);
        foreach (var n in new[] { 1, 2, 3 }) coordinator.Tell(new Enqueue(Id(n), "x", 100), watcher.Ref);
        Assert.Equal(Commands(id => new Scan(id), 1, 2, 3), Sent());

        // The watcher restarted in place: same actor, another incarnation, which re-admits every claim itself.
        var second = Guid.NewGuid();
        coordinator.Tell(new Registered(second), watcher.Ref);
        Answer(coordinator, ScannedClean, 1, 2, 3);
        Assert.Empty(Sent());

        foreach (var n in new[] { 1, 2, 3 }) coordinator.Tell(new Enqueue(Id(n), "x", 100), watcher.Ref);
        Assert.Equal(Commands(id => new Scan(id), 1, 2, 3), Sent());
        Assert.Equal(second, FinishFor(watcher, coordinator, 1, 2, 3).Watcher);
    }

    [Fact]
    public void Should_drop_its_batches_when_the_watcher_it_serves_terminates()
    {
        var (_, watcher, coordinator) = StartRegistered(Guid.NewGuid());
        foreach (var n in new[] { 1, 2, 3 }) coordinator.Tell(new Enqueue(Id(n), "x", 100), watcher.Ref);
        Assert.Equal(Commands(id => new Scan(id), 1, 2, 3), Sent());

        EventFilter.Warning(contains: "batches are dropped").ExpectOne(() => Sys.Stop(watcher.Ref));

        Answer(coordinator, ScannedClean, 1, 2, 3);
        Assert.Empty(Sent());
    }

    /// <summary>A coordinator that registers (through <c>proxy</c>) and is answered by <c>watcher</c> with <paramref name="incarnation"/>.</summary>
    private (TestProbe Proxy, TestProbe Watcher, IActorRef Coordinator) StartRegistered(Guid incarnation)
    {
        var proxy = CreateTestProbe("watcher-proxy");
        var watcher = CreateTestProbe("watcher-singleton");
        var coordinator = ActorOfAsTestActorRef<BatchCoordinator>(BatchCoordinator.PropsFor(Defaults, _messages.Ref, proxy.Ref, _counters, registers: true));
        proxy.ExpectMsg<Register>();
        coordinator.Tell(new Registered(incarnation), watcher.Ref);
        return (proxy, watcher, coordinator);
    }

    // ---- Helpers -----------------------------------------------------------------------------------------------

    /// <summary>A coordinator on the calling thread (a TestActorRef), so that it has handled each message before the Tell returns.</summary>
    private IActorRef Start(BatchSettings? settings = null) =>
        ActorOfAsTestActorRef<BatchCoordinator>(BatchCoordinator.PropsFor(settings ?? Defaults, _messages.Ref, _watcher.Ref, _counters));

    private static FileIdentity Id(int n) => new(0x801, (ulong)n, 7);

    private static IEnumerable<int> Numbers(IEnumerable<FileIdentity> identities) => identities.Select(i => (int)i.Inode).Order();

    private static void Enqueue(IActorRef coordinator, params int[] ns) => EnqueueSized(coordinator, 100, ns);

    private static void EnqueueSized(IActorRef coordinator, long size, params int[] ns)
    {
        foreach (var n in ns) coordinator.Tell(new Enqueue(Id(n), n.ToString(System.Globalization.CultureInfo.InvariantCulture), size));
    }

    /// <summary>Replies as the MessageActors of <paramref name="ns"/> would, one reply per number.</summary>
    private void Answer(IActorRef coordinator, Func<FileIdentity, object> reply, params int[] ns)
    {
        foreach (var n in ns) coordinator.Tell(reply(Id(n)), _messages.Ref);
    }

    /// <summary>Enqueues <paramref name="ns"/> and flushes: the batch starts, its Scan commands are sent.</summary>
    private void StartBatch(IActorRef coordinator, params int[] ns)
    {
        Enqueue(coordinator, ns);
        coordinator.Tell(Flush.Instance);
        Assert.Equal(Commands(id => new Scan(id), ns), Sent());
    }

    private static Scanned ScannedClean(FileIdentity id) => new(id, Verdict.Clean);
    private static Cleaned CleanedForDelivery(FileIdentity id) => new(id, MessageAction.Deliver);
    private static Delivered Delivered(FileIdentity id) => new(id, MessageAction.Deliver, $"/queue/outgoing/{id.Inode}", null);
    private static Deleted DeletedOriginal(FileIdentity id) => new(id);
    private static Absorbed RepeatAbsorbed(FileIdentity id) => new(id, nameof(Delete), "already deleted");

    /// <summary>Answers the Scan already sent to <paramref name="ns"/>, and the Clean that follows.</summary>
    private void DriveThroughClean(IActorRef coordinator, params int[] ns)
    {
        Answer(coordinator, ScannedClean, ns);
        Assert.Equal(Commands(id => new Clean(id), ns), Sent());
        Answer(coordinator, CleanedForDelivery, ns);
    }

    private void DriveThroughDelivery(IActorRef coordinator, params int[] ns)
    {
        DriveThroughClean(coordinator, ns);
        Assert.Equal(Commands(id => new Deliver(id), ns), Sent());
        Answer(coordinator, Delivered, ns);
    }

    /// <summary>Takes the batch of <paramref name="ns"/>, scan commands sent, through every stage to its BatchFinished.</summary>
    private BatchFinished Finish(IActorRef coordinator, params int[] ns) => FinishFor(_watcher, coordinator, ns);

    /// <summary><see cref="Finish"/>, for a coordinator that reports to <paramref name="watcher"/>.</summary>
    private BatchFinished FinishFor(TestProbe watcher, IActorRef coordinator, params int[] ns)
    {
        DriveThroughDelivery(coordinator, ns);
        Assert.Equal(Commands(id => new Delete(id), ns), Sent());
        Answer(coordinator, DeletedOriginal, ns);
        Assert.Equal(Commands(id => new Delete(id), ns), Sent());
        Answer(coordinator, RepeatAbsorbed, ns);
        return watcher.ExpectMsg<BatchFinished>();
    }

    /// <summary>Everything the coordinator has sent to the MessageActors so far, in a stable order (it sends a stage's commands in no particular order).</summary>
    private List<object> Sent()
    {
        var sent = new List<object>();
        while (_messages.HasMessages) sent.Add(_messages.ReceiveOne(TimeSpan.FromSeconds(1))!);
        return Order(sent);
    }

    private static List<object> Commands(Func<FileIdentity, object> command, params int[] ns) => Order(ns.Select(n => command(Id(n))));

    private static List<object> Order(IEnumerable<object> messages) => messages.OrderBy(m => m.ToString(), StringComparer.Ordinal).ToList();

    /// <summary>Supervises as the QueueWatcher does (restart on any exception) and answers with the child it starts.</summary>
    private sealed class RestartingParent : ReceiveActor
    {
        public RestartingParent() => Receive<Props>(props => Sender.Tell(Context.ActorOf(props)));

        protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(_ => Directive.Restart);
    }
}
