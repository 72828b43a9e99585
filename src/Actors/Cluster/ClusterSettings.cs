using System.Globalization;
using Akka.Configuration;
using MailScanner.Actors.Configuration;
using ConfigurationException = MailScanner.Actors.Configuration.ConfigurationException;

namespace MailScanner.Actors.Cluster;

/// <summary>
/// The clustered gateway (<c>mailscanner.cluster</c>): several nodes on one shared queue and one shared journal, one
/// owner per message in the whole cluster. Off by default: one node, exactly as without it.
/// </summary>
/// <param name="Hostname">The address this node listens on and is reached at by the others.</param>
/// <param name="Port">The TCP port of that address.</param>
/// <param name="SeedNodes">The nodes a starting node contacts to join; the first one alone may form a new cluster.</param>
/// <param name="Roles">This node's roles; MessageActors (and with them the scanning) run on nodes with <see cref="ScanRole"/>.</param>
/// <param name="StableAfter">The split-brain resolver decides once membership has been stable this long.</param>
/// <param name="DownAllWhenUnstable">Every node is downed when membership keeps changing this long after <see cref="StableAfter"/>; null: never.</param>
public sealed record ClusterSettings(
    bool Enabled,
    string Hostname,
    int Port,
    IReadOnlyList<SeedNode> SeedNodes,
    IReadOnlyList<string> Roles,
    TimeSpan StableAfter,
    TimeSpan? DownAllWhenUnstable)
{
    public const string Section = "mailscanner.cluster";
    public const string EnabledKey = Section + ".enabled";
    public const string HostnameKey = Section + ".hostname";
    public const string PortKey = Section + ".port";
    public const string SeedNodesKey = Section + ".seed-nodes";
    public const string RolesKey = Section + ".roles";
    public const string StableAfterKey = Section + ".split-brain-resolver.stable-after";
    public const string DownAllWhenUnstableKey = Section + ".split-brain-resolver.down-all-when-unstable";
    public const string OldestNodeShardWeightKey = Section + ".oldest-node-shard-weight";

    /// <summary>The role of the nodes that host MessageActors and scan.</summary>
    public const string ScanRole = "scan";

    public static ClusterSettings Disabled { get; } = new(false, "127.0.0.1", 4053, [], [ScanRole], TimeSpan.FromSeconds(20), null);

    public bool HostsMessages => Roles.Contains(ScanRole);

    /// <summary>
    /// How much each shard of MessageActors on the oldest node counts when shards are placed: that node also runs the
    /// singletons (queue watcher, journal), so it takes a lighter share (<see cref="SingletonAwareShardAllocation"/>).
    /// </summary>
    public double OldestNodeShardWeight { get; init; } = 2.0;

    public static ClusterSettings FromConfig(Config config)
    {
        var merged = config.WithFallback(GatewaySettingsLoader.Defaults());
        var hostname = ConfigValues.Raw(merged, HostnameKey);
        if (hostname.Length == 0 || hostname.Any(char.IsWhiteSpace))
            throw new ConfigurationException(HostnameKey, $"must be a host name or IP address this node is reached at (got '{hostname}')");
        var seeds = ConfigValues.StringList(merged, SeedNodesKey).Select(SeedNode.Parse).ToList();
        var roles = ConfigValues.StringList(merged, RolesKey);
        foreach (var role in roles)
        {
            if (role.Length == 0 || !role.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
                throw new ConfigurationException(RolesKey, $"a role is a word of letters, digits, '-' and '_' (got '{role}')");
        }
        var settings = new ClusterSettings(
            ConfigValues.Boolean(merged, EnabledKey),
            hostname,
            SeedNode.ReadPort(ConfigValues.Raw(merged, PortKey), PortKey),
            seeds,
            roles.Distinct().ToList(),
            ConfigValues.PositiveDuration(merged, StableAfterKey),
            ReadDownAllWhenUnstable(merged))
        {
            OldestNodeShardWeight = ReadOldestNodeShardWeight(merged),
        };
        if (settings.Enabled && settings.SeedNodes.Count == 0)
            throw new ConfigurationException(SeedNodesKey, "must name at least one node as \"host:port\" when the cluster is enabled (a node that lists itself first forms the cluster)");
        return settings;
    }

    private static double ReadOldestNodeShardWeight(Config config)
    {
        var raw = ConfigValues.Raw(config, OldestNodeShardWeightKey);
        return double.TryParse(raw, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var weight) && weight is >= 1 and <= 100
            ? weight
            : throw new ConfigurationException(OldestNodeShardWeightKey,
                $"must be a number from 1 (the oldest node takes an equal share of the shards) to 100 (hardly any), such as 2.0 (got '{raw}')");
    }

    private static TimeSpan? ReadDownAllWhenUnstable(Config config)
    {
        var raw = ConfigValues.Raw(config, DownAllWhenUnstableKey);
        return raw.ToLowerInvariant() switch
        {
            "off" or "no" or "false" => null,
            _ => ConfigValues.PositiveDuration(config, DownAllWhenUnstableKey),
        };
    }

    public bool Equals(ClusterSettings? other) =>
        other is not null && Enabled == other.Enabled && Hostname == other.Hostname && Port == other.Port &&
        SeedNodes.SequenceEqual(other.SeedNodes) && Roles.SequenceEqual(other.Roles) && StableAfter == other.StableAfter &&
        DownAllWhenUnstable == other.DownAllWhenUnstable && OldestNodeShardWeight.Equals(other.OldestNodeShardWeight);

    public override int GetHashCode() => HashCode.Combine(Enabled, Hostname, Port, StableAfter);
}

/// <summary>One entry of <c>mailscanner.cluster.seed-nodes</c>: <c>"host:port"</c> (an IPv6 address in brackets).</summary>
public sealed record SeedNode(string Host, int Port)
{
    public static SeedNode Parse(string text)
    {
        var colon = text.LastIndexOf(':');
        var host = colon > 0 ? text[..colon] : "";
        if (host.StartsWith('[') && host.EndsWith(']')) host = host[1..^1];
        if (colon <= 0 || host.Length == 0 || host.Any(char.IsWhiteSpace) || (host.Contains(':') && !text.StartsWith('[')))
            throw new ConfigurationException(ClusterSettings.SeedNodesKey, $"each seed node is \"host:port\" (got '{text}')");
        return new SeedNode(host, ReadPort(text[(colon + 1)..], ClusterSettings.SeedNodesKey));
    }

    internal static int ReadPort(string raw, string key) =>
        int.TryParse(raw, NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port is >= 1 and <= 65535
            ? port
            : throw new ConfigurationException(key, $"must be a TCP port from 1 to 65535 (got '{raw}')");

    public override string ToString() => Host.Contains(':') ? $"[{Host}]:{Port}" : $"{Host}:{Port}";
}
