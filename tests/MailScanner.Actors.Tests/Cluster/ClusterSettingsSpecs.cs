using MailScanner.Actors.Cluster;
using MailScanner.Actors.Configuration;
using Xunit;

namespace MailScanner.Actors.Tests.Cluster;

public sealed class ClusterSettingsSpecs : IDisposable
{
    private const string SharedJournal = """
        mailscanner.journal { provider = postgresql, connection-string = "Host=db.example.org;Database=mailscanner;Username=m;Password=secret" }

        """;

    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("mailscanner-cluster-config-");

    public void Dispose() => _dir.Delete(recursive: true);

    private GatewaySettings Load(string hocon, string name = "operator.conf")
    {
        var path = Path.Combine(_dir.FullName, name);
        File.WriteAllText(path, hocon);
        return GatewaySettingsLoader.Load(path, _dir.FullName);
    }

    [Fact]
    public void Should_be_off_by_default_with_the_scan_role_and_akkas_resolver_timings()
    {
        var cluster = GatewaySettingsLoader.Load(null, _dir.FullName).Cluster;

        Assert.False(cluster.Enabled);
        Assert.Equal(["scan"], cluster.Roles);
        Assert.Empty(cluster.SeedNodes);
        Assert.Equal(TimeSpan.FromSeconds(20), cluster.StableAfter);
        Assert.Equal(TimeSpan.FromSeconds(15), cluster.DownAllWhenUnstable);
        Assert.Equal(2.0, cluster.OldestNodeShardWeight);
    }

    [Fact]
    public void Should_read_every_key_and_describe_them_so_that_they_load_back()
    {
        var s = Load(SharedJournal + """
            mailscanner.cluster {
              enabled = yes
              hostname = "10.0.0.5"
              port = 4100
              seed-nodes = ["10.0.0.4:4100", "gw2.example.org:4101", "[fd00::7]:4102"]
              roles = [scan, edge]
              oldest-node-shard-weight = 2.75
              split-brain-resolver { stable-after = 7s, down-all-when-unstable = off }
            }
            """);

        Assert.Equal(new ClusterSettings(true, "10.0.0.5", 4100,
            [new SeedNode("10.0.0.4", 4100), new SeedNode("gw2.example.org", 4101), new SeedNode("fd00::7", 4102)],
            ["scan", "edge"], TimeSpan.FromSeconds(7), null) { OldestNodeShardWeight = 2.75 }, s.Cluster);
        var described = GatewaySettingsLoader.Describe(s);
        Assert.Contains("seed-nodes = [\"10.0.0.4:4100\", \"gw2.example.org:4101\", \"[fd00::7]:4102\"]", described);
        Assert.Contains("down-all-when-unstable = off", described);
        Assert.Equal(s with { Journal = s.Journal with { ConnectionString = "" } },
            LoadDescribed(described) with { Journal = s.Journal with { ConnectionString = "" } });
    }

    /// <summary>check-config hides the connection string; put one back so that the description loads.</summary>
    private GatewaySettings LoadDescribed(string described) =>
        Load(described.Replace("connection-string = \"(set; not shown)\"", "connection-string = \"Host=db.example.org\""), "described.conf");

    [Theory]
    [InlineData("mailscanner.cluster.port = 70000", ClusterSettings.PortKey, "must be a TCP port from 1 to 65535 (got '70000')")]
    [InlineData("mailscanner.cluster.port = 0", ClusterSettings.PortKey, "must be a TCP port from 1 to 65535 (got '0')")]
    [InlineData("mailscanner.cluster.hostname = \"\"", ClusterSettings.HostnameKey, "must be a host name or IP address this node is reached at (got '')")]
    [InlineData("mailscanner.cluster.seed-nodes = [\"10.0.0.4\"]", ClusterSettings.SeedNodesKey, "each seed node is \"host:port\" (got '10.0.0.4')")]
    [InlineData("mailscanner.cluster.seed-nodes = [\"10.0.0.4:x\"]", ClusterSettings.SeedNodesKey, "must be a TCP port from 1 to 65535 (got 'x')")]
    [InlineData("mailscanner.cluster.seed-nodes = [\"fd00::7:4100\"]", ClusterSettings.SeedNodesKey, "each seed node is \"host:port\" (got 'fd00::7:4100')")]
    [InlineData("mailscanner.cluster.seed-nodes = \"10.0.0.4:4100\"", ClusterSettings.SeedNodesKey, "must be a list [ ... ]")]
    [InlineData("mailscanner.cluster.roles = [\"sc an\"]", ClusterSettings.RolesKey, "a role is a word of letters, digits, '-' and '_' (got 'sc an')")]
    [InlineData("mailscanner.cluster.oldest-node-shard-weight = 0.5", ClusterSettings.OldestNodeShardWeightKey,
        "must be a number from 1 (the oldest node takes an equal share of the shards) to 100 (hardly any), such as 2.0 (got '0.5')")]
    [InlineData("mailscanner.cluster.oldest-node-shard-weight = heavy", ClusterSettings.OldestNodeShardWeightKey,
        "must be a number from 1 (the oldest node takes an equal share of the shards) to 100 (hardly any), such as 2.0 (got 'heavy')")]
    [InlineData("mailscanner.cluster.split-brain-resolver.stable-after = soon", ClusterSettings.StableAfterKey, "must be a duration such as 1s or 500ms (got 'soon')")]
    [InlineData("mailscanner.cluster.split-brain-resolver.down-all-when-unstable = 0s", ClusterSettings.DownAllWhenUnstableKey, "must be longer than 0 (got '0s')")]
    [InlineData("mailscanner.cluster { enabled = yes, seed-nodes = [] }", ClusterSettings.SeedNodesKey,
        "must name at least one node as \"host:port\" when the cluster is enabled (a node that lists itself first forms the cluster)")]
    public void Should_name_the_key_of_each_invalid_value(string hocon, string key, string problem)
    {
        var e = Assert.Throws<ConfigurationException>(() => Load(SharedJournal + hocon));

        Assert.Equal(key, e.Key);
        Assert.Equal(problem, e.Problem);
    }

    [Fact]
    public void Should_refuse_a_cluster_on_the_single_node_sqlite_journal()
    {
        var e = Assert.Throws<ConfigurationException>(() => Load("mailscanner.cluster { enabled = yes, seed-nodes = [\"127.0.0.1:4053\"] }"));

        Assert.Equal("mailscanner.journal.provider", e.Key);
        Assert.Equal("must be postgresql when mailscanner.cluster.enabled = yes: every node must share one journal (got sqlite)", e.Problem);
    }

    [Fact]
    public void Should_refuse_a_cluster_without_a_journal()
    {
        var e = Assert.Throws<ConfigurationException>(() => Load(SharedJournal +
            "mailscanner.journal.enabled = no\nmailscanner.cluster { enabled = yes, seed-nodes = [\"127.0.0.1:4053\"] }"));

        Assert.Equal("mailscanner.journal.enabled", e.Key);
    }
}
