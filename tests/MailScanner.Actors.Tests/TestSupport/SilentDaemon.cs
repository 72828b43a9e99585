using System.Net;
using System.Net.Sockets;

namespace MailScanner.Actors.Tests.TestSupport;

/// <summary>A spamd that accepts connections and never answers: every scan stays in flight until its timeout.</summary>
public sealed class SilentDaemon : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly List<Socket> _held = [];
    private readonly CancellationTokenSource _stop = new();

    public SilentDaemon()
    {
        _listener.Start();
        _ = HoldConnectionsAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    private async Task HoldConnectionsAsync()
    {
        try
        {
            while (true)
            {
                var socket = await _listener.AcceptSocketAsync(_stop.Token);
                lock (_held) _held.Add(socket);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        lock (_held)
        {
            foreach (var socket in _held) socket.Dispose();
        }
        _stop.Dispose();
    }
}
