using System.Globalization;
using System.Text;
using Akka.Actor;
using Akka.TestKit.Xunit2;
using MailScanner.Actors.Delivery;
using MailScanner.Actors.Identity;
using MailScanner.Actors.Messages;
using MailScanner.Actors.Metrics;
using MailScanner.Actors.Policy;
using MailScanner.Actors.Quarantine;
using MailScanner.Actors.Queue;
using MailScanner.Actors.Scanning.Rules;
using MailScanner.Actors.Scanning;
using MailScanner.Actors.Tests.Pipeline;
using Xunit;
using static MailScanner.Actors.Messages.MessageCommands;
using static MailScanner.Actors.Messages.MessageReplies;

namespace MailScanner.Actors.Tests.Messages;

public sealed class MessageActorSpecs : TestKit
{
    private const string Eicar = @"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

    private readonly GatewayTestbed _bed = new();
    private readonly DurabilityBarrier _outgoingBarrier;
    private readonly PipelineCounters _counters = new();
    private readonly DeferredCloser _closer = new();
    private readonly IActorRef _messages;

    public MessageActorSpecs() : base("akka.loglevel = WARNING")
    {
        _outgoingBarrier = new DurabilityBarrier(_bed.Outgoing);
        var workspace = new MessageWorkspace(ZMailerFormat.Instance, _bed.Work, _bed.Bad,
            new QueueDirectoryWriter(_bed.Outgoing, _outgoingBarrier, ZMailerFormat.Instance),
            new QuarantineStore(_bed.Quarantine),
            RuleSettings.Default,
            Rulesets.Default,
            Array.Empty<IActorRef>(),
            _closer,
            _counters);
        _messages = Sys.ActorOf(MessageRegion.PropsFor(MessageActor.PropsFor(workspace)), "messages");
    }

    [Fact]
    public void Should_replay_the_seed_interleaving_and_lose_nothing()
    {
        // 1) Process X batches router/N and (2) deletes it after delivering it.
        // 3) The MTA writes a new message; Linux hands it the freed inode, so it gets the very same name.
        //    (Another process on the machine may grab the freed inode first; then the round is simply repeated.)
        string xPath = "", yPath = "";
        FileIdentity x = default, y = default;
        var rounds = 0;
        while (rounds++ < 200)
        {
            (xPath, x) = _bed.Enqueue("message of process X");
            RunThroughDelivery(x, xPath);
            _messages.Tell(new Delete(x));
            ExpectMsg<Deleted>();
            (yPath, y) = _bed.Enqueue("message of process Y");
            if (y.Inode == x.Inode) break;
            RunThroughDelivery(y, yPath);
            _messages.Tell(new Delete(y));
            ExpectMsg<Deleted>();
        }
        Assert.Equal(xPath, yPath);
        Assert.Equal(x.Inode, y.Inode);
        Assert.NotEqual(x, y);

        // 4) Process Y batches the new file.
        _messages.Tell(new Admit(y, yPath));
        ExpectMsg<Admitted>();
        _messages.Tell(new Scan(y));
        ExpectMsg<Scanned>();

        // 5) X's repeated delete arrives: it is absorbed, and Y's file is untouched.
        _messages.Tell(new Delete(x));
        var absorbed = ExpectMsg<Absorbed>();
        Assert.Equal(x, absorbed.Identity);
        Assert.True(File.Exists(_bed.WorkPathOf(y)));

        // 6) Y goes on and delivers its message.
        _messages.Tell(new Clean(y));
        ExpectMsg<Cleaned>();
        _messages.Tell(new Deliver(y));
        ExpectMsg<Delivered>();
        _messages.Tell(new Delete(y));
        ExpectMsg<Deleted>();

        var delivered = GatewayTestbed.QueueFiles(_bed.Outgoing).Select(File.ReadAllText).ToList();
        Assert.Equal(2 * rounds, delivered.Count);
        Assert.Contains(delivered, text => text.Contains("message of process X"));
        Assert.Contains(delivered, text => text.Contains("message of process Y"));
        Assert.Empty(GatewayTestbed.AllEntries(_bed.Incoming));
        Assert.Empty(GatewayTestbed.AllEntries(_bed.Work));
        Assert.Equal(1, _counters.Absorbed);
    }

