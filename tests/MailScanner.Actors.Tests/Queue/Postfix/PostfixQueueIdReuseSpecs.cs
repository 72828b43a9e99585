using System.Runtime.Versioning;
using System.Text;
using Akka.Actor;
using Akka.TestKit.Xunit2;
using MailScanner.Actors.Delivery;
using MailScanner.Actors.Identity;
using MailScanner.Actors.Messages;
using MailScanner.Actors.Metrics;
using MailScanner.Actors.Policy;
using MailScanner.Actors.Quarantine;
using MailScanner.Actors.Queue.Postfix;
using MailScanner.Actors.Scanning.Rules;
using MailScanner.Actors.Tests.TestSupport;
using Xunit;
using static MailScanner.Actors.Messages.MessageCommands;
using static MailScanner.Actors.Messages.MessageReplies;
using SinkFile = MailScanner.Actors.Tests.Queue.Postfix.PostfixQueueEndToEndSpecs.SinkFile;

namespace MailScanner.Actors.Tests.Queue.Postfix;

/// <summary>
/// The seed report's interleaving on a real Postfix: short queue ids carry the inode number, so a hold file written
/// right after one was processed and deleted can get its inode and, in the same microsecond, its very queue id. Stale
/// commands for the old file (a repeated Admit by its name, Scan, Deliver, Delete) arrive while the new one is in
/// flight; each is absorbed, the new file is never touched by them, and Postfix delivers both messages exactly once.
/// The queue is on ext4, which hands the freed inode number to the next new file; the clock of the writer that plays
/// Postfix's cleanup stands still, so the same inode means the same id.
/// </summary>
[Collection(ScannerDaemonCollection.Name)]
[SupportedOSPlatform("linux")]
public sealed class PostfixQueueIdReuseSpecs : TestKit
{
    private static readonly DateTimeOffset FrozenNow = new(2026, 3, 4, 5, 6, 7, TimeSpan.Zero);
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    public PostfixQueueIdReuseSpecs() : base("akka.loglevel = WARNING") { }

