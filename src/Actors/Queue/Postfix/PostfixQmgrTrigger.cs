using System.Net.Sockets;

namespace MailScanner.Actors.Queue.Postfix;

public abstract record PostfixWakeUp
{
    public sealed record Sent : PostfixWakeUp;

    /// <summary>qmgr could not be told (no socket, nobody listening, ...); the file is picked up at its next periodic scan (up to 300 s).</summary>
    public sealed record Failed(string Reason) : PostfixWakeUp;
}

/// <summary>
/// Tells qmgr to scan the incoming queue now: connect to the UNIX stream socket <c>public/qmgr</c> and write
/// <c>I</c> (QMGR_REQ_SCAN_INCOMING) followed by the NUL byte every Postfix trigger carries (unix_trigger.c).
/// </summary>
public static class PostfixQmgrTrigger
{
    private static readonly byte[] ScanIncoming = [(byte)'I', 0];

    public static async Task<PostfixWakeUp> WakeAsync(PostfixQueueLayout layout, CancellationToken cancellation = default)
    {
        try
        {
            using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(layout.QmgrSocket), cancellation);
            await socket.SendAsync(ScanIncoming, SocketFlags.None, cancellation);
            socket.Shutdown(SocketShutdown.Send);
            return new PostfixWakeUp.Sent();
        }
        catch (SocketException e)
        {
            return new PostfixWakeUp.Failed($"cannot wake qmgr through {layout.QmgrSocket}: {e.Message} ({e.SocketErrorCode})");
        }
    }
}
