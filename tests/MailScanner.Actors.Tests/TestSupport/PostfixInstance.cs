using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using MailScanner.Actors.CrashHarness;
using MailScanner.Actors.Queue.Postfix;

namespace MailScanner.Actors.Tests.TestSupport;

/// <summary>What a private Postfix is configured with, beyond what every instance has.</summary>
/// <param name="LongQueueIds">main.cf <c>enable_long_queue_ids</c>.</param>
/// <param name="HashQueueNames">main.cf <c>hash_queue_names</c> (Postfix's default unless told).</param>
/// <param name="HashQueueDepth">main.cf <c>hash_queue_depth</c>.</param>
/// <param name="SmtpUtf8">main.cf <c>smtputf8_enable</c>; with <c>no</c> smtpd takes any 8-bit byte in an address.</param>
/// <param name="FileSystem">Where the instance lives (<see cref="TempDirectory"/>'s names): tmpfs unless a spec needs ext4,
/// which hands a freed inode number, and with it a short queue id, straight to the next new file.</param>
/// <param name="HoldEverything">MailScanner's <c>header_checks</c> line <c>/^Received:/ HOLD</c>; without it Postfix
/// delivers everything itself (the bench's "Postfix alone").</param>
public sealed record PostfixInstanceOptions(
    bool LongQueueIds = false,
    string HashQueueNames = PostfixQueueLayout.DefaultHashQueueNames,
    int HashQueueDepth = 1,
    bool SmtpUtf8 = true,
    string FileSystem = TempDirectory.Tmpfs,
    bool HoldEverything = true);

/// <summary>
/// A private, real Postfix (Debian's binaries, started as root with <c>postfix -c DIR start</c>) set up the way
/// MailScanner documents: every message arriving over SMTP is put on hold (<c>header_checks</c>
/// <c>/^Received:/ HOLD</c>), and what qmgr delivers is relayed to an <c>smtp-sink</c> that keeps one file per
/// message. Both listen only on 127.0.0.1 at free ports; the machine's own Postfix (configuration, queue, port 25)
/// is never touched. Everything lives in one directory on tmpfs, removed at dispose after a clean
/// <c>postfix stop</c> (which waits for the master to exit).
/// </summary>
/// <remarks>
/// Pitfalls met on Debian 12 (Postfix 3.7.11), each handled below: <c>postfix check</c> warns about anything under
/// the configuration directory not owned by root, so the postfix-owned data and sink directories live beside it, not
/// in it; every master.cf service runs with <c>chroot = n</c> (a chroot would need a copy of /etc and the libraries);
/// <c>maillog_file</c> needs <c>maillog_file_prefixes</c> and a <c>postlog</c> service, and Postfix reports a failed
/// start only there, so a failed start shows the log.
/// </remarks>
public sealed class PostfixInstance : IAsyncDisposable, IPrivateMta
{
    private static readonly TimeSpan StartDeadline = TimeSpan.FromSeconds(60);
    private Process? _sink;
    private bool _started;

    private PostfixInstance(PostfixInstanceOptions options)
    {
        Options = options;
        // tmpfs unless told, as the scanner daemons: the inode-reuse specs elsewhere count on ext4 handing freed inode
        // numbers straight back, and a busy MTA on the same file system would take them.
        Directory = Path.Combine(TempDirectory.On(options.FileSystem), $"msa-postfix-{Guid.NewGuid():N}"[..26]);
        // The sink on tmpfs whatever the queue's file system: each delivered message is a new file, and on ext4 it would
        // take the inode a spec has just freed for a new hold file to reuse.
        SinkDirectory = Path.Combine(TempDirectory.On(TempDirectory.Tmpfs), $"msa-sink-{Guid.NewGuid():N}"[..23]);
        SmtpPort = LoopbackPort.Free();
        SinkPort = LoopbackPort.Free();
        while (SinkPort == SmtpPort) SinkPort = LoopbackPort.Free();
    }