    [Fact]
    public async Task Should_absorb_stale_commands_for_a_processed_hold_file_whose_inode_and_queue_id_a_new_one_took()
    {
        await using var postfix = await PostfixInstance.StartAsync(new PostfixInstanceOptions(FileSystem: TempDirectory.Ext4));
        var layout = postfix.Layout;
        var format = new PostfixFormat(layout);
        var counters = new PipelineCounters();
        using var closer = new DeferredCloser();
        var work = Directory.CreateDirectory(Path.Combine(postfix.Directory, "mailscanner-work")).FullName;
        var workspace = new MessageWorkspace(format, work, Directory.CreateDirectory(Path.Combine(postfix.Directory, "mailscanner-bad")).FullName,
            new QueueDirectoryWriter(layout.IncomingDirectory, new DurabilityBarrier(layout.IncomingDirectory), format),
            new QuarantineStore(Directory.CreateDirectory(Path.Combine(postfix.Directory, "mailscanner-quarantine")).FullName),
            RuleSettings.Default, Rulesets.Default, Array.Empty<IActorRef>(), closer, counters);
        var messages = Sys.ActorOf(MessageRegion.PropsFor(MessageActor.PropsFor(workspace)), "messages");
        var cleanup = new PostfixMailQueue(layout, new FrozenClock());
        var sent = new List<string>();
        PostfixEnteredFile Hold(string marker)
        {
            sent.Add(marker);
            var envelope = new PostfixEnvelope(PostfixArrivalTime.From(FrozenNow), "alice@example.org", [new PostfixRecipient("bob@example.net")], [], []);
            return cleanup.Enter(PostfixQueueFileWriter.Format(envelope, Encoding.ASCII.GetBytes($"From: alice@example.org\nSubject: {marker}\nX-Marker: {marker}\n\n{marker}\n")), PostfixQueueLayout.Hold);
        }
        void RunThroughDeletion(PostfixEnteredFile file)
        {
            messages.Tell(new Admit(file.Identity, file.Path));
            ExpectMsg<Admitted>();
            foreach (var command in new IWithFileIdentity[] { new Scan(file.Identity), new Clean(file.Identity), new Deliver(file.Identity), new Delete(file.Identity) })
            {
                messages.Tell(command);
                ExpectMsg<object>(reply => reply is Scanned or Cleaned or Delivered or Deleted);
            }
        }

        // 1) X is held, processed and deleted. 2) cleanup writes a new hold file: ext4 hands it X's freed inode, and with
        // the clock standing still it gets X's queue id too. (Postfix itself may take the inode first; then another round.)
        PostfixEnteredFile x, y;
        var round = 0;
        while (true)
        {
            Assert.True(++round <= 500, "no new hold file took the inode of the one just deleted in 500 rounds");
            x = Hold($"x{round}");
            RunThroughDeletion(x);
            y = Hold($"y{round}");
            if (y.Identity.Inode == x.Identity.Inode) break;
            RunThroughDeletion(y);
        }
        Assert.Equal(x.QueueId, y.QueueId);
        Assert.Equal(x.Path, y.Path);
        Assert.NotEqual(x.Identity, y.Identity);

        // 3) A stale Admit for X by its name races Y's own: only Y's is taken; X's finds a file that is not its own.
        messages.Tell(new Admit(x.Identity, x.Path));
        messages.Tell(new Admit(y.Identity, y.Path));
        var replies = ReceiveN(2).ToList();
        Assert.Single(replies.OfType<Admitted>(), admitted => admitted.Identity == y.Identity && admitted.QueueId == y.QueueId);
        Assert.Single(replies.OfType<Absorbed>(), absorbed => absorbed.Identity == x.Identity);
        var yClaimed = Path.Combine(work, MailScanner.Actors.Queue.WorkArea.EntryName(y.Identity, y.QueueId));

        // 4) While Y is scanned, X's repeated Scan, Deliver and Delete arrive: absorbed, Y's claimed file untouched.
        messages.Tell(new Scan(y.Identity));
        messages.Tell(new Scan(x.Identity));
        messages.Tell(new Deliver(x.Identity));
        messages.Tell(new Delete(x.Identity));
        replies = ReceiveN(4).ToList();
        Assert.Single(replies.OfType<Scanned>(), scanned => scanned.Identity == y.Identity);
        Assert.Equal(["Delete", "Deliver", "Scan"], replies.OfType<Absorbed>().Where(a => a.Identity == x.Identity).Select(a => a.Command).Order());
        Assert.Equal(y.Identity, NativeFile.TryGetIdentity(yClaimed));

        // 5) Y goes on and is delivered; one more stale Delete for X races Y's own.
        messages.Tell(new Clean(y.Identity));
        ExpectMsg<Cleaned>();
        messages.Tell(new Deliver(y.Identity));
        ExpectMsg<Delivered>();
        messages.Tell(new Delete(x.Identity));
        messages.Tell(new Delete(y.Identity));
        replies = ReceiveN(2).ToList();
        Assert.Single(replies.OfType<Deleted>(), deleted => deleted.Identity == y.Identity);
        Assert.Single(replies.OfType<Absorbed>(), absorbed => absorbed.Identity == x.Identity);

        // Nothing lost, nothing twice: Postfix delivers every message of every round exactly once.
        var sink = new CompleteSinkFiles(postfix);
        await Eventually.Holds(() => sink.Count() >= sent.Count && postfix.QueueFiles("incoming").Count == 0 && postfix.QueueFiles("active").Count == 0,
            Patience, () => $"Postfix to deliver all {sent.Count} ({postfix.SinkFiles().Count} so far); log:\n{postfix.Log()}");
        var delivered = postfix.SinkFiles().Select(path => SeqMarker(SinkFile.Read(path).Message)).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(sent.Order(StringComparer.Ordinal), delivered);
        Assert.Empty(postfix.QueueFiles("hold"));
        Assert.Empty(Directory.EnumerateFileSystemEntries(work));
        Assert.Equal(5, counters.Absorbed);
        Assert.DoesNotContain(postfix.Log().Split('\n'), line => line.Contains("warning", StringComparison.Ordinal) || line.Contains("fatal", StringComparison.Ordinal));
    }

    private static string SeqMarker(string message) =>
        message.Split('\n').Single(line => line.StartsWith("X-Marker: ", StringComparison.Ordinal))["X-Marker: ".Length..];

    /// <summary>The writer's clock stands still, so two files with one inode number get one queue id.</summary>
    private sealed class FrozenClock : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => FrozenNow;
    }
}
