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

    public static byte[] Create(int seq, int infectedEvery)
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"from <sender@harness.example>\n");
        text.Append(CultureInfo.InvariantCulture, $"to <rcpt{seq % 100}@harness.example>\n");
        text.Append("rcvdfrom harness.example [192.0.2.25]\n");
        text.Append("env-end\n");
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
        return Encoding.ASCII.GetBytes(text.ToString());
    }

    /// <summary>
    /// The sequence number of a queue file (null when it has none or vanished while we looked), and whether the
    /// message's own text is there: a copy cut short by a crash has its header but not its body.
    /// </summary>
    public static (int? Seq, bool Intact) Inspect(string path)
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
        ReadOnlySpan<byte> marker = "\nX-Harness-Seq: "u8;
        var at = content.AsSpan().IndexOf(marker);
        if (at < 0 || !Utf8Parser.TryParse(content.AsSpan(at + marker.Length), out int seq, out _)) return (null, false);
        var body = Encoding.ASCII.GetBytes(string.Create(CultureInfo.InvariantCulture, $"Message {seq} of the crash harness"));
        return (seq, content.AsSpan().IndexOf(body) >= 0);
    }
}
