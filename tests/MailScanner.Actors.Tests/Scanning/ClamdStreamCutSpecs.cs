using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;
using MailScanner.Actors.Scanning;
using MailScanner.Actors.Scanning.Clamd;
using MailScanner.Actors.Tests.TestSupport;
using Xunit;

namespace MailScanner.Actors.Tests.Scanning;

/// <summary>
/// The one clamd behaviour a real clamd cannot be made to show on demand: the connection reset in the middle of
/// the stream with the reply lost. A tiny stand-in speaks just enough of the protocol (PING, INSTREAM) and resets
/// the first <c>cuts</c> INSTREAM connections after reading part of the stream.
/// </summary>
public sealed class ClamdStreamCutSpecs : IDisposable
{
    private readonly TempDirectory _dir = new(TempDirectory.Tmpfs);

    [Fact]
    public async Task Should_scan_again_when_the_connection_died_once_mid_stream()
    {
        using var server = new CuttingServer(_dir.File("c.sock"), cuts: 1);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var result = await new ClamdClient(new ScannerAddress.Unix(server.Path)).ScanAsync(new byte[4 << 20], cts.Token);
        Assert.Equal(ClamdResult.Clean.Instance, result);
        Assert.Equal((2, 1), (server.Streams, server.Pings));
    }

    [Fact]
    public async Task Should_report_too_large_never_clean_when_the_stream_is_cut_twice_while_clamd_answers_PING()
    {
        using var server = new CuttingServer(_dir.File("c.sock"), cuts: 2);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var result = await new ClamdClient(new ScannerAddress.Unix(server.Path)).ScanAsync(new byte[4 << 20], cts.Token);
        Assert.IsType<ClamdResult.TooLarge>(result);
    }

    public void Dispose() => _dir.Dispose();

    private sealed class CuttingServer : IDisposable
    {
        private readonly Socket _listener = new(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _loop;
        private int _cutsLeft;
        private int _streams;
        private int _pings;

        public CuttingServer(string path, int cuts)
        {
            Path = path;
            _cutsLeft = cuts;
            _listener.Bind(new UnixDomainSocketEndPoint(path));
            _listener.Listen(8);
            _loop = Task.Run(ServeAsync);
        }

        public string Path { get; }
        public int Streams => Volatile.Read(ref _streams);
        public int Pings => Volatile.Read(ref _pings);

        private async Task ServeAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                Socket connection;
                try
                {
                    connection = await _listener.AcceptAsync(_stop.Token);
                }
                catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
                {
                    return;
                }
                using (connection)
                {
                    try
                    {
                        await ServeOneAsync(connection);
                    }
                    catch (Exception e) when (e is IOException or SocketException) { } // the client went away
                }
            }
        }

        private async Task ServeOneAsync(Socket connection)
        {
            var command = new byte[6];
            await ReadExactlyAsync(connection, command);
            if (Encoding.ASCII.GetString(command) == "zPING\0")
            {
                Interlocked.Increment(ref _pings);
                await connection.SendAsync("PONG\0"u8.ToArray());
                return;
            }
            await ReadExactlyAsync(connection, new byte[4]); // the rest of "zINSTREAM\0"
            Interlocked.Increment(ref _streams);
            if (_cutsLeft-- > 0)
            {
                await ReadExactlyAsync(connection, new byte[64 * 1024]);
                connection.LingerState = new LingerOption(true, 0); // close with RST, no reply
                connection.Close();
                return;
            }
            var length = new byte[4];
            while (true)
            {
                await ReadExactlyAsync(connection, length);
                var n = BinaryPrimitives.ReadInt32BigEndian(length);
                if (n == 0) break;
                await ReadExactlyAsync(connection, new byte[n]);
            }
            await connection.SendAsync("stream: OK\0"u8.ToArray());
        }

        private static async Task ReadExactlyAsync(Socket socket, byte[] buffer)
        {
            for (var read = 0; read < buffer.Length;)
            {
                var n = await socket.ReceiveAsync(buffer.AsMemory(read));
                if (n == 0) throw new IOException("client closed early");
                read += n;
            }
        }

        public void Dispose()
        {
            _stop.Cancel();
            _listener.Dispose();
            try
            {
                _loop.Wait(TimeSpan.FromSeconds(5));
            }
            catch (AggregateException) { }
            _stop.Dispose();
        }
    }
}
