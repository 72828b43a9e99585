using System.Text;
using Akka.Actor;
using MemberStatus = Akka.Cluster.MemberStatus;
using MailScanner.Actors.Cluster;
using ClusterSettings = MailScanner.Actors.Cluster.ClusterSettings;
using Envelope = MailScanner.Actors.Queue.ZMailer.Envelope;
using MailScanner.Actors.Identity;
using MailScanner.Actors.Journal;
using MailScanner.Actors.Queue.ZMailer;
using MailScanner.Actors.Tests.Pipeline;
using MailScanner.Actors.Tests.TestSupport;
using Xunit;
using static MailScanner.Actors.Messages.MessageCommands;
using static MailScanner.Actors.Messages.MessageReplies;

namespace MailScanner.Actors.Tests.Cluster;

/// <summary>
/// One owner per message in the whole cluster: three gateway nodes in one process (three actor systems clustered over
/// loopback TCP, so every command between them is serialized and sent), one shared queue and one PostgreSQL journal.
/// Messages are queued outside the watched directory and addressed by hand, so that the specs say who sends what.
/// </summary>
public sealed class ClusterOwnershipSpecs(PostgresServer server) : IClassFixture<PostgresServer>, IAsyncLifetime
{
    private static readonly TimeSpan Answer = TimeSpan.FromSeconds(20);
    private readonly GatewayTestbed _bed = new();
    private readonly List<HostedGateway> _nodes = [];

    private string Manual => Path.Combine(Path.GetDirectoryName(_bed.Incoming)!, "manual");

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(Manual);
        var journal = JournalSettings.For(_bed.State) with { Provider = JournalProvider.PostgreSql, ConnectionString = await server.CreateDatabaseAsync() };
        var ports = Enumerable.Range(0, 3).Select(_ => LoopbackPort.Free()).ToList();
        var seeds = ports.Select(p => new SeedNode("127.0.0.1", p)).ToList();
        var systemName = $"cluster-spec-{Guid.NewGuid():N}"[..20];
        foreach (var port in ports)
        {
            var cluster = new ClusterSettings(true, "127.0.0.1", port, seeds, [ClusterSettings.ScanRole], TimeSpan.FromSeconds(3), null);
            _nodes.Add(await HostedGateway.StartAsync(_bed.Settings() with { Journal = journal, Cluster = cluster }, systemName: systemName));
        }
        await Eventually.Holds(() => _nodes.All(n => Akka.Cluster.Cluster.Get(n.System).State.Members.Count(m => m.Status == MemberStatus.Up) == 3),
            TimeSpan.FromSeconds(60), () => $"three nodes up: {string.Join("; ", _nodes.Select(n => Akka.Cluster.Cluster.Get(n.System).State))}");
    }

    public async Task DisposeAsync()
    {
        foreach (var node in _nodes.AsEnumerable().Reverse()) await node.DisposeAsync();
        _bed.Dispose();
    }

    [Fact]
    public async Task Should_reach_one_MessageActor_when_three_nodes_address_the_same_identity_at_once()
    {
        var (path, identity) = QueueByHand("one owner");

        var replies = await FromEveryNodeAtOnce(new Admit(identity, path));

        // Three MessageActors would claim once and find the file gone twice (Absorbed): one answers all three.
        Assert.All(replies, reply => Assert.Equal(identity, Assert.IsType<Admitted>(reply).Identity));
        Assert.Single(Directory.EnumerateFiles(_bed.Work), p => p.Contains(identity.Key, StringComparison.Ordinal));
        Assert.All(_nodes, n => Assert.IsType<ClusterProtocolSerializer>(n.System.Serialization.FindSerializerFor(new Scan(identity))));
        // Claimed but driven by no batch: the watcher takes the claim up, and it is delivered once.
        await Eventually.Holds(() => OutgoingWith("one owner") == 1 && !Directory.EnumerateFiles(_bed.Work).Any(p => p.Contains(identity.Key, StringComparison.Ordinal)),
            TimeSpan.FromSeconds(60), () => $"the message delivered (outgoing: {OutgoingWith("one owner")})");
        Assert.Equal(1, OutgoingWith("one owner"));
    }

    [Fact]
    public async Task Should_absorb_a_stale_command_for_a_reused_identity_on_whichever_node_it_arrives()
    {
        var (oldPath, old) = QueueByHand("the first life");
        Assert.All(await FromEveryNodeAtOnce(new Admit(old, oldPath)), reply => Assert.IsType<Admitted>(reply));
        await Eventually.Holds(() => OutgoingWith("the first life") == 1 && !File.Exists(_bed.WorkPathOf(old)), TimeSpan.FromSeconds(60), "the first message to be done");

        // ext4 gives a freed inode number to the next new file: the same name, another file. The old one is freed once
        // its MessageActor lets go of its handle, and the gateway creates files of its own meanwhile: try until it comes.
        var second = (Path: "", Identity: default(FileIdentity));
        await Eventually.Holds(() =>
        {
            second = QueueByHand("the second life");
            if (second.Identity.Inode == old.Inode) return true;
            File.Delete(second.Path);
            return false;
        }, TimeSpan.FromSeconds(30), $"a new file with inode {old.Inode}", TimeSpan.FromMilliseconds(5));
        var (newPath, reused) = second;
        Assert.Equal(oldPath, newPath);
        Assert.NotEqual(old, reused);
        var before = File.ReadAllBytes(newPath);

        var replies = (await FromEveryNodeAtOnce(new Delete(old))).Concat(await FromEveryNodeAtOnce(new Scan(old))).ToList();

        Assert.All(replies, reply => Assert.Equal(old, Assert.IsType<Absorbed>(reply).Identity));
        Assert.Equal(before, File.ReadAllBytes(newPath));
        Assert.Equal(1, OutgoingWith("the first life"));
        Assert.Equal(0, OutgoingWith("the second life"));
    }

    private (string Path, FileIdentity Identity) QueueByHand(string body)
    {
        var envelope = new Envelope("alice@example.org", ["bob@example.com"], "mx.example.org [192.0.2.1]", []);
        return ZMailerQueueWriter.WriteDurably(Manual, ZMailerQueueFile.Format(envelope,
            Encoding.UTF8.GetBytes($"From: alice@example.org\r\nTo: bob@example.com\r\nSubject: cluster\r\n\r\n{body}\r\n")));
    }

    /// <summary>The same command from each node's shard region at the same time; each node's answer.</summary>
    private Task<object[]> FromEveryNodeAtOnce(object command) =>
        Task.WhenAll(_nodes.Select(n => n.Messages.Ask<object>(command, Answer)));

    private int OutgoingWith(string body) =>
        GatewayTestbed.AllEntries(_bed.Outgoing).Count(p => File.ReadAllText(p).Contains(body, StringComparison.Ordinal));
}
