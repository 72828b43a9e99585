using System.Text;
using System.Text.Json;

namespace MailScanner.Actors.CrashHarness;

/// <summary>
/// One run's scratch directory: the gateway's queues, quarantine and state, its configuration (only the stable
/// keys of README.md, everything else is the gateway's default) and one log of all its lives.
/// </summary>
public sealed class HarnessArea : IDisposable
{
    private HarnessArea(string root)
    {
        Root = root;
        Directory.CreateDirectory(Incoming);
        Directory.CreateDirectory(Outgoing);
        File.WriteAllText(ConfigFile, Hocon());
    }

    public string Root { get; }
    public string Incoming => Path.Combine(Root, "spool", "router");
    public string Outgoing => Path.Combine(Root, "spool", "outgoing");
    public string Work => Path.Combine(Root, "spool", "work");
    public string Bad => Path.Combine(Root, "spool", "bad");
    public string Quarantine => Path.Combine(Root, "spool", "quarantine");
    public string State => Path.Combine(Root, "lib");
    public string ConfigFile => Path.Combine(Root, "gateway.conf");
    public string LogFile => Path.Combine(Root, "gateway.log");

    /// <summary>A new area under <paramref name="parent"/> (ext4 /tmp by default: inode numbers are reused there at once).</summary>
    public static HarnessArea Create(string parent, int seed) =>
        new(Path.Combine(parent, $"mailscanner-crash-{seed}-{Guid.NewGuid().ToString("N")[..8]}"));

    private string Hocon()
    {
        static string Quote(string path) => JsonSerializer.Serialize(path);
        var text = new StringBuilder();
        text.Append("mailscanner.queue.format = zmailer\n");
        text.Append($"mailscanner.queue.incoming = {Quote(Incoming)}\n");
        text.Append($"mailscanner.queue.outgoing = {Quote(Outgoing)}\n");
        text.Append($"mailscanner.queue.work = {Quote(Work)}\n");
        text.Append($"mailscanner.queue.bad = {Quote(Bad)}\n");
        text.Append($"mailscanner.quarantine.directory = {Quote(Quarantine)}\n");
        text.Append($"mailscanner.state-directory = {Quote(State)}\n");
        return text.ToString();
    }

    public void Dispose()
    {
        if (Directory.Exists(Root)) Directory.Delete(Root, recursive: true);
    }
}
