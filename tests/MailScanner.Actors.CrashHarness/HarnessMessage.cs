using System.Buffers.Text;
using System.Globalization;
using System.Text;

namespace MailScanner.Actors.CrashHarness;

/// <summary>
/// The messages the producer queues: a ZMailer envelope (DESIGN.md §3) and a small RFC 5322 message whose first
/// header, <c>X-Harness-Seq: N</c>, is unique in a run. Every <c>infectedEvery</c>-th message carries the EICAR test
/// file as an attachment, so the quarantine's writes are crashed into as well as the outgoing queue's.
/// </summary>
public static class HarnessMessage
{
    public const string SeqHeader = "X-Harness-Seq";

    // Split so that this assembly is not itself an EICAR file.
    private static readonly string Eicar = @"X5O!P%@AP[4\PZX54(P^)7CC)7}$" + "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

    public static bool IsInfected(int seq, int infectedEvery) => infectedEvery > 0 && seq % infectedEvery == infectedEvery - 1;

    /// <summary>Message <paramref name="seq"/> as a ZMailer queue file: envelope lines, env-end, the message.</summary>
    public static byte[] Create(int seq, int infectedEvery)
    {
        var (sender, recipient, message) = Parts(seq, infectedEvery);
        return [.. Encoding.ASCII.GetBytes($"from <{sender}>\nto <{recipient}>\nrcvdfrom harness.example [192.0.2.25]\nenv-end\n"), .. message];
    }

    /// <summary>Message <paramref name="seq"/>'s envelope sender and recipient and its RFC 5322 text, for any queue format.</summary>
    public static (string Sender, string Recipient, byte[] Message) Parts(int seq, int infectedEvery)
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"{SeqHeader}: {seq}\n");
        text.Append("From: Crash Harness <sender@harness.example>\n");
        text.Append(CultureInfo.InvariantCulture, $"To: rcpt{seq % 100}@harness.example\n");
        text.Append(CultureInfo.InvariantCulture, $"Subject: crash harness message {seq}\n");
        text.Append(CultureInfo.InvariantCulture, $"Message-ID: <{seq}.crash@harness.example>\n");
        text.Append("Date: Mon, 30 Nov 2026 08:00:00 +0000\n");
        text.Append("MIME-Version: 1.0\n");
        if (IsInfected(seq, infectedEvery))
        {
            text.Append("Content-Type: multipart/mixed; boundary=\"harness\"\n\n");
            text.Append("--harness\nContent-Type: text/plain; charset=us-ascii\n\n");
            text.Append(CultureInfo.InvariantCulture, $"Message {seq} of the crash harness, with the EICAR test file attached.\n");
            text.Append("--harness\nContent-Type: application/octet-stream; name=\"eicar.com\"\n");
            text.Append("Content-Disposition: attachment; filename=\"eicar.com\"\nContent-Transfer-Encoding: base64\n\n");
            text.Append(Convert.ToBase64String(Encoding.ASCII.GetBytes(Eicar))).Append('\n');
            text.Append("--harness--\n");
        }
        else
        {
            text.Append("Content-Type: text/plain; charset=us-ascii\n\n");
            text.Append(CultureInfo.InvariantCulture, $"Message {seq} of the crash harness.\n");
        }
        return ("sender@harness.example", string.Create(CultureInfo.InvariantCulture, $"rcpt{seq % 100}@harness.example"), Encoding.ASCII.GetBytes(text.ToString()));
    }

    /// <summary>
    /// The sequence number of a queue file (null when it has none or vanished while we looked), and whether the
    /// message's own text is there: a copy cut short by a crash has its header but not its body.
    /// </summary>
    /// <param name="messageOf">The message inside a queue file of the run's format (null: not such a file); the whole file unless told.</param>
    public static (int? Seq, bool Intact) Inspect(string path, Func<byte[], ReadOnlyMemory<byte>?>? messageOf = null)
    {
        byte[] content;
        try
        {
            content = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return (null, false);
        }
        if ((messageOf is null ? content : messageOf(content)) is not { } found) return (null, false);
        // The seq header comes first in the message (after an envelope, or a header an MTA put on top).
        var message = found.Span;
        ReadOnlySpan<byte> marker = "X-Harness-Seq: "u8;
        var at = message.StartsWith(marker) ? 0 : message.IndexOf("\nX-Harness-Seq: "u8) is var line and >= 0 ? line + 1 : -1;
        if (at < 0 || !Utf8Parser.TryParse(message[(at + marker.Length)..], out int seq, out _)) return (null, false);
        var body = Encoding.ASCII.GetBytes(string.Create(CultureInfo.InvariantCulture, $"Message {seq} of the crash harness"));
        return (seq, message.IndexOf(body) >= 0);
    }
}