    public PostfixInstanceOptions Options { get; }
    public string Directory { get; }
    public string ConfigDirectory => Path.Combine(Directory, "etc");
    public string QueueDirectory => Path.Combine(Directory, "spool");
    public string SinkDirectory { get; }
    public string LogFile => Path.Combine(Directory, "maillog");
    public int SmtpPort { get; }
    public int SinkPort { get; }

    /// <summary>The queue as the gateway sees it, with this instance's main.cf settings.</summary>
    public PostfixQueueLayout Layout => new(QueueDirectory, Options.LongQueueIds, Options.HashQueueNames, Options.HashQueueDepth, MailOwner);

    public const string MailOwner = "postfix";

    /// <summary>Starts smtp-sink and Postfix; returns once Postfix accepts SMTP and qmgr's trigger socket exists.</summary>
    public static async Task<PostfixInstance> StartAsync(PostfixInstanceOptions? options = null)
    {
        if (!Environment.IsPrivilegedProcess) throw new InvalidOperationException("a private Postfix is started as root (postfix -c DIR start)");
        var instance = new PostfixInstance(options ?? new PostfixInstanceOptions());
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
        if (OperatingSystem.IsWindows()) throw new PlatformNotSupportedException("Postfix runs on Unix");
        foreach (var directory in new[] { ConfigDirectory, QueueDirectory }) System.IO.Directory.CreateDirectory(directory); // root's
        foreach (var directory in new[] { Path.Combine(Directory, "data"), SinkDirectory })
        {
            System.IO.Directory.CreateDirectory(directory);
            File.SetUnixFileMode(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            var (chownStatus, chownOutput) = await Run("chown", $"{MailOwner}:{MailOwner}", directory);
            if (chownStatus != 0) throw new InvalidOperationException($"chown {MailOwner} {directory} (is the postfix package installed?): {chownOutput}");
        }
        File.WriteAllText(Path.Combine(ConfigDirectory, "main.cf"), MainCf());
        File.WriteAllText(Path.Combine(ConfigDirectory, "master.cf"), MasterCf());
        File.WriteAllText(Path.Combine(ConfigDirectory, "header_checks"), Options.HoldEverything ? "/^Received:/ HOLD\n" : "");

        _sink = DaemonProcess.StartSmtpSink(SinkDirectory, SinkPort);
        await Eventually.Holds(() => Accepts(SinkPort), StartDeadline, () => $"smtp-sink to listen on 127.0.0.1:{SinkPort} (exited: {_sink.HasExited})");

        var (status, output) = await Run("postfix", "-c", ConfigDirectory, "start");
        if (status != 0) throw new InvalidOperationException($"postfix -c {ConfigDirectory} start exited with {status}:\n{output}\n--- {LogFile}:\n{Log()}");
        _started = true;
        await Eventually.Holds(() => Accepts(SmtpPort) && File.Exists(Layout.QmgrSocket), StartDeadline,
            () => $"postfix to accept SMTP on 127.0.0.1:{SmtpPort} and qmgr to create {Layout.QmgrSocket}; log:\n{Log()}");
    }

    private string MainCf() => string.Join('\n',
        "compatibility_level = 3.6",
        $"config_directory = {ConfigDirectory}",
        $"queue_directory = {QueueDirectory}",
        $"data_directory = {Path.Combine(Directory, "data")}",
        $"mail_owner = {MailOwner}",
        "setgid_group = postdrop",
        "myhostname = postfix-specs.invalid",
        "mydomain = invalid",
        "mydestination =",
        "inet_interfaces = 127.0.0.1",
        "inet_protocols = ipv4",
        "mynetworks = 127.0.0.0/8",
        "smtpd_relay_restrictions = permit_mynetworks reject",
        // Everything goes to the sink, by address: no DNS, no local delivery, no aliases.
        $"relayhost = [127.0.0.1]:{SinkPort.ToString(CultureInfo.InvariantCulture)}",
        "smtp_host_lookup = native",
        "alias_maps =",
        "alias_database =",
        "local_recipient_maps =",
        "smtp_tls_security_level = none",
        // The smtp client folds lines longer than 998 characters ("\r\n "); off, so delivered content compares byte for byte.
        "smtp_line_length_limit = 0",
        "smtpd_tls_security_level = none",
        $"header_checks = regexp:{Path.Combine(ConfigDirectory, "header_checks")}",
        $"maillog_file = {LogFile}",
        $"maillog_file_prefixes = {Directory}",
        $"enable_long_queue_ids = {(Options.LongQueueIds ? "yes" : "no")}",
        $"hash_queue_names = {Options.HashQueueNames}",
        $"hash_queue_depth = {Options.HashQueueDepth.ToString(CultureInfo.InvariantCulture)}",
        $"smtputf8_enable = {(Options.SmtpUtf8 ? "yes" : "no")}",
        "biff = no",
        "");

    /// <summary>The services a relay needs, none chrooted; smtpd on this instance's port only.</summary>
    private string MasterCf() => string.Join('\n',
        $"127.0.0.1:{SmtpPort.ToString(CultureInfo.InvariantCulture)} inet n - n - - smtpd",
        "pickup    unix  n - n 60    1 pickup",
        "cleanup   unix  n - n -     0 cleanup",
        "qmgr      unix  n - n 300   1 qmgr",
        "rewrite   unix  - - n -     - trivial-rewrite",
        "bounce    unix  - - n -     0 bounce",
        "defer     unix  - - n -     0 bounce",
        "trace     unix  - - n -     0 bounce",
        "verify    unix  - - n -     1 verify",
        "flush     unix  n - n 1000? 0 flush",
        "proxymap  unix  - - n -     - proxymap",
        "smtp      unix  - - n -     - smtp",
        "relay     unix  - - n -     - smtp",
        "showq     unix  n - n -     - showq",
        "error     unix  - - n -     - error",
        "retry     unix  - - n -     - error",
        "discard   unix  - - n -     - discard",
        "anvil     unix  - - n -     1 anvil",
        "scache    unix  - - n -     1 scache",
        "postlog   unix-dgram n - n - 1 postlogd",
        "");

    /// <summary>Sends one message over SMTP, as an outside sender would; returns the queue id Postfix gave it.</summary>
    /// <param name="encoding">How commands and message go on the wire: UTF-8 unless told (Latin-1 sends any byte as one char).</param>
    /// <param name="recipientParameters">ESMTP parameters for every RCPT TO (such as DSN's NOTIFY and ORCPT).</param>
    public Task<string> SendAsync(string sender, IReadOnlyList<string> recipients, string message, Encoding? encoding = null, string recipientParameters = "") =>
        SendOverSmtpAsync(SmtpPort, sender, recipients, message, encoding, recipientParameters);

    /// <summary>One message over SMTP to 127.0.0.1:<paramref name="port"/> (EHLO, MAIL, RCPT, DATA dot-stuffed); the last word of the DATA reply.</summary>
    internal static async Task<string> SendOverSmtpAsync(int port, string sender, IReadOnlyList<string> recipients, string message, Encoding? encoding = null, string recipientParameters = "")
    {
        encoding ??= Encoding.UTF8;
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port);
        await using var stream = client.GetStream();
        using var reader = new StreamReader(stream, Encoding.ASCII);
        async Task<string> Expect(string? command, int code)
        {
            if (command is not null) await stream.WriteAsync(encoding.GetBytes(command + "\r\n"));
            var reply = new StringBuilder();
            string? line;
            do
            {
                line = await reader.ReadLineAsync() ?? throw new IOException($"the MTA closed the connection after {command}");
                reply.AppendLine(line);
            } while (line.Length > 3 && line[3] == '-');
            if (!line.StartsWith(code.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal))
                throw new IOException($"the MTA answered {command ?? "the connection"} with {reply}");
            return reply.ToString();
        }

        await Expect(null, 220);
        await Expect("EHLO specs.invalid", 250);
        await Expect($"MAIL FROM:<{sender}>", 250);
        foreach (var recipient in recipients) await Expect($"RCPT TO:<{recipient}>{(recipientParameters.Length > 0 ? " " : "")}{recipientParameters}", 250);
        await Expect("DATA", 354);
        var data = new StringBuilder();
        foreach (var line in message.Replace("\r\n", "\n", StringComparison.Ordinal).TrimEnd('\n').Split('\n'))
            data.Append(line.StartsWith('.') ? "." : "").Append(line).Append("\r\n"); // dot-stuffing (RFC 5321 4.5.2)
        await stream.WriteAsync(encoding.GetBytes(data.ToString()));
        var queued = await Expect(".", 250); // "250 2.0.0 Ok: queued as ID"
        await Expect("QUIT", 221);
        return queued.Trim().Split(' ')[^1];
    }

