using System.Globalization;
using System.Net.Sockets;

namespace MailScanner.Actors.Scanning;

/// <summary>
/// Where a scanner daemon listens: a unix socket path (clamd's usual <c>/run/clamav/clamd.ctl</c>) or
/// <c>host:port</c> (spamd's usual <c>127.0.0.1:783</c>; an IPv6 literal is written <c>[::1]:783</c>).
/// A unix socket path must be absolute, so that <c>localhost:783</c> can never be mistaken for a file name.
/// </summary>
public abstract record ScannerAddress
{
    private ScannerAddress() { }

    /// <summary>A unix-domain stream socket.</summary>
    public sealed record Unix(string Path) : ScannerAddress
    {
        public override string ToString() => Path;
    }

    /// <summary>A TCP endpoint; <paramref name="Host"/> is a name or an IP literal (without brackets).</summary>
    public sealed record Tcp(string Host, int Port) : ScannerAddress
    {
        public override string ToString() => Host.Contains(':', StringComparison.Ordinal)
            ? $"[{Host}]:{Port.ToString(CultureInfo.InvariantCulture)}"
            : $"{Host}:{Port.ToString(CultureInfo.InvariantCulture)}";
    }

    /// <summary>Parses an address, or throws <see cref="FormatException"/> saying what is wrong with it.</summary>
    public static ScannerAddress Parse(string text) =>
        TryParse(text, out var address, out var problem) ? address : throw new FormatException(problem);

    /// <summary>Parses an address; on failure <paramref name="problem"/> says why, in words an operator can act on.</summary>
    public static bool TryParse(string? text, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out ScannerAddress? address,
        [System.Diagnostics.CodeAnalysis.NotNullWhen(false)] out string? problem)
    {
        address = null;
        problem = null;
        var s = text?.Trim() ?? "";
        if (s.Length == 0)
        {
            problem = "an address is required: a unix socket path such as /run/clamav/clamd.ctl, or host:port such as 127.0.0.1:783";
            return false;
        }
        if (s[0] == '/')
        {
            if (s.EndsWith('/'))
            {
                problem = $"'{s}' names a directory; a unix socket path names the socket file";
                return false;
            }
            // sockaddr_un.sun_path holds 108 bytes including the terminating NUL.
            if (System.Text.Encoding.UTF8.GetByteCount(s) > 107)
            {
                problem = $"unix socket path '{s}' is longer than the 107 bytes a unix socket address can hold";
                return false;
            }
            address = new Unix(s);
            return true;
        }

        string host, port;
        if (s[0] == '[')
        {
            var close = s.IndexOf(']', StringComparison.Ordinal);
            if (close < 0 || close + 1 >= s.Length || s[close + 1] != ':')
            {
                problem = $"'{s}' is not [ipv6-address]:port";
                return false;
            }
            host = s[1..close];
            port = s[(close + 2)..];
        }
        else
        {
            var colon = s.LastIndexOf(':');
            if (colon < 0)
            {
                problem = $"'{s}' is neither an absolute unix socket path (starting with /) nor host:port";
                return false;
            }
            host = s[..colon];
            port = s[(colon + 1)..];
            if (host.Contains(':', StringComparison.Ordinal))
            {
                problem = $"'{s}': write an IPv6 address in brackets, as [::1]:783";
                return false;
            }
        }
        if (host.Length == 0 || host.Any(char.IsWhiteSpace))
        {
            problem = $"'{s}' has no usable host name before the port";
            return false;
        }
        if (!int.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out var number) || number is < 1 or > 65535)
        {
            problem = $"'{s}' has no valid port (a number from 1 to 65535 after the last ':')";
            return false;
        }
        address = new Tcp(host, number);
        return true;
    }

    /// <summary>Opens a stream connection to the daemon. Connection failures surface as <see cref="SocketException"/>.</summary>
    internal async Task<Socket> ConnectAsync(CancellationToken cancellationToken)
    {
        Socket socket;
        switch (this)
        {
            case Unix unix:
                socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await socket.ConnectAsync(new UnixDomainSocketEndPoint(unix.Path), cancellationToken).ConfigureAwait(false);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
                return socket;
            case Tcp tcp:
                socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    await socket.ConnectAsync(tcp.Host, tcp.Port, cancellationToken).ConfigureAwait(false);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
                return socket;
            default:
                throw new InvalidOperationException($"unknown address kind {GetType().Name}");
        }
    }
}
