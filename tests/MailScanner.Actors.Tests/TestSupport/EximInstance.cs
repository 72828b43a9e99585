using System.Diagnostics;
using System.Globalization;
using System.Text;
using MailScanner.Actors.CrashHarness;
using MailScanner.Actors.Queue.Exim;

namespace MailScanner.Actors.Tests.TestSupport;

/// <summary>
/// MailScanner's two-Exim setup, with Debian's real Exim 4.96 unpacked into a private prefix by
/// <c>tests/install-exim.sh</c> (the postfix package the other specs need conflicts with every exim4 package): a
/// receiving Exim (<c>queue_only</c>, a daemon on 127.0.0.1 at a free port) whose <c>input/</c> the gateway reads, and
/// a delivering Exim (no daemon; the gateway runs it with <c>-Mc</c>) whose <c>input/</c> the gateway writes and which
/// relays everything to an <c>smtp-sink</c> on loopback. Each has its own configuration, spool and log under one temp
/// directory on tmpfs; the machine's own MTA configuration and port 25 are never touched.
/// </summary>
/// <remarks>
/// Pitfalls met here: Exim checks that its compiled-in user <c>Debian-exim</c> exists before it reads a configuration
/// (install-exim.sh makes it); deliveries may not run as root, so spools belong to that user; the daemon is run in the
/// foreground (<c>-bdf</c>) so that it is ours to stop; an unpacked Exim must be told its own path (<c>exim_path</c>)
/// for the processes it re-executes.
/// </remarks>
public sealed class EximInstance : IAsyncDisposable, IPrivateMta
{
    public const string Prefix = "/opt/mailscanner-actors-tests/exim4";
    public const string User = "Debian-exim";
    public static string Binary => Path.Combine(Prefix, "usr/sbin/exim4");
    private static readonly TimeSpan StartDeadline = TimeSpan.FromSeconds(60);
    private Process? _receiver;
    private Process? _sink;

    private EximInstance(bool splitSpoolDirectory)
    {
        SplitSpoolDirectory = splitSpoolDirectory;
        Directory = Path.Combine(TempDirectory.On(TempDirectory.Tmpfs), $"msa-exim-{Guid.NewGuid():N}"[..23]);
        SmtpPort = LoopbackPort.Free();
        SinkPort = LoopbackPort.Free();
        while (SinkPort == SmtpPort) SinkPort = LoopbackPort.Free();
    }

    public bool SplitSpoolDirectory { get; }
    public string Directory { get; }
    public int SmtpPort { get; }
    public int SinkPort { get; }
    public string ReceivingSpool => Path.Combine(Directory, "receiving");
    public string DeliveringSpool => Path.Combine(Directory, "delivering");
    public string ReceivingInput => Path.Combine(ReceivingSpool, "input");
    public string DeliveringInput => Path.Combine(DeliveringSpool, "input");
    public string SinkDirectory => Path.Combine(Directory, "sink");
    public string DeliveringConfig => Path.Combine(Directory, "delivering.conf");
    private string ReceivingConfig => Path.Combine(Directory, "receiving.conf");

    /// <summary>The gateway's settings for these spools: split as configured, files given to Exim's user, delivered with -Mc.</summary>
    public EximQueueOptions Options => new(SplitSpoolDirectory, User, [Binary, "-C", DeliveringConfig]);

    public static async Task<EximInstance> StartAsync(bool splitSpoolDirectory = false)
    {
        if (!Environment.IsPrivilegedProcess) throw new InvalidOperationException("a private Exim is started as root (exim4 -C FILE)");
        if (!File.Exists(Binary)) throw new InvalidOperationException($"{Binary} is missing: run tests/install-exim.sh (tests/run-all.sh does)");
        var instance = new EximInstance(splitSpoolDirectory);
        try
        {
            await instance.StartAsync();
            return instance;
        }
        catch
        {
            await instance.DisposeAsync();
            throw;
        }
    }

    private async Task StartAsync()
    {
        foreach (var directory in new[] { ReceivingInput, DeliveringInput, SinkDirectory }) System.IO.Directory.CreateDirectory(directory);
        foreach (var (directory, owner) in new[] { (ReceivingSpool, User), (DeliveringSpool, User), (SinkDirectory, PostfixInstance.MailOwner) })
        {
            var (status, output) = await PostfixInstance.Run("chown", "-R", $"{owner}:{owner}", directory);
            if (status != 0) throw new InvalidOperationException($"chown {owner} {directory}: {output}");
        }
        File.WriteAllText(ReceivingConfig, Configuration(ReceivingSpool, receiving: true));
        File.WriteAllText(DeliveringConfig, Configuration(DeliveringSpool, receiving: false));

        _sink = DaemonProcess.StartSmtpSink(SinkDirectory, SinkPort);
        await Eventually.Holds(() => PostfixInstance.Accepts(SinkPort), StartDeadline, () => $"smtp-sink to listen on 127.0.0.1:{SinkPort}");
        _receiver = DaemonProcess.Start(Binary, "-C", ReceivingConfig, "-bdf");
        await Eventually.Holds(() => !_receiver.HasExited ? PostfixInstance.Accepts(SmtpPort) : throw new InvalidOperationException($"the receiving exim exited; log:\n{ReceivingLog()}"), StartDeadline,
            () => $"the receiving exim to accept SMTP on 127.0.0.1:{SmtpPort} (exited: {_receiver.HasExited}); log:\n{ReceivingLog()}");
    }