    [Fact]
    public void Should_absorb_delete_after_file_is_gone()
    {
        var (path, id) = _bed.Enqueue("hello");
        RunThroughDelivery(id, path);
        _messages.Tell(new Delete(id));
        ExpectMsg<Deleted>();

        _messages.Tell(new Delete(id));
        _messages.Tell(new Delete(id));
        Assert.Equal("Delete", ExpectMsg<Absorbed>().Command);
        Assert.Equal("Delete", ExpectMsg<Absorbed>().Command);
        Assert.Single(GatewayTestbed.QueueFiles(_bed.Outgoing));
        Assert.Equal(2, _counters.Absorbed);
    }

    [Fact]
    public void Should_absorb_a_command_for_an_identity_that_has_no_actor()
    {
        var (path, id) = _bed.Enqueue("never admitted");
        _messages.Tell(new Delete(id));
        var absorbed = ExpectMsg<Absorbed>();
        Assert.Contains("no such message", absorbed.Why);
        Assert.True(File.Exists(path));
    }

    [Fact]
    public void Should_refuse_delete_before_delivery_and_keep_the_original()
    {
        var (path, id) = _bed.Enqueue("not yet");
        _messages.Tell(new Admit(id, path));
        ExpectMsg<Admitted>();
        _messages.Tell(new Delete(id));
        ExpectMsg<NotReady>();
        Assert.True(File.Exists(_bed.WorkPathOf(id)));
        Assert.Empty(GatewayTestbed.QueueFiles(_bed.Outgoing));
    }

    [Fact]
    public void Should_absorb_admit_when_the_name_now_holds_a_newer_file()
    {
        var (path, old) = _bed.Enqueue("old");
        File.Delete(path);
        // Whether or not the kernel hands the new file the same inode, the name now holds another file.
        var (newPath, newer) = _bed.Enqueue("new");
        if (newPath != path) File.Move(newPath, path);

        _messages.Tell(new Admit(old, path));
        ExpectMsg<Absorbed>();
        Assert.True(File.Exists(path));
        Assert.Equal(newer, NativeFile.TryGetIdentity(path));
    }

    [Fact]
    public void Should_name_the_delivered_file_after_its_own_inode_and_leave_no_temp()
    {
        var (path, id) = _bed.Enqueue("hello");
        RunThroughDelivery(id, path);
        var delivered = Assert.Single(GatewayTestbed.AllEntries(_bed.Outgoing));
        var written = NativeFile.TryGetIdentity(delivered)!.Value;
        Assert.Equal(written.Inode.ToString(CultureInfo.InvariantCulture), Path.GetFileName(delivered));
    }

    [Fact]
    public void Should_quarantine_a_message_with_eicar_in_a_base64_attachment()
    {
        var attachment = Convert.ToBase64String(Encoding.ASCII.GetBytes(Eicar), Base64FormattingOptions.InsertLineBreaks);
        var body = "--b1\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n" +
                   "--b1\r\nContent-Type: application/octet-stream; name=\"eicar.com\"\r\nContent-Transfer-Encoding: base64\r\n" +
                   $"Content-Disposition: attachment; filename=\"eicar.com\"\r\n\r\n{attachment}\r\n--b1--";
        var content = Encoding.ASCII.GetBytes("from <a@example.org>\nto <b@example.com>\nenv-end\n" +
                      "From: a@example.org\r\nTo: b@example.com\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n" + body);
        var (path, id) = _bed.EnqueueRaw(content);

        _messages.Tell(new Admit(id, path));
        ExpectMsg<Admitted>();
        _messages.Tell(new Scan(id));
        var scanned = ExpectMsg<Scanned>();
        Assert.Equal(VerdictKind.Infected, scanned.Verdict.Kind);
        Assert.Contains("eicar.com", scanned.Verdict.ToString());
        _messages.Tell(new Clean(id));
        Assert.Equal(MessageAction.DeliverCleaned, ExpectMsg<Cleaned>().Action);
        _messages.Tell(new Deliver(id));
        var delivered = ExpectMsg<Delivered>();
        _messages.Tell(new Delete(id));
        ExpectMsg<Deleted>();

        // MailScanner's default for a virus: deliver the message with the infected part replaced by a warning,
        // and keep the original in quarantine.
        var cleaned = File.ReadAllText(Assert.Single(GatewayTestbed.AllEntries(_bed.Outgoing)));
        Assert.DoesNotContain(attachment.Split('\n')[0].Trim(), cleaned);
        Assert.Contains("eicar.com", cleaned);
        Assert.Contains("X-MailScanner-Actors: infected", cleaned);
        Assert.Contains("{Virus?}", cleaned);
        Assert.Equal(content, File.ReadAllBytes(Path.Combine(delivered.QuarantinePath!, QuarantineStore.QueueFileName)));
        Assert.StartsWith(_bed.Quarantine, delivered.QuarantinePath);
    }

