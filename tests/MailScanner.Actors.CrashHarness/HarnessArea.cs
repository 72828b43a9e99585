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
        text.Append($"mailscanner.metrics.port = {FreeLoopbackPort()}\n");
        return text.ToString();
    }

    private static int FreeLoopbackPort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }

    public void Dispose()
    {
        if (Directory.Exists(Root)) Directory.Delete(Root, recursive: true);
    }
}
