using System.Globalization;
using System.Text;
using Akka.Actor;
using Akka.Configuration;

namespace MailScanner.Actors.Cluster;

/// <summary>
/// What <c>mailscanner-actors cluster status</c> does: from outside the cluster (a short-lived actor system with remoting
/// on a free port, never a member), asks the seed nodes in turn for the cluster as they see it, then every member for
/// its own shards and messages in flight.
/// </summary>
public static class ClusterStatusQuery
{
    /// <summary>The view of the first seed node that answers, and the answer of every member that did (null: no seed node answered).</summary>
    public static async Task<(ClusterStatusProtocol.NodeStatus View, IReadOnlyDictionary<string, ClusterStatusProtocol.NodeStatus> ByMember)?> AskAsync(
        ClusterSettings cluster, string actorSystemName, TimeSpan timeout)
    {
        using var system = ActorSystem.Create("mailscanner-status", ClientConfig(cluster));
        ClusterStatusProtocol.NodeStatus? view = null;
        foreach (var seed in cluster.SeedNodes)
        {
            view = await TryAsk(system, $"akka.tcp://{actorSystemName}@{seed}", timeout).ConfigureAwait(false);
            if (view is not null) break;
        }
        if (view is null) return null;
        var answers = await Task.WhenAll(view.Members.Select(m => TryAsk(system, m.Address, timeout))).ConfigureAwait(false);
        return (view, answers.OfType<ClusterStatusProtocol.NodeStatus>().ToDictionary(a => a.Address));
    }

    /// <summary>One line for the cluster, then one per member.</summary>
    public static string Render(ClusterStatusProtocol.NodeStatus view, IReadOnlyDictionary<string, ClusterStatusProtocol.NodeStatus> byMember)
    {
        var b = new StringBuilder();
        b.AppendLine(CultureInfo.InvariantCulture,
            $"cluster: {view.Members.Count} member(s), {view.Members.Count(m => m.Reachable)} reachable (as {view.Address} sees it); " +
            $"shard regions registered with the coordinator: {(view.ShardRegions < 0 ? "not known yet" : Count(view.ShardRegions))}");
        var rows = view.Members.Select(m => byMember.TryGetValue(m.Address, out var own)
                ? new[] { m.Address, m.Status, m.Reachable ? "yes" : "no", Roles(m.Roles), own.RunsWatcher ? "yes" : "no", Count(own.Shards), Count(own.InFlight) }
                : [m.Address, m.Status, m.Reachable ? "yes" : "no", Roles(m.Roles), "?", "?", "? (no answer)"])
            .Prepend(["NODE", "STATUS", "REACHABLE", "ROLES", "WATCHER", "SHARDS", "IN-FLIGHT"])
            .ToList();
        var widths = Enumerable.Range(0, rows[0].Length).Select(i => rows.Max(r => r[i].Length)).ToArray();
        foreach (var row in rows) b.AppendLine(string.Join("  ", row.Select((cell, i) => cell.PadRight(widths[i]))).TrimEnd());
        return b.ToString();

        static string Roles(IReadOnlyList<string> roles) => roles.Count == 0 ? "-" : string.Join(",", roles);
        static string Count(int n) => n.ToString(CultureInfo.InvariantCulture);
    }

    private static async Task<ClusterStatusProtocol.NodeStatus?> TryAsk(ActorSystem system, string nodeAddress, TimeSpan timeout)
    {
        try
        {
            return await system.ActorSelection($"{nodeAddress}/user/{ClusterNodeStatus.Name}")
                .Ask<ClusterStatusProtocol.NodeStatus>(ClusterStatusProtocol.GetNodeStatus.Instance, timeout).ConfigureAwait(false);
        }
        catch (Exception e) when (e is AskTimeoutException or TaskCanceledException)
        {
            return null;
        }
    }

    private static Config ClientConfig(ClusterSettings cluster)
    {
        var bindings = string.Join("\n", ClusterProtocolSerializer.Types.Select(t => $"\"{t.FullName}, {t.Assembly.GetName().Name}\" = {ClusterProtocolSerializer.Name}"));
        return ConfigurationFactory.ParseString($$"""
            akka.loglevel = ERROR
            akka.stdout-loglevel = ERROR
            akka.actor.provider = remote
            akka.remote.dot-netty.tcp { hostname = "{{cluster.Hostname}}", port = 0 }
            akka.actor.serializers.{{ClusterProtocolSerializer.Name}} = "{{typeof(ClusterProtocolSerializer).AssemblyQualifiedName}}"
            akka.actor.serialization-bindings {
            {{bindings}}
            }
            """);
    }
}
