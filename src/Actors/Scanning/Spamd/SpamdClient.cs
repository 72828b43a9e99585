using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace MailScanner.Actors.Scanning.Spamd;

/// <summary>
/// The spamd protocol (SPAMC/1.5), by hand: one connection per request.
/// <c>SYMBOLS SPAMC/1.5\r\nContent-length: N\r\n[User: u\r\n]\r\n&lt;message&gt;</c> is answered
/// <c>SPAMD/1.1 0 EX_OK\r\nContent-length: M\r\nSpam: True ; 1000.0 / 5.0\r\n\r\nRULE_A,RULE_B</c>.
///
/// Connection failures surface as <see cref="SocketException"/> or <see cref="IOException"/>, an error status or
/// a reply the client cannot use as <see cref="ScannerProtocolException"/>: in those cases nothing was scored.
/// </summary>
/// <remarks>Thread-safe: it holds no connection between calls.</remarks>
public sealed class SpamdClient
{
    public const string Scanner = "spamd";

    /// <summary>A SYMBOLS reply is a few headers and a list of rule names; anything much longer is not spamd.</summary>
    private const int MaxReplyLength = 1024 * 1024;

    public SpamdClient(ScannerAddress address, string? user = null)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (user is not null && (user.Length == 0 || user.Any(c => c is '\r' or '\n')))
            throw new ArgumentException("a spamd user name must be non-empty and on one line", nameof(user));
        Address = address;
        User = user;
    }

    public ScannerAddress Address { get; }

    /// <summary>Sent as the <c>User:</c> header (whose preferences spamd applies), or none.</summary>
    public string? User { get; }

    /// <summary><c>PING SPAMC/1.5</c>; throws unless spamd answers <c>SPAMD/1.5 0 PONG</c>.</summary>
    public async Task PingAsync(CancellationToken cancellationToken)
    {
        var reply = await ExchangeAsync("PING SPAMC/1.5\r\n\r\n"u8.ToArray(), ReadOnlyMemory<byte>.Empty, cancellationToken)
            .ConfigureAwait(false);
        var statusLine = reply.Split("\r\n", 2)[0].Trim();
        var parts = statusLine.Split(' ', 3, StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length < 3 || !parts[0].StartsWith("SPAMD/", StringComparison.Ordinal) || parts[1] != "0" || parts[2] != "PONG")
            throw new ScannerProtocolException(Scanner, $"PING was answered '{statusLine}' instead of SPAMD/1.5 0 PONG");
    }

    /// <summary>Scores <paramref name="message"/> (an RFC 5322 message) with <c>SYMBOLS</c>.</summary>
    public async Task<SpamScore> SymbolsAsync(ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
    {
        var header = new StringBuilder("SYMBOLS SPAMC/1.5\r\n")
            .Append(CultureInfo.InvariantCulture, $"Content-length: {message.Length}\r\n");
        if (User is not null) header.Append(CultureInfo.InvariantCulture, $"User: {User}\r\n");
        header.Append("\r\n");
        var reply = await ExchangeAsync(Encoding.ASCII.GetBytes(header.ToString()), message, cancellationToken)
            .ConfigureAwait(false);
        return ParseSymbolsReply(reply);
    }

    private async Task<string> ExchangeAsync(byte[] head, ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
    {
        using var socket = await Address.ConnectAsync(cancellationToken).ConfigureAwait(false);
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        await stream.WriteAsync(head, cancellationToken).ConfigureAwait(false);
        if (!body.IsEmpty) await stream.WriteAsync(body, cancellationToken).ConfigureAwait(false);
        await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
        socket.Shutdown(SocketShutdown.Send); // as spamc does: the request is complete

        var buffer = new byte[8192];
        using var reply = new MemoryStream();
        while (true)
        {
            var read = await stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            if (read == 0) break;
            reply.Write(buffer, 0, read);
            if (reply.Length > MaxReplyLength)
                throw new ScannerProtocolException(Scanner, $"reply longer than {MaxReplyLength} bytes");
        }
        if (reply.Length == 0) throw new IOException("spamd closed the connection without a reply");
        return Encoding.UTF8.GetString(reply.GetBuffer(), 0, (int)reply.Length);
    }

    /// <summary>
    /// Reads a SYMBOLS reply: the status line (<c>SPAMD/1.1 0 EX_OK</c>; any other code is an error), the
    /// <c>Spam: True|False ; score / threshold</c> header, a blank line and the comma-separated rule names.
    /// </summary>
    internal static SpamScore ParseSymbolsReply(string reply)
    {
        var headerEnd = reply.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        var head = headerEnd < 0 ? reply : reply[..headerEnd];
        var body = headerEnd < 0 ? "" : reply[(headerEnd + 4)..];
        var lines = head.Split("\r\n");

        var status = lines[0].Split(' ', 3, StringSplitOptions.RemoveEmptyEntries);
        if (status.Length < 2 || !status[0].StartsWith("SPAMD/", StringComparison.Ordinal))
            throw new ScannerProtocolException(Scanner, $"reply does not start with a SPAMD status line: '{Excerpt(lines[0])}'");
        if (status[1] != "0")
            throw new ScannerProtocolException(Scanner, $"error status '{Excerpt(lines[0])}'");

        SpamScore? score = null;
        foreach (var line in lines.Skip(1))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon < 0 || !line[..colon].Trim().Equals("Spam", StringComparison.OrdinalIgnoreCase)) continue;
            score = ParseSpamHeader(line[(colon + 1)..]);
        }
        if (score is null) throw new ScannerProtocolException(Scanner, "reply has no Spam: header");

        var rules = body.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return score with { Rules = rules };
    }

    /// <summary><c> True ; 1000.0 / 5.0</c> → score and threshold (the True/False is implied by them).</summary>
    private static SpamScore ParseSpamHeader(string value)
    {
        var semicolon = value.IndexOf(';', StringComparison.Ordinal);
        var slash = value.IndexOf('/', StringComparison.Ordinal);
        if (semicolon < 0 || slash < semicolon
            || !double.TryParse(value.AsSpan(semicolon + 1, slash - semicolon - 1).Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var score)
            || !double.TryParse(value.AsSpan(slash + 1).Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var threshold))
            throw new ScannerProtocolException(Scanner, $"cannot read the Spam: header '{Excerpt(value.Trim())}' (expected 'True ; 7.2 / 5.0')");
        return new SpamScore(score, threshold, Array.Empty<string>());
    }

    private static string Excerpt(string s) => s.Length <= 200 ? s : s[..200] + "...";
}
