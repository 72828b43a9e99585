using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using MailScanner.Actors.CrashHarness;
using MailScanner.Actors.Scanning;
using MailScanner.Actors.Scanning.Spamd;

namespace MailScanner.Actors.Tests.TestSupport;

/// <summary>
/// A private spamd (Debian spamd, with the rules spamassassin ships) on a free loopback port: local tests only
/// (-L, no DNS or network rules), no per-user preferences (-x), <see cref="Children"/> children (two unless told),
/// logging to stderr; as root it runs its children as nobody (spamd refuses to scan as root). Its site configuration
/// is Debian's (<c>/etc/spamassassin</c>: the plugins, and the rules compiled by sa-compile when that is installed)
/// with Bayes off: no Bayes database is trained here, and nobody has no home to keep one in, so Bayes only tried to
/// auto-learn every message, failed to lock its database and logged a warning (about 15% of spamd's time).
/// </summary>
public class SpamdDaemon : ScannerDaemon
{
    public const string Gtube = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

    /// <summary>Two children. The only public constructor: xunit allows no other on a class fixture.</summary>
    public SpamdDaemon() : this(children: 2) { }

    private SpamdDaemon(int children) : base("spamd")
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(children, 1);
        Children = children;
        Port = LoopbackPort.Free();
    }

    /// <param name="children">spamd's --max-children; with --min-children equal, all are forked before the first scan
    /// (spamd scans one message per child at a time, so this is its concurrency).</param>
    /// <param name="childTimeout">spamd's --timeout-child; spamd's own default when null.</param>
    public static SpamdDaemon WithChildren(int children, TimeSpan? childTimeout = null) => new(children) { ChildTimeout = childTimeout };

    /// <summary>spamd's --timeout-child: a child still scanning after this is killed (spamd's default: 300 s).</summary>
    public TimeSpan? ChildTimeout { get; private init; }

    public int Children { get; }
    public int Port { get; }
    public ScannerAddress Address => new ScannerAddress.Tcp("127.0.0.1", Port);
    public SpamdClient Client(string? user = null) => new(Address, user);

    protected override ProcessStartInfo StartInfo()
    {
        var info = new ProcessStartInfo("spamd", [
            "--listen", $"127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}",
            "--local", "--nouser-config",
            "--max-children", Children.ToString(CultureInfo.InvariantCulture),
            "--min-children", Children.ToString(CultureInfo.InvariantCulture),
            "--syslog", "stderr",
            "--pidfile", Path.Combine(Directory, "spamd.pid"),
            "--siteconfigpath", SiteConfig,
        ]);
        if (ChildTimeout is { } childTimeout)
            info.ArgumentList.Add($"--timeout-child={((int)Math.Ceiling(childTimeout.TotalSeconds)).ToString(CultureInfo.InvariantCulture)}");
        if (IsRoot)
        {
            info.ArgumentList.Add("--username");
            info.ArgumentList.Add("nobody");
        }
        return info;
    }

    private string SiteConfig => Path.Combine(Directory, "site-config");

    protected override void BeforeStart()
    {
        System.IO.Directory.CreateDirectory(SiteConfig);
        foreach (var file in System.IO.Directory.EnumerateFiles("/etc/spamassassin").Where(f => f.EndsWith(".pre", StringComparison.Ordinal) || f.EndsWith(".cf", StringComparison.Ordinal)))
            File.Copy(file, Path.Combine(SiteConfig, Path.GetFileName(file)), overwrite: true);
        WriteFile(Path.Combine(SiteConfig, "zz-mailscanner-tests.cf"), "use_bayes 0\nbayes_auto_learn 0\n");
    }

    protected override Task PingAsync(CancellationToken cancellationToken) => Client().PingAsync(cancellationToken);
}