    /// <summary>The files smtp-sink wrote, one per delivered message.</summary>
    public IReadOnlyList<string> SinkFiles() =>
        System.IO.Directory.Exists(SinkDirectory) ? System.IO.Directory.GetFiles(SinkDirectory, "m.*") : [];

    /// <summary>Every queue file under <paramref name="queueName"/>, with its hashed subdirectories.</summary>
    public IReadOnlyList<string> QueueFiles(string queueName)
    {
        var directory = Path.Combine(QueueDirectory, queueName);
        return System.IO.Directory.Exists(directory) ? System.IO.Directory.GetFiles(directory, "*", SearchOption.AllDirectories) : [];
    }

    public string Log() => File.Exists(LogFile) ? File.ReadAllText(LogFile) : "(no log yet)";

    public string Name => "postfix";

    /// <summary>The queues a message passes through, the gateway's hold among them, and where Postfix puts a file it cannot read.</summary>
    public IReadOnlyList<string> QueuedFiles() => new[] { "maildrop", "incoming", "active", "deferred", "hold", "corrupt" }.SelectMany(QueueFiles).ToList();

    public IReadOnlyList<string> QueueFileErrors() => Log().Split('\n').Where(line => new[] { "warning", "fatal", "corrupt", "panic" }
        .Any(word => line.Contains(word, StringComparison.OrdinalIgnoreCase))).ToList();

