using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;

namespace MailScanner.Actors.Scanning.Clamd;

/// <summary>
/// The clamd protocol, by hand: one connection per command, <c>z</c>-prefixed commands (NUL-terminated command
/// and reply), content sent with <c>zINSTREAM</c> as chunks each preceded by its length as 4 big-endian bytes and
/// ended by a zero length.
///
/// Connection failures surface as <see cref="SocketException"/> or <see cref="IOException"/>, a reply the client
/// cannot use as <see cref="ScannerProtocolException"/>, cancellation as <see cref="OperationCanceledException"/>:
/// in every one of those cases the content was not scanned.
/// </summary>
/// <remarks>Thread-safe: it holds no connection between calls, so one instance serves concurrent scans.</remarks>
public sealed class ClamdClient
{
    public const string Scanner = "clamd";
    public const int DefaultChunkSize = 64 * 1024;

    /// <summary>clamd's replies are one line; anything longer is not clamd.</summary>
    private const int MaxReplyLength = 64 * 1024;

    private static readonly byte[] InstreamCommand = "zINSTREAM\0"u8.ToArray();
    private static readonly byte[] EndOfStream = new byte[4];

    private readonly int _chunkSize;

    public ClamdClient(ScannerAddress address, int chunkSize = DefaultChunkSize)
    {
        ArgumentNullException.ThrowIfNull(address);
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkSize, 1);
        Address = address;
        _chunkSize = chunkSize;
    }

    public ScannerAddress Address { get; }

    /// <summary><c>zPING</c>; throws unless clamd answers <c>PONG</c>.</summary>
    public async Task PingAsync(CancellationToken cancellationToken)
    {
        var reply = await CommandAsync("zPING\0", cancellationToken).ConfigureAwait(false);
        if (reply != "PONG") throw new ScannerProtocolException(Scanner, $"PING was answered '{reply}' instead of PONG");
    }

    /// <summary><c>zVERSION</c>: clamd's version and its database's, as <c>ClamAV 1.4.6/27000/...</c>.</summary>
    public async Task<string> VersionAsync(CancellationToken cancellationToken)
    {
        var reply = await CommandAsync("zVERSION\0", cancellationToken).ConfigureAwait(false);
        if (!reply.StartsWith("ClamAV ", StringComparison.Ordinal))
            throw new ScannerProtocolException(Scanner, $"VERSION was answered '{reply}'");
        return reply;
    }

    /// <summary>
    /// Streams <paramref name="content"/> to clamd with <c>zINSTREAM</c> and returns its verdict.
    /// </summary>
    /// <remarks>
    /// Over <c>StreamMaxLength</c> clamd sends <c>INSTREAM size limit exceeded. ERROR</c> and closes the socket, so
    /// the client may see EPIPE or ECONNRESET while still sending. The reply is then read anyway. If there is none,
    /// the connection died mid-stream: that is either the size limit (reply lost with the reset) or clamd going
    /// away. clamd is asked PING (no answer: the error propagates, the content is unscanned) and the scan is tried
    /// once more, so a daemon that was merely restarted scans it properly; a second death mid-stream with a daemon
    /// that answers PING is reported as <see cref="ClamdResult.TooLarge"/>, never as clean.
    /// </remarks>
    public async Task<ClamdResult> ScanAsync(ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        var result = await TryScanAsync(content, cancellationToken).ConfigureAwait(false);
        if (result is not null) return result;

        await PingAsync(cancellationToken).ConfigureAwait(false);
        result = await TryScanAsync(content, cancellationToken).ConfigureAwait(false);
        return result ?? new ClamdResult.TooLarge(
            $"clamd closed the connection in the middle of a {content.Length}-byte stream twice while answering PING " +
            "(the stream exceeds its StreamMaxLength)");
    }

    /// <summary>One INSTREAM exchange; null when the connection died mid-stream without any reply.</summary>
    private async Task<ClamdResult?> TryScanAsync(ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        using var socket = await Address.ConnectAsync(cancellationToken).ConfigureAwait(false);
        await using var stream = new NetworkStream(socket, ownsSocket: false);

        var sendFailed = false;
        try
        {
            await SendStreamAsync(stream, content, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException && !cancellationToken.IsCancellationRequested)
        {
            sendFailed = true; // EPIPE / ECONNRESET: clamd may have said why before closing; read it.
        }

        string reply;
        try
        {
            reply = await ReadReplyAsync(stream, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (sendFailed && e is IOException or SocketException && !cancellationToken.IsCancellationRequested)
        {
            return null;
        }
        if (reply.Length == 0)
        {
            if (sendFailed) return null;
            throw new IOException("clamd closed the connection without a reply");
        }
        return ParseScanReply(reply);
    }

    private async Task SendStreamAsync(NetworkStream stream, ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        await stream.WriteAsync(InstreamCommand, cancellationToken).ConfigureAwait(false);
        var length = new byte[4];
        for (var offset = 0; offset < content.Length; offset += _chunkSize)
        {
            var chunk = content.Slice(offset, Math.Min(_chunkSize, content.Length - offset));
            BinaryPrimitives.WriteUInt32BigEndian(length, (uint)chunk.Length);
            await stream.WriteAsync(length, cancellationToken).ConfigureAwait(false);
            await stream.WriteAsync(chunk, cancellationToken).ConfigureAwait(false);
        }
        await stream.WriteAsync(EndOfStream, cancellationToken).ConfigureAwait(false);
        await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The text of a <c>z</c> command's reply, up to its NUL (or the end of the connection).</summary>
    private static async Task<string> ReadReplyAsync(NetworkStream stream, CancellationToken cancellationToken)
    {
        var buffer = new byte[4096];
        using var reply = new MemoryStream();
        while (true)
        {
            var read = await stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            if (read == 0) break;
            var nul = Array.IndexOf(buffer, (byte)0, 0, read);
            reply.Write(buffer, 0, nul < 0 ? read : nul);
            if (nul >= 0) break;
            if (reply.Length > MaxReplyLength)
                throw new ScannerProtocolException(Scanner, $"reply longer than {MaxReplyLength} bytes without its terminating NUL");
        }
        return Encoding.UTF8.GetString(reply.GetBuffer(), 0, (int)reply.Length).Trim();
    }

    private async Task<string> CommandAsync(string command, CancellationToken cancellationToken)
    {
        using var socket = await Address.ConnectAsync(cancellationToken).ConfigureAwait(false);
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        await stream.WriteAsync(Encoding.ASCII.GetBytes(command), cancellationToken).ConfigureAwait(false);
        var reply = await ReadReplyAsync(stream, cancellationToken).ConfigureAwait(false);
        if (reply.Length == 0) throw new IOException($"clamd closed the connection without answering {command.TrimEnd('\0')}");
        return reply;
    }

    /// <summary>
    /// Reads one INSTREAM reply: <c>stream: OK</c>, <c>stream: &lt;name&gt; FOUND</c>,
    /// <c>INSTREAM size limit exceeded. ERROR</c>, <c>... ERROR</c>. Anything else is a protocol error.
    /// </summary>
    internal static ClamdResult ParseScanReply(string reply)
    {
        var text = reply.Trim().TrimEnd('\0');
        if (text.Contains("size limit exceeded", StringComparison.OrdinalIgnoreCase))
            return new ClamdResult.TooLarge(text);
        var body = text.StartsWith("stream:", StringComparison.Ordinal) ? text["stream:".Length..].Trim() : text;
        if (body == "OK") return ClamdResult.Clean.Instance;
        if (body.EndsWith(" FOUND", StringComparison.Ordinal))
        {
            var signature = body[..^" FOUND".Length].Trim();
            if (signature.Length > 0) return new ClamdResult.Found(signature);
        }
        if (body.EndsWith("ERROR", StringComparison.Ordinal))
            return new ClamdResult.Error(body[..^"ERROR".Length].Trim());
        throw new ScannerProtocolException(Scanner, $"unexpected reply '{text}'");
    }
}
