using System.Diagnostics;
using System.Globalization;
using MailScanner.Actors.CrashHarness;
using MailScanner.Actors.Queue.Sendmail;

namespace MailScanner.Actors.Tests.TestSupport;

/// <summary>
/// MailScanner's two-sendmail setup, with Debian's real Sendmail 8.17 unpacked into a private prefix by
/// <c>tests/install-sendmail.sh</c> (the postfix package the other specs need conflicts with sendmail-bin): a receiving
/// sendmail (<c>DeliveryMode=q</c>, a foreground daemon on 127.0.0.1 at a free port) whose queue directory the gateway
/// reads, and a delivering sendmail (no daemon; run with <c>-qI&lt;id&gt;</c>) whose queue directory the gateway writes
/// and which relays everything to an <c>smtp-sink</c> on loopback. Both <c>.cf</c> files are generated with m4 from the
/// unpacked sendmail-cf macros; everything lives under one temp directory; the machine's MTA and port 25 are untouched.
/// </summary>
/// <remarks>
/// Sendmail sleeps a minute at start when the host name is unqualified, so every sendmail runs through a wrapper script
/// that gives it its own UTS namespace with a qualified name (<c>unshare -u</c>); the machine's name is not changed.
/// Sendmail logs only through syslog (<c>/dev/log</c>), so the same wrapper gives it a mount namespace whose
/// <c>/dev</c> is this instance's own (the few devices sendmail opens, bound from the real <c>/dev</c>, and a
/// <c>log</c> that leads to this instance's <see cref="SyslogSocket"/>): both sendmails' logs are the spec's to read,
/// and the machine's <c>/dev</c> and syslog are untouched.
/// </remarks>
public sealed class SendmailInstance : IAsyncDisposable, IPrivateMta
{
    public const string Prefix = "/opt/mailscanner-actors-tests/sendmail";
    public static string Binary => Path.Combine(Prefix, "usr/libexec/sendmail/sendmail");
    private static readonly TimeSpan StartDeadline = TimeSpan.FromSeconds(60);
    private static readonly string[] Devices = ["null", "zero", "full", "random", "urandom"];
    private Process? _receiver;
    private Process? _sink;
    private SyslogSocket? _syslog;

    private SendmailInstance()
    {
        Directory = Path.Combine(TempDirectory.On(TempDirectory.Tmpfs), $"msa-sendmail-{Guid.NewGuid():N}"[..25]);
        SmtpPort = LoopbackPort.Free();
        SinkPort = LoopbackPort.Free();
        while (SinkPort == SmtpPort) SinkPort = LoopbackPort.Free();
    }

    public string Directory { get; }
    public int SmtpPort { get; }
    public int SinkPort { get; }
    public string ReceivingQueue => Path.Combine(Directory, "receiving");
    public string DeliveringQueue => Path.Combine(Directory, "delivering");
    public string SinkDirectory => Path.Combine(Directory, "sink");
    public string DeliveringConfig => Path.Combine(Directory, "delivering.cf");
    private string ReceivingConfig => Path.Combine(Directory, "receiving.cf");
    private string DeviceDirectory => Path.Combine(Directory, "dev");

    public string Name => "sendmail";

    /// <summary>Runs the unpacked sendmail under its own qualified host name.</summary>
    public string Wrapper => Path.Combine(Directory, "sendmail");

    /// <summary>The gateway's settings for these queues: files root's, delivered with the delivering configuration's -qI.</summary>
    public SendmailQueueOptions Options => new("root", [Wrapper, "-C", DeliveringConfig]);

    public static async Task<SendmailInstance> StartAsync()
    {
        if (!Environment.IsPrivilegedProcess) throw new InvalidOperationException("a private sendmail is started as root (sendmail -C FILE)");
        if (!File.Exists(Binary)) throw new InvalidOperationException($"{Binary} is missing: run tests/install-sendmail.sh (tests/run-all.sh does)");
        var instance = new SendmailInstance();
        try
        {
            await instance.StartProcessesAsync();
            return instance;
        }
        catch
        {
            await instance.DisposeAsync();
            throw;
        }
    }

