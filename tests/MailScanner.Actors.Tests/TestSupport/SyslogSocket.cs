using System.Net.Sockets;
using System.Text;

namespace MailScanner.Actors.Tests.TestSupport;

/// <summary>
/// A syslog socket of a spec's own (a UNIX datagram socket, what <c>/dev/log</c> is): a daemon that logs only through
/// syslog(3), as sendmail does, is pointed at it and every line it logs is kept for the spec to read.
/// </summary>
internal sealed class SyslogSocket : IDisposable
{
    private readonly Socket _socket;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _reading;
    private readonly List<string> _lines = [];

    public SyslogSocket(string path)
    {
        Path = path;
        _socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        _socket.Bind(new UnixDomainSocketEndPoint(path));
        // Sendmail drops to other users for some of its work; whoever logs must be able to send.
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, (UnixFileMode)0b110_110_110);
        _reading = Task.Run(ReadAsync);
    }

    public string Path { get; }

    /// <summary>Each message received so far, as sent (<c>&lt;priority&gt;date tag[pid]: text</c>).</summary>
    public IReadOnlyList<string> Lines()
    {
        lock (_lines) return _lines.ToList();
    }

    private async Task ReadAsync()
    {
        var buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                var length = await _socket.ReceiveAsync(buffer, SocketFlags.None, _stop.Token);
                var line = Encoding.UTF8.GetString(buffer, 0, length).TrimEnd('\n', '\0');
                lock (_lines) _lines.Add(line);
            }
        }
        catch (OperationCanceledException) { }
        catch (ObjectDisposedException) { }
    }

    public void Dispose()
    {
        _stop.Cancel();
        try
        {
            _reading.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException) { }
        _socket.Dispose();
        _stop.Dispose();
        File.Delete(Path);
    }
}
