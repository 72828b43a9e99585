using System.Net;
using System.Net.Sockets;

namespace MailScanner.Actors.Tests.TestSupport;

/// <summary>A TCP port on 127.0.0.1 that nothing listens on right now, for a daemon a test starts.</summary>
public static class LoopbackPort
{
    public static int Free()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try
        {
            return ((IPEndPoint)listener.LocalEndpoint).Port;
        }
        finally
        {
            listener.Stop();
        }
    }
}