    private string Configuration(string spool, bool receiving) => string.Join('\n',
        $"exim_path = {Binary}",
        $"exim_user = {User}",
        $"exim_group = {User}",
        $"spool_directory = {spool}",
        $"log_file_path = {spool}/log/%slog",
        $"pid_file_path = {spool}/exim.pid",
        "keep_environment =",
        "primary_hostname = exim-specs.invalid",
        "qualify_domain = exim-specs.invalid",
        $"split_spool_directory = {(SplitSpoolDirectory ? "true" : "false")}",
        receiving ? $"daemon_smtp_ports = {SmtpPort.ToString(CultureInfo.InvariantCulture)}" : "",
        "local_interfaces = 127.0.0.1",
        receiving ? "queue_only = true" : "",
        "tls_advertise_hosts =",
        "host_lookup =",
        "rfc1413_hosts =",
        "acl_smtp_rcpt = accept_loopback",
        "begin acl",
        "accept_loopback:",
        "  accept hosts = 127.0.0.1",
        "begin routers",
        "to_sink:",
        "  driver = manualroute",
        "  domains = *",
        "  transport = to_sink",
        "  route_list = * 127.0.0.1",
        "  self = send",
        "begin transports",
        "to_sink:",
        "  driver = smtp",
        $"  port = {SinkPort.ToString(CultureInfo.InvariantCulture)}",
        "  allow_localhost = true",
        // A few corpus messages have lines over 998 characters, which the smtp transport refuses by default.
        "  hosts_avoid_tls = *",
        "  message_linelength_limit = 1000000",
        "begin retry",
        "* * F,1h,1m",
        "");

    /// <summary>One message over SMTP to the receiving Exim; returns the id Exim gave it.</summary>
    public async Task<string> SendAsync(string sender, IReadOnlyList<string> recipients, string message) =>
        (await PostfixInstance.SendOverSmtpAsync(SmtpPort, sender, recipients, message)).Replace("id=", "", StringComparison.Ordinal);

    /// <summary>The files smtp-sink wrote, one per delivered message.</summary>
    public IReadOnlyList<string> SinkFiles() => System.IO.Directory.GetFiles(SinkDirectory, "m.*");

    /// <summary>Every file under a spool's input/ (and its split subdirectories).</summary>
    public static IReadOnlyList<string> SpoolFiles(string input) =>
        System.IO.Directory.Exists(input) ? System.IO.Directory.GetFiles(input, "*", SearchOption.AllDirectories) : [];

    public string Name => SplitSpoolDirectory ? "exim (split spool)" : "exim";

    public IReadOnlyList<string> QueuedFiles() => [.. SpoolFiles(ReceivingInput), .. SpoolFiles(DeliveringInput)];

    /// <summary>Whatever either Exim wrote to its paniclog, and any spool complaint or frozen message in their logs.</summary>
    public IReadOnlyList<string> QueueFileErrors() =>
    [
        .. (PanicLog(ReceivingSpool) + PanicLog(DeliveringSpool)).Split('\n', StringSplitOptions.RemoveEmptyEntries),
        .. (ReceivingLog() + DeliveringLog()).Split('\n').Where(line => line.Contains("spool", StringComparison.OrdinalIgnoreCase) || line.Contains("frozen", StringComparison.Ordinal)),
    ];

    /// <summary>The delivering Exim logs "Completed" once a message has no recipient left.</summary>
    public int DeliveriesLogged() => DeliveringLog().Split('\n').Count(line => line.EndsWith(" Completed", StringComparison.Ordinal));

    public string LogTail() => DeliveringLog()[^Math.Min(3000, DeliveringLog().Length)..];

    public string ReceivingLog() => LogOf(ReceivingSpool);

    public string DeliveringLog() => LogOf(DeliveringSpool);

    private static string LogOf(string spool)
    {
        var log = new StringBuilder();
        foreach (var name in new[] { "mainlog", "paniclog", "rejectlog" })
        {
            var path = Path.Combine(spool, "log", name);
            if (File.Exists(path)) log.Append("--- ").Append(name).Append('\n').Append(File.ReadAllText(path));
        }
        return log.Length == 0 ? "(no log yet)" : log.ToString();
    }

    /// <summary>Exim's paniclog, or nothing: Exim writes there what it cannot handle, spool errors among them.</summary>
    public static string PanicLog(string spool) => File.Exists(Path.Combine(spool, "log", "paniclog")) ? File.ReadAllText(Path.Combine(spool, "log", "paniclog")) : "";

    public async ValueTask DisposeAsync()
    {
        await DaemonProcess.StopAsync(_receiver, _sink);
        _receiver = _sink = null;
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (DirectoryNotFoundException) { }
    }
}
