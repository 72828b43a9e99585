using System.Text;
using System.Text.Json;

namespace MailScanner.Actors.CrashHarness;

/// <summary>
/// One run's scratch directory: the gateway's queues, quarantine and state, its configuration (only the stable
/// keys of README.md, everything else is the gateway's default) and one log of all its lives.
/// </summary>
public sealed class HarnessArea : IDisposable
{
    private HarnessArea(string root, string format)
    {
        Root = root;
        Queue = HarnessQueue.For(format, Path.Combine(Root, "spool"));
        Queue.Create();
        File.WriteAllText(ConfigFile, Hocon());
    }

    public string Root { get; }
    /// <summary>The MTA's side: the queue format's directories, and how messages are queued and read back.</summary>
    public HarnessQueue Queue { get; }
    public string Incoming => Queue.Incoming;
    public string Outgoing => Queue.Outgoing;
    public string Work => Path.Combine(Root, "spool", "work");
    public string Bad => Path.Combine(Root, "spool", "bad");
    public string Quarantine => Path.Combine(Root, "spool", "quarantine");
    public string State => Path.Combine(Root, "lib");
    public string ConfigFile => Path.Combine(Root, "gateway.conf");
    public string LogFile => Path.Combine(Root, "gateway.log");

    /// <summary>A new area under <paramref name="parent"/> (ext4 /tmp by default: inode numbers are reused there at once).</summary>
    public static HarnessArea Create(string parent, int seed, string format = HarnessQueue.ZMailer) =>
        new(Path.Combine(parent, $"mailscanner-crash-{seed}-{Guid.NewGuid().ToString("N")[..8]}"), format);

    private string Hocon()
    {
        static string Quote(string path) => JsonSerializer.Serialize(path);
        var text = new StringBuilder();
        text.Append(Queue.Hocon());
        text.Append($"mailscanner.queue.work = {Quote(Work)}\n");
        text.Append($"mailscanner.queue.bad = {Quote(Bad)}\n");
        text.Append($"mailscanner.quarantine.directory = {Quote(Quarantine)}\n");
        text.Append($"mailscanner.state-directory = {Quote(State)}\n");
        // Its own port: another gateway on this machine (another harness run) must not make every life exit at start.
        text.Append($"mailscanner.metrics.port = {LoopbackPort.Free()}\n");
        return text.ToString();
    }

    /// <summary>
    /// A node of a run on the PostgreSQL journal (<see cref="FleetRunner"/>): the area's keys, its own state directory,
    /// the shared journal and, when <paramref name="clusterPorts"/> are given, its place in the cluster on loopback
    /// (every node a seed, the split-brain resolver deciding 2 s after the last change, as the cluster specs run it).
    /// Returns the file's path.
    /// </summary>
    public string WriteNodeConfig(int node, string journalConnectionString, IReadOnlyList<int>? clusterPorts)
    {
        static string Quote(string text) => JsonSerializer.Serialize(text);
        var text = new StringBuilder(Hocon());
        text.Append($"mailscanner.state-directory = {Quote(Path.Combine(Root, $"lib-{node}"))}\n");
        text.Append("mailscanner.metrics.enabled = no\n");
        text.Append($"mailscanner.journal {{ provider = postgresql, connection-string = {Quote(journalConnectionString)} }}\n");
        if (clusterPorts is not null)
        {
            text.Append($$"""
                mailscanner.cluster {
                  enabled = yes
                  hostname = "127.0.0.1"
                  port = {{clusterPorts[node]}}
                  seed-nodes = [{{string.Join(", ", clusterPorts.Select(p => $"\"127.0.0.1:{p}\""))}}]
                  split-brain-resolver { stable-after = 2s, down-all-when-unstable = off }
                }

                """);
        }
        var path = Path.Combine(Root, $"node-{node}.conf");
        File.WriteAllText(path, text.ToString());
        return path;
    }

    public void Dispose()
    {
        if (Directory.Exists(Root)) Directory.Delete(Root, recursive: true);
    }
}
