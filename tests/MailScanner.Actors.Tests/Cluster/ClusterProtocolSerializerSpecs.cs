using Akka.Actor;
using MailScanner.Actors.Batching;
using MailScanner.Actors.Cluster;
using MailScanner.Actors.Identity;
using MailScanner.Actors.Journal;
using MailScanner.Actors.Messages;
using MailScanner.Actors.Policy;
using MailScanner.Actors.Queue;
using MailScanner.Actors.Scanning;
using Xunit;

namespace MailScanner.Actors.Tests.Cluster;

/// <summary>Everything that crosses the network between nodes makes the round trip through the cluster serializer.</summary>
public sealed class ClusterProtocolSerializerSpecs : IDisposable
{
    private static readonly FileIdentity Id = new(0x8000_0000_dead_beefUL, 4242, 0xabc);
    private static readonly DeliveryIntent Intent = new(VerdictKind.Infected, ["Eicar-Signature in a.com"], MessageAction.DeliverCleaned,
        new StagedName("/q/out/tf-1", "5555", "801-5555-def"), new StagedName("/q/quarantine/.staging-1", "20250101-abc", null));

    /// <summary>One of each; <see cref="Should_have_an_example_of_every_protocol_record"/> keeps the list complete.</summary>
    private static readonly object[] Examples =
    [
        new MessageCommands.Admit(Id, "/q/router/4242"), new MessageCommands.Recover(Id, "/q/work/x.4242", "/q/router/4242"),
        new MessageCommands.Scan(Id), new MessageCommands.Clean(Id), new MessageCommands.Deliver(Id), new MessageCommands.Delete(Id),
        new MessageCommands.LetGo(Id),
        new MessageReplies.Admitted(Id, "4242", 1234), new MessageReplies.Refused(Id, "4242", "no env-end"),
        new MessageReplies.Scanned(Id, new Verdict(VerdictKind.Spam, ["spamd: 7.1/5.0"])), new MessageReplies.Cleaned(Id, MessageAction.Store),
        new MessageReplies.Delivered(Id, MessageAction.Deliver, "/q/out/5555", null), new MessageReplies.Deleted(Id),
        new MessageReplies.Absorbed(Id, "Delete", "gone"), new MessageReplies.NotReady(Id, "Delete", "not delivered yet"),
        new MessageReplies.HandedBack(Id, true), new MessageReplies.Failed(Id, "Deliver", "disk full"),
        new MessageJournalProtocol.BeginAttempt(Id, "4242"), new MessageJournalProtocol.AttemptBegun(Id, 2, Intent),
        new MessageJournalProtocol.RecordDelivery(Id, Intent), new MessageJournalProtocol.DeliveryRecorded(Id),
        new MessageJournalProtocol.AttemptAbandoned(Id), new MessageJournalProtocol.Finished(Id), new MessageJournalProtocol.Lookup(Id),
        new MessageJournalProtocol.Entry(Id, 3, null), MessageJournalProtocol.GetInterrupted.Instance,
        new MessageJournalProtocol.Interrupted(new Dictionary<string, int> { [Id.Key] = 2 }), MessageJournalProtocol.GetSize.Instance,
        new MessageJournalProtocol.Size(7, 99), new MessageJournalProtocol.Unavailable("the message journal is restarting after its database failed"),
        new JournalRelayProtocol.RelayedRequests(7, [new RelayedBegin(1, Id, "4242")], [new RelayedRecord(2, Id, Intent)], [Id], [Id]),
        new JournalRelayProtocol.RelayedAnswers(7, [new RelayedAttemptBegun(1, new MessageJournalProtocol.AttemptBegun(Id, 1, null))],
            [new RelayedDeliveryRecorded(2, Id)], [new RelayedRefusal(3, "the message journal could not write: disk full")]),
        QueueWatcherProtocol.ScanQueue.Instance, QueueWatcherProtocol.GetStatus.Instance, new QueueWatcherProtocol.Status(1, 2, 3, 4),
        new QueueWatcherProtocol.Stop(TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(4500)), new QueueWatcherProtocol.Stopped(4, 5, 6),
        ClusterStatusProtocol.GetNodeStatus.Instance,
        new ClusterStatusProtocol.NodeStatus("akka.tcp://mailscanner@10.0.0.5:4053", ["scan"], true, 12, 40,
            [new ClusterStatusProtocol.MemberView("akka.tcp://mailscanner@10.0.0.6:4053", "Up", ["scan"], false)]),
        new ClusterStatusProtocol.MemberView("akka.tcp://mailscanner@10.0.0.7:4053", "Leaving", [], true),
        new BatchCoordinatorProtocol.Enqueue(Id, "4242", 1234), BatchCoordinatorProtocol.Flush.Instance,
        new BatchCoordinatorProtocol.EnqueueMany([new BatchCoordinatorProtocol.Enqueue(Id, "4242", 1234)], Flush: true),
        new AdmissionDeskProtocol.AdmitMany([new MessageCommands.Admit(Id, "/var/spool/incoming/4242")]),
        new AdmissionDeskProtocol.AdmittedMany([new MessageReplies.Admitted(Id, "4242", 1234)]),
        new BatchCoordinatorProtocol.BatchFinished([Id], [], Guid.Parse("0b9e6d2c-8f37-4a51-9d57-3f0c5e7a1b22")),
        BatchCoordinatorProtocol.CoordinatorRestarted.Instance, BatchCoordinatorProtocol.Register.Instance,
        new BatchCoordinatorProtocol.Registered(Guid.Parse("0b9e6d2c-8f37-4a51-9d57-3f0c5e7a1b22")),
    ];

    private readonly ActorSystem _system = ActorSystem.Create("serializer-spec");

    public void Dispose() => _system.Dispose();

    [Fact]
    public void Should_have_an_example_of_every_protocol_record()
    {
        var missing = ClusterProtocolSerializer.Types.Except(Examples.Select(e => e.GetType())).Select(t => t.FullName).ToList();
        Assert.True(missing.Count == 0, $"no example (and perhaps no [JsonSerializable]) for: {string.Join(", ", missing)}");
    }

    [Fact]
    public void Should_bring_every_record_back_equal_under_its_own_manifest()
    {
        var serializer = new ClusterProtocolSerializer((ExtendedActorSystem)_system);
        foreach (var example in Examples)
        {
            var manifest = serializer.Manifest(example);
            var back = serializer.FromBinary(serializer.ToBinary(example), manifest);

            Assert.IsType(example.GetType(), back);
            // Records holding lists compare by reference: compare what they serialize to instead.
            Assert.Equal(serializer.ToBinary(example), serializer.ToBinary(back));
            Assert.DoesNotContain("MailScanner", manifest, StringComparison.Ordinal);
        }
        Assert.Equal(Id, ((MessageCommands.Scan)serializer.FromBinary(serializer.ToBinary(new MessageCommands.Scan(Id)), "command.Scan")).Identity);
        Assert.Equal(2, ((MessageJournalProtocol.AttemptBegun)serializer.FromBinary(serializer.ToBinary(Examples[18]), "journal.AttemptBegun")).Attempt);
    }

    [Fact]
    public void Should_refuse_a_manifest_it_does_not_know_with_a_clear_error()
    {
        var serializer = new ClusterProtocolSerializer((ExtendedActorSystem)_system);

        var e = Assert.Throws<System.Runtime.Serialization.SerializationException>(() => serializer.FromBinary("{}"u8.ToArray(), "command.Teleport"));

        Assert.Contains("unknown cluster message manifest 'command.Teleport'", e.Message, StringComparison.Ordinal);
    }
}
