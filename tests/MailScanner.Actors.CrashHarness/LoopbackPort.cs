using System.Net;
using System.Net.Sockets;

namespace MailScanner.Actors.CrashHarness;

/// <summary>A TCP port on 127.0.0.1 that nothing listens on right now, for a daemon a test starts.</summary>
/// <remarks>
/// Never one it handed out before in this process: the kernel may give the port just freed to the next bind, and three
/// cluster nodes were once given two equal ports (both listened, as Akka's transport reuses addresses, and formed two
/// clusters).
/// </remarks>
public static class LoopbackPort
{
    private static readonly HashSet<int> HandedOut = new();

    public static int Free()
    {
        while (true)
        {
            var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            int port;
            try
            {
                port = ((IPEndPoint)listener.LocalEndpoint).Port;
            }
            finally
            {
                listener.Stop();
            }
            lock (HandedOut)
            {
                if (HandedOut.Add(port)) return port;
            }
        }
    }
}
