using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using MailScanner.Actors.Scanning;
using MailScanner.Actors.Scanning.Clamd;

namespace MailScanner.Actors.Tests.TestSupport;

/// <summary>
/// A private clamd (Debian clamav-daemon): own clamd.conf, a unix socket in its temp directory, and a database of
/// two signatures written here, since there is no official one offline: an .ndb body signature for EICAR and an
/// .hdb md5:size signature for clamav-testfiles' clam.exe (which clamd also finds inside every other test file,
/// packed, archived or encoded). StreamMaxLength is small (4 MiB: just above the largest clamav-testfile, 1.7 MB) so that the limit can be tested.
/// </summary>
public class ClamdDaemon : ScannerDaemon
{
    public const string Eicar = @"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
    public const string EicarSignature = "Eicar-Test-Signature";

    /// <summary>clamd appends .UNOFFICIAL to the names of signatures from a database it cannot verify, as ours.</summary>
    public const string Unofficial = ".UNOFFICIAL";
    public const string ClamExeSignature = "Clam.Test.File";
    public const string TestFiles = "/usr/share/clamav-testfiles";
    public const long StreamMaxLength = 4 * 1024 * 1024;

    public ClamdDaemon() : base("clamd")
    {
        SocketPath = Path.Combine(Directory, "clamd.sock");
        var eicarHex = Convert.ToHexString(Encoding.ASCII.GetBytes(Eicar)).ToLowerInvariant();
        WriteFile(Path.Combine(Directory, "tests.ndb"), $"{EicarSignature}:0:*:{eicarHex}\n");
        var clamExe = File.ReadAllBytes(Path.Combine(TestFiles, "clam.exe"));
        WriteFile(Path.Combine(Directory, "tests.hdb"),
            $"{Convert.ToHexString(MD5.HashData(clamExe)).ToLowerInvariant()}:{clamExe.Length.ToString(CultureInfo.InvariantCulture)}:{ClamExeSignature}\n");
        ConfigFile = WriteFile(Path.Combine(Directory, "clamd.conf"), $"""
            Foreground yes
            LocalSocket {SocketPath}
            DatabaseDirectory {Directory}
            PidFile {Path.Combine(Directory, "clamd.pid")}
            LogFile {Path.Combine(Directory, "clamd.log")}
            StreamMaxLength {StreamMaxLength / 1024}K
            TemporaryDirectory {Directory}
            MaxThreads 8
            """ + "\n");
    }

    public string SocketPath { get; }
    public string ConfigFile { get; }
    public ScannerAddress Address => new ScannerAddress.Unix(SocketPath);
    public ClamdClient Client(int chunkSize = ClamdClient.DefaultChunkSize) => new(Address, chunkSize);

    /// <summary>A SIGKILLed clamd leaves its socket file behind.</summary>
    protected override void BeforeStart() => File.Delete(SocketPath);

    protected override ProcessStartInfo StartInfo() => new("clamd", ["-c", ConfigFile]);

    protected override Task PingAsync(CancellationToken cancellationToken) => Client().PingAsync(cancellationToken);
}
