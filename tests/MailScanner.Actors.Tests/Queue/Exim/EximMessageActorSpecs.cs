using Akka.Actor;
using Akka.TestKit.Xunit2;
using MailScanner.Actors.Delivery;
using MailScanner.Actors.Identity;
using MailScanner.Actors.Messages;
using MailScanner.Actors.Metrics;
using MailScanner.Actors.Policy;
using MailScanner.Actors.Quarantine;
using MailScanner.Actors.Queue;
using MailScanner.Actors.Queue.Exim;
using MailScanner.Actors.Scanning.Rules;
using MailScanner.Actors.Tests.Pipeline;
using Xunit;
using static MailScanner.Actors.Messages.MessageCommands;
using static MailScanner.Actors.Messages.MessageReplies;

namespace MailScanner.Actors.Tests.Queue.Exim;

/// <summary>
/// A MessageActor on a two-file entry (Exim's -H with its -D): it takes both files, gives both back, writes both and
/// deletes both, and knows nothing of Exim to do it.
/// </summary>
public sealed class EximMessageActorSpecs : TestKit
{
    private const string Id = EximSpoolSpecs.ShortId;
    private readonly GatewayTestbed _bed = new();
    private readonly DurabilityBarrier _outgoingBarrier;
    private readonly IActorRef _messages;

    public EximMessageActorSpecs() : base("akka.loglevel = WARNING")
    {
        var format = new EximFormat(EximQueueOptions.Default with { User = Environment.UserName });
        _outgoingBarrier = new DurabilityBarrier(_bed.Outgoing);
        var workspace = new MessageWorkspace(format, _bed.Work, _bed.Bad,
            new QueueDirectoryWriter(_bed.Outgoing, _outgoingBarrier, format.Outgoing),
            new QuarantineStore(_bed.Quarantine), RuleSettings.Default, Rulesets.Default, Array.Empty<IActorRef>(), new DeferredCloser(), new PipelineCounters());
        _messages = Sys.ActorOf(MessageRegion.PropsFor(MessageActor.PropsFor(workspace)), "messages");
    }

    private (string HeaderPath, FileIdentity Identity) Queue()
    {
        File.WriteAllText(Path.Combine(_bed.Incoming, $"{Id}-D"), EximSpoolSpecs.Data(Id));
        var header = Path.Combine(_bed.Incoming, $"{Id}-H");
        File.WriteAllText(header, EximSpoolSpecs.FixReceivedLength(EximSpoolSpecs.Header(Id)));
        return (header, NativeFile.TryGetIdentity(header)!.Value);
    }

    private static string[] Names(string directory) => Directory.GetFiles(directory, "*", SearchOption.AllDirectories).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray()!;

    [Fact]
    public void Should_claim_the_D_file_with_its_H_file_and_hand_both_back()
    {
        var (header, identity) = Queue();
        _messages.Tell(new Admit(identity, header));
        Assert.Equal(Id + "-H", ExpectMsg<Admitted>().QueueId);
        Assert.Empty(Names(_bed.Incoming));
        Assert.Equal([WorkArea.CompanionEntryName(identity, $"{Id}-D"), WorkArea.EntryName(identity, $"{Id}-H")], Names(_bed.Work));

        _messages.Tell(new LetGo(identity));
        Assert.True(ExpectMsg<HandedBack>().InIncomingQueue);
        Assert.Equal([$"{Id}-D", $"{Id}-H"], Names(_bed.Incoming));
        Assert.Equal(identity, NativeFile.TryGetIdentity(header));
        Assert.Empty(Names(_bed.Work));
    }

    [Fact]
    public void Should_write_the_D_file_and_the_H_file_and_delete_both_originals()
    {
        var (header, identity) = Queue();
        _messages.Tell(new Admit(identity, header));
        ExpectMsg<Admitted>();
        _messages.Tell(new Scan(identity));
        ExpectMsg<Scanned>();
        _messages.Tell(new Clean(identity));
        ExpectMsg<Cleaned>();
        _messages.Tell(new Deliver(identity));
        Assert.Equal(Path.Combine(_bed.Outgoing, $"{Id}-H"), ExpectMsg<Delivered>().OutgoingPath);
        Assert.Equal([$"{Id}-D", $"{Id}-H"], Names(_bed.Outgoing));
        Assert.StartsWith($"{Id}-D\nbody line 1\n", File.ReadAllText(Path.Combine(_bed.Outgoing, $"{Id}-D")), StringComparison.Ordinal);

        _messages.Tell(new Delete(identity));
        ExpectMsg<Deleted>();
        Assert.Empty(Names(_bed.Work));
        Assert.Empty(Names(_bed.Incoming));
    }

    [Fact]
    public void Should_move_a_malformed_pair_aside_whole()
    {
        var (header, identity) = Queue();
        File.WriteAllText(Path.Combine(_bed.Incoming, $"{Id}-D"), "1xZLdR-0003jd-0b-D\nsomeone else's body\n");
        _messages.Tell(new Admit(identity, header));
        Assert.Contains("-D file does not start with its own name", ExpectMsg<Refused>().Reason, StringComparison.Ordinal);
        Assert.Equal([$"{Id}-D.{identity.Key}", $"{Id}-H.{identity.Key}"], Names(_bed.Bad));
        Assert.Empty(Names(_bed.Work));
        Assert.Empty(Names(_bed.Incoming));
    }

    protected override void AfterAll()
    {
        base.AfterAll();
        _outgoingBarrier.Dispose();
        _bed.Dispose();
    }
}