    private async Task StartProcessesAsync()
    {
        foreach (var directory in new[] { ReceivingQueue, DeliveringQueue, SinkDirectory }) System.IO.Directory.CreateDirectory(directory);
        var (chown, chownOutput) = await PostfixInstance.Run("chown", $"{PostfixInstance.MailOwner}:{PostfixInstance.MailOwner}", SinkDirectory);
        if (chown != 0) throw new InvalidOperationException($"chown {SinkDirectory}: {chownOutput}");
        System.IO.Directory.CreateDirectory(DeviceDirectory);
        foreach (var device in Devices) File.WriteAllBytes(Path.Combine(DeviceDirectory, device), []); // mount points
        // This instance itself may live on /dev/shm (TempDirectory's tmpfs): that stays visible.
        System.IO.Directory.CreateDirectory(Path.Combine(DeviceDirectory, "shm"));
        _syslog = new SyslogSocket(Path.Combine(Directory, "syslog.socket"));
        File.CreateSymbolicLink(Path.Combine(DeviceDirectory, "log"), _syslog.Path);
        File.WriteAllText(Wrapper, "#!/bin/sh\nexec unshare -u -m sh -c '" +
            $"for device in {string.Join(' ', Devices)} shm; do mount --bind /dev/$device {DeviceDirectory}/$device || exit 1; done; " +
            $"mount --rbind {DeviceDirectory} /dev && hostname sendmail-specs.invalid && exec \"$0\" \"$@\"' {Binary} \"$@\"\n");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(Wrapper, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        await GenerateConfigAsync(ReceivingConfig, ReceivingQueue, receiving: true);
        await GenerateConfigAsync(DeliveringConfig, DeliveringQueue, receiving: false);

        _sink = DaemonProcess.StartSmtpSink(SinkDirectory, SinkPort);
        await Eventually.Holds(() => PostfixInstance.Accepts(SinkPort), StartDeadline, () => $"smtp-sink to listen on 127.0.0.1:{SinkPort}");
        _receiver = DaemonProcess.Start(Wrapper, "-C", ReceivingConfig, "-bD");
        await Eventually.Holds(() => !_receiver.HasExited ? PostfixInstance.Accepts(SmtpPort) : throw new InvalidOperationException($"the receiving sendmail exited with {_receiver.ExitCode}; syslog:\n{string.Join('\n', Log())}"),
            StartDeadline, () => $"the receiving sendmail to accept SMTP on 127.0.0.1:{SmtpPort} (exited: {_receiver.HasExited})");
    }

    /// <summary>A .cf from sendmail-cf's m4 macros: its own queue, loopback only, everything relayed to smtp-sink.</summary>
    private async Task GenerateConfigAsync(string path, string queue, bool receiving)
    {
        var mc = string.Join('\n',
            "divert(0)dnl",
            "OSTYPE(`linux')dnl",
            $"define(`QUEUE_DIR', `{queue}')dnl",
            $"define(`STATUS_FILE', `{queue}.statistics')dnl",
            $"define(`confPID_FILE', `{queue}.pid')dnl",
            "define(`confHOST_STATUS_DIRECTORY', `')dnl",
            "define(`ALIAS_FILE', `')dnl",
            "define(`confDONT_PROBE_INTERFACES', `True')dnl",
            // Sendmail queues, then refuses, mail above a load average (by default 8 and 12 per CPU): on a busy 2-core
            // test machine that closed connections mid-spec. The specs are about the queue, not the load.
            "define(`confQUEUE_LA', `1000')dnl",
            "define(`confREFUSE_LA', `1000')dnl",
            "define(`confDELAY_LA', `0')dnl",
            "define(`confDOMAIN_NAME', `sendmail-specs.invalid')dnl",
            receiving ? "define(`confDELIVERY_MODE', `queueonly')dnl" : "define(`confDELIVERY_MODE', `interactive')dnl",
            "define(`SMART_HOST', `[127.0.0.1]')dnl",
            $"define(`RELAY_MAILER_ARGS', `TCP $h {SinkPort.ToString(CultureInfo.InvariantCulture)}')dnl",
            "FEATURE(`nocanonify')dnl",
            "FEATURE(`accept_unresolvable_domains')dnl",
            "FEATURE(`promiscuous_relay')dnl",
            $"DAEMON_OPTIONS(`Port={SmtpPort.ToString(CultureInfo.InvariantCulture)}, Addr=127.0.0.1, Name=MTA')dnl",
            "MAILER(`smtp')dnl",
            "");
        var mcPath = Path.ChangeExtension(path, ".mc");
        File.WriteAllText(mcPath, mc);
        var cfDirectory = Path.Combine(Prefix, "usr/share/sendmail/cf/");
        var (status, output) = await PostfixInstance.Run("sh", "-c", $"m4 -D_CF_DIR_={cfDirectory} {cfDirectory}m4/cf.m4 {mcPath} > {path}");
        if (status != 0) throw new InvalidOperationException($"m4 for {path}: {output}");
    }

    /// <summary>One message over SMTP to the receiving sendmail; returns sendmail's reply to the data.</summary>
    public Task<string> SendAsync(string sender, IReadOnlyList<string> recipients, string message) =>
        PostfixInstance.SendOverSmtpAsync(SmtpPort, sender, recipients, message);

    /// <summary>The delivering sendmail's queue run for these ids (<c>-qI&lt;id&gt;</c> each), or for its whole queue.</summary>
    public Task<(int Status, string Output)> RunDeliveringQueueAsync(params string[] ids) =>
        PostfixInstance.Run(Wrapper, ["-C", DeliveringConfig, .. ids.Length == 0 ? ["-q"] : ids.Select(id => "-qI" + id)]);

    /// <summary>The files smtp-sink wrote, one per delivered message.</summary>
    public IReadOnlyList<string> SinkFiles() => System.IO.Directory.GetFiles(SinkDirectory, "m.*");

    public static IReadOnlyList<string> QueueFiles(string queue) =>
        System.IO.Directory.GetFiles(queue).Select(path => Path.GetFileName(path)).Order(StringComparer.Ordinal).ToList();

    /// <summary>What both sendmails logged through syslog, one line per message.</summary>
    public IReadOnlyList<string> Log() => _syslog?.Lines() ?? [];

    public IReadOnlyList<string> QueuedFiles() => [.. QueueFiles(ReceivingQueue), .. QueueFiles(DeliveringQueue)];

    /// <summary>System errors (a qf sendmail cannot read or write is one) and the messages sendmail gives up on.</summary>
    public IReadOnlyList<string> QueueFileErrors() => Log().Where(line => new[] { "SYSERR", "Losing", "bogus", "readqf", "panic", "corrupt" }
        .Any(word => line.Contains(word, StringComparison.OrdinalIgnoreCase))).ToList();

    /// <summary>Only the delivering sendmail sends; the receiving one queues.</summary>
    public int DeliveriesLogged() => Log().Where(line => line.Contains(" stat=Sent", StringComparison.Ordinal))
        .Select(line => line[..line.IndexOf(": to=", StringComparison.Ordinal)].Split(' ')[^1]).Distinct(StringComparer.Ordinal).Count();

    public string LogTail() => string.Join('\n', Log().TakeLast(30));

    public async ValueTask DisposeAsync()
    {
        await DaemonProcess.StopAsync(_receiver, _sink);
        _receiver = _sink = null;
        _syslog?.Dispose();
        _syslog = null;
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (DirectoryNotFoundException) { }
    }
}
