using System.CommandLine;
using MailScanner.Actors.Cluster;
using MailScanner.Actors.Configuration;

namespace MailScanner.Actors.Host;

/// <summary><c>mailscanner-actors cluster status</c>: the running cluster as its nodes see it. Wiring only.</summary>
internal static class ClusterCommand
{
    private static readonly TimeSpan AnswerWithin = TimeSpan.FromSeconds(5);

    public static Command Build()
    {
        var command = new Command("cluster", "The clustered gateway (mailscanner.cluster).");
        var config = CommandLine.ConfigOption();
        var status = new Command("status",
            "Ask the running cluster (its seed nodes, then every member) for its members, their roles and reachability, where the queue watcher runs, and each node's shards and messages in flight.")
            { config };
        status.SetAction(parse => CommandLine.ReportingConfigurationErrors(async () =>
        {
            var settings = GatewaySettingsLoader.Load(parse.GetValue(config), Directory.GetCurrentDirectory());
            if (!settings.Cluster.Enabled) return await CommandLine.Refuse($"{ClusterSettings.EnabledKey} is off: this gateway is not clustered");
            var answer = await ClusterStatusQuery.AskAsync(settings.Cluster, GatewayHost.ActorSystemName, AnswerWithin);
            if (answer is not { } found)
                return await CommandLine.Refuse($"no seed node answered within {AnswerWithin.TotalSeconds:0} s ({string.Join(", ", settings.Cluster.SeedNodes)})");
            await Console.Out.WriteAsync(ClusterStatusQuery.Render(found.View, found.ByMember));
            return 0;
        }));
        command.Subcommands.Add(status);
        return command;
    }
}