    [Fact]
    public void Should_deliver_a_message_whose_text_merely_mentions_eicar()
    {
        var (path, id) = _bed.Enqueue("We discussed the EICAR-STANDARD test file at lunch.");
        _messages.Tell(new Admit(id, path));
        ExpectMsg<Admitted>();
        _messages.Tell(new Scan(id));
        Assert.Equal(VerdictKind.Clean, ExpectMsg<Scanned>().Verdict.Kind);
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("from <a@example.org>\nto <b@example.com>\n", "env-end")]
    [InlineData("from <a@example.org>\nenv-end\nSubject: x\n\nbody\n", "recipient")]
    [InlineData("\u0000\u0001\u0002garbage\u00ff\u00fe", "")]
    public void Should_move_a_malformed_queue_file_to_the_bad_directory(string content, string reasonMentions)
    {
        var bytes = Encoding.Latin1.GetBytes(content);
        var (path, id) = _bed.EnqueueRaw(bytes);

        _messages.Tell(new Admit(id, path));
        var refused = ExpectMsg<Refused>();
        Assert.Contains(reasonMentions, refused.Reason, StringComparison.OrdinalIgnoreCase);
        var moved = Assert.Single(GatewayTestbed.AllEntries(_bed.Bad));
        Assert.Equal(bytes, File.ReadAllBytes(moved));
        Assert.Empty(GatewayTestbed.AllEntries(_bed.Incoming));
        Assert.Empty(GatewayTestbed.AllEntries(_bed.Outgoing));
    }

    [Fact]
    public void Should_tell_the_operator_in_one_log_line_why_a_queue_file_was_moved_aside()
    {
        var (path, id) = _bed.EnqueueRaw(Encoding.ASCII.GetBytes("from <a@example.org>\nto <b@example.com>\n"));
        var queueId = Path.GetFileName(path);

        EventFilter.Warning(contains: $"Queue file {queueId}").ExpectOne(() =>
        {
            _messages.Tell(new Admit(id, path));
            ExpectMsg<Refused>();
        });
    }

    [Fact]
    public void Should_move_a_file_whose_name_is_not_its_inode_to_the_bad_directory()
    {
        var (path, _) = _bed.Enqueue("renamed by someone");
        var wrongName = Path.Combine(_bed.Incoming, "1");
        File.Move(path, wrongName);
        var id = NativeFile.TryGetIdentity(wrongName)!.Value;

        _messages.Tell(new Admit(id, wrongName));
        Assert.Contains("inode", ExpectMsg<Refused>().Reason);
        Assert.Single(GatewayTestbed.AllEntries(_bed.Bad));
    }

    private void RunThroughDelivery(FileIdentity id, string path)
    {
        _messages.Tell(new Admit(id, path));
        ExpectMsg<Admitted>();
        _messages.Tell(new Scan(id));
        ExpectMsg<Scanned>();
        _messages.Tell(new Clean(id));
        ExpectMsg<Cleaned>();
        _messages.Tell(new Deliver(id));
        ExpectMsg<Delivered>();
    }

    protected override void AfterAll()
    {
        base.AfterAll();
        _outgoingBarrier.Dispose();
        _closer.Dispose();
        _bed.Dispose();
    }
}