    /// <summary>Postfix logs each recipient's delivery (<c>ID: to=&lt;...&gt;, ... status=sent</c>); one message is one queue id.</summary>
    public int DeliveriesLogged() => Log().Split('\n').Where(line => line.Contains(" status=sent ", StringComparison.Ordinal))
        .Select(line => line[..line.IndexOf(": to=<", StringComparison.Ordinal)].Split(' ')[^1]).Distinct(StringComparer.Ordinal).Count();

    public string LogTail() => string.Join('\n', Log().Split('\n').TakeLast(30));

    public async ValueTask DisposeAsync()
    {
        if (_started)
        {
            // postfix stop signals the master and waits (up to 5 s, then SIGKILL) for it and its children to exit.
            var (status, output) = await Run("postfix", "-c", ConfigDirectory, "stop");
            if (status != 0) Console.Error.WriteLine($"postfix -c {ConfigDirectory} stop exited with {status}: {output}");
            _started = false;
        }
        if (_sink is not null)
        {
            if (!_sink.HasExited) _sink.Kill(entireProcessTree: true);
            await _sink.WaitForExitAsync();
            _sink.Dispose();
            _sink = null;
        }
        foreach (var directory in new[] { Directory, SinkDirectory })
        {
            try
            {
                System.IO.Directory.Delete(directory, recursive: true);
            }
            catch (DirectoryNotFoundException) { }
        }
    }

    internal static async Task<(int Status, string Output)> Run(string command, params string[] arguments)
    {
        var info = new ProcessStartInfo(command, arguments)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"cannot start {command}");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, (await output) + (await error));
    }

    internal static bool Accepts(int port)
    {
        try
        {
            using var probe = new TcpClient();
            probe.Connect(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
