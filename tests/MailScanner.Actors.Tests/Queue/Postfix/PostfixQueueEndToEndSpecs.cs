using System.Runtime.Versioning;
using System.Text;
using MailScanner.Actors.Identity;
using MailScanner.Actors.Queue.Postfix;
using MailScanner.Actors.Tests.TestSupport;
using Xunit;

namespace MailScanner.Actors.Tests.Queue.Postfix;

/// <summary>
/// The Postfix format code against a real, private Postfix 3.7 (<see cref="PostfixInstance"/>): messages go in over
/// SMTP and are held, read from hold/, written back into incoming/ and delivered by Postfix to smtp-sink.
/// Runs alone (the scanner-daemon collection): a running MTA must not disturb the specs that reproduce inode reuse.
/// </summary>
[Collection(ScannerDaemonCollection.Name)]
[SupportedOSPlatform("linux")]
public sealed class PostfixQueueEndToEndSpecs
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private const string Sender = "alice@example.org";
    private static readonly string[] Recipients = ["bob@example.net", "Carol@Example.COM"];

    /// <summary>With its own Date and Message-ID, so cleanup adds no header but smtpd's Received; a dot line and a line longer than line_length_limit.</summary>
    private static readonly string SentMessage =
        "From: Alice <alice@example.org>\nTo: bob@example.net\nSubject: end to end\nDate: Fri, 02 Jan 2026 03:04:05 +0000\n" +
        "Message-ID: <end-to-end@example.org>\n\nfirst line\n.a line that starts with a dot\n" + new string('x', 5000) + "\nlast line\n";

    public static TheoryData<bool, string, int> Queues => new()
    {
        { false, PostfixQueueLayout.DefaultHashQueueNames, 1 },    // Debian's defaults: short ids, hold and incoming flat
        { true, "deferred, defer, hold, incoming", 2 },            // long ids, hold and incoming hashed two levels deep
        { false, "deferred, defer, hold, incoming", 1 },           // short ids, hashed one level
    };

    [Theory]
    [MemberData(nameof(Queues))]
    public async Task Should_hold_a_message_received_over_smtp_and_read_its_envelope_and_message_exactly(bool longIds, string hashQueueNames, int depth)
    {
        await using var postfix = await PostfixInstance.StartAsync(new PostfixInstanceOptions(longIds, hashQueueNames, depth));

        var queueId = await postfix.SendAsync(Sender, Recipients, SentMessage);
        var held = await WaitUntilReady(postfix, queueId);

        // Where Postfix put it is where the layout says, and its id embeds the file's inode in the form configured.
        var path = postfix.Layout.PathOf("hold", queueId);
        Assert.Equal([path], postfix.QueueFiles("hold"));
        Assert.Equal(longIds, PostfixQueueId.IsLong(queueId));
        Assert.True(PostfixQueueId.TryGetInode(queueId, out var inode));
        Assert.Equal(NativeFile.TryGetIdentity(path)!.Value.Inode, inode);

        Assert.Equal(Sender, held.Envelope.Sender);
        Assert.Equal(
            [
                new PostfixRecipient("bob@example.net", "bob@example.net", 0, "rfc822;bob@example.net"),
                new PostfixRecipient("Carol@Example.COM", "Carol@Example.COM", 0, "rfc822;Carol@Example.COM"),
            ],
            held.Envelope.Recipients);
        var message = Encoding.UTF8.GetString(held.Message);
        var (received, rest) = SplitReceived(message);
        Assert.StartsWith("Received: from ", received, StringComparison.Ordinal);
        Assert.Contains($"with ESMTP id {queueId}", received, StringComparison.Ordinal);
        Assert.Equal(SentMessage, rest);
        Assert.Equal(2, held.Size.RecipientCount);
        // Written again from what was read, it is the file cleanup wrote, byte for byte (record order, long lines, C record).
        Assert.Equal(File.ReadAllBytes(path), PostfixQueueFileWriter.Format(held.Envelope, held.Message));
    }

    [Fact]
    public async Task Should_write_again_byte_for_byte_a_held_file_whose_recipients_carry_dsn_requests()
    {
        await using var postfix = await PostfixInstance.StartAsync();

        var queueId = await postfix.SendAsync(Sender, Recipients, SentMessage, recipientParameters: "NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;Original+2Bx@example.org");
        var held = await WaitUntilReady(postfix, queueId);

        Assert.All(held.Envelope.Recipients, recipient =>
        {
            Assert.Equal(2 | 4, recipient.DsnNotify); // DSN_NOTIFY_SUCCESS | DSN_NOTIFY_FAILURE (dsn_mask.h)
            Assert.Equal("rfc822;Original+x@example.org", recipient.DsnOriginalRecipient); // smtpd decodes the xtext
        });
        Assert.Equal(6 << 1, held.Size.QmgrFlags); // cleanup's QMGR_READ_FLAG_FROM_DSN(notify) (qmgr_user.h)
        Assert.Equal(File.ReadAllBytes(postfix.Layout.PathOf("hold", queueId)), PostfixQueueFileWriter.Format(held.Envelope, held.Message));
    }

    [Theory]
    [MemberData(nameof(Queues))]
    public async Task Should_deliver_a_file_written_into_incoming_after_waking_qmgr_with_envelope_and_content_intact(bool longIds, string hashQueueNames, int depth)
    {
        await using var postfix = await PostfixInstance.StartAsync(new PostfixInstanceOptions(longIds, hashQueueNames, depth));
        var heldId = await postfix.SendAsync(Sender, Recipients, SentMessage);
        var held = await WaitUntilReady(postfix, heldId);

        // What the gateway does with a clean message: add its header, write the copy into incoming, delete the original.
        var modified = Encoding.UTF8.GetBytes("X-MailScanner-Actors: clean\n" + Encoding.UTF8.GetString(held.Message));
        var delivered = await HandBackAndAwaitDelivery(postfix, heldId, held.Envelope, modified, Encoding.UTF8);

        Assert.Equal(Sender, delivered.MailFrom);
        Assert.Equal(Recipients.Order(StringComparer.Ordinal), delivered.RcptTo.Order(StringComparer.Ordinal)); // qmgr sorts recipients before delivery
        Assert.Equal(Encoding.UTF8.GetString(modified), delivered.Message);
    }

    [Fact]
    public async Task Should_deliver_an_8bit_envelope_that_is_not_utf8_to_the_bytes_postfix_received()
    {
        // With smtputf8_enable = no, Postfix 3.7 takes these bytes (E9, FF) in MAIL FROM and RCPT TO and delivers to them as
        // they are; decoding them as UTF-8 would send the copy to other addresses (EF BF BD for each).
        await using var postfix = await PostfixInstance.StartAsync(new PostfixInstanceOptions(SmtpUtf8: false));
        const string sender = "\u00e9t\u00e9@example.org", recipient = "b\u00ff@example.net"; // one char per byte on the wire: Latin-1
        var heldId = await postfix.SendAsync(sender, [recipient], "Subject: 8-bit \u00e9\n\nbody \u00e9\u00ff\n", Encoding.Latin1);
        var held = await WaitUntilReady(postfix, heldId);
        Assert.Equal("\ufffdt\ufffd@example.org", PostfixText.Display(held.Envelope.Sender)); // what the actors see

        // Postfix stored the bytes as they came, and the copy carries the same envelope records byte for byte.
        var heldRecords = QueueFileBuilder.Records(File.ReadAllBytes(postfix.Layout.PathOf("hold", heldId)));
        var copyRecords = QueueFileBuilder.Records(PostfixQueueFileWriter.Format(held.Envelope, held.Message));
        Assert.Contains(('S', sender), heldRecords);
        Assert.Contains(('R', recipient), heldRecords);
        foreach (var type in "SOR") Assert.Equal(heldRecords.Where(r => r.Type == type), copyRecords.Where(r => r.Type == type));

        var delivered = await HandBackAndAwaitDelivery(postfix, heldId, held.Envelope, held.Message, Encoding.Latin1);

        // smtp-sink logs each command byte outside printable ASCII as '?' (printable() in smtp-sink.c): one '?' per byte
        // here, where the copy sent to the UTF-8 reading of those bytes would show three (EF BF BD).
        Assert.Equal("?t?@example.org", delivered.MailFrom);
        Assert.Equal(["b?@example.net"], delivered.RcptTo);
        Assert.Equal(Encoding.Latin1.GetString(held.Message), delivered.Message);
    }

    [Fact]
    public async Task Should_refuse_a_hold_file_not_yet_at_mode_0700()
    {
        await using var postfix = await PostfixInstance.StartAsync();
        var queueId = await postfix.SendAsync(Sender, Recipients, SentMessage);
        await WaitUntilReady(postfix, queueId);
        var path = postfix.Layout.PathOf("hold", queueId);

        // The mode cleanup gives a queue file while it writes it (mail_stream_file(..., 0600)), before the final fchmod 0700.
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var notReady = Assert.IsType<PostfixReadiness.NotReady>(PostfixHoldReadiness.Check(path));
        Assert.Contains("mode 600 is not yet 0700", notReady.Reason, StringComparison.Ordinal);

        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        Assert.IsType<PostfixReadiness.Ready>(PostfixHoldReadiness.Check(path));
    }

    /// <summary>
    /// Writes the held message's copy into incoming as the gateway does, deletes the held original, wakes qmgr, and
    /// returns what smtp-sink received once Postfix has removed the copy, with every queue empty and no warning logged.
    /// </summary>
    private static async Task<SinkFile> HandBackAndAwaitDelivery(PostfixInstance postfix, string heldId, PostfixEnvelope envelope, byte[] message, Encoding sinkEncoding)
    {
        var entered = new PostfixMailQueue(postfix.Layout).Enter(PostfixQueueFileWriter.Format(envelope, message));
        File.Delete(postfix.Layout.PathOf("hold", heldId));
        Assert.Equal(postfix.Layout.PathOf("incoming", entered.QueueId), entered.Path);
        Assert.IsType<PostfixWakeUp.Sent>(await PostfixQmgrTrigger.WakeAsync(postfix.Layout));

        var sink = new CompleteSinkFiles(postfix);
        await Eventually.Holds(() => postfix.Log().Contains($"{entered.QueueId}: removed", StringComparison.Ordinal) && sink.Count() == 1, Patience,
            () => $"Postfix to deliver and remove {entered.QueueId}; log:\n{postfix.Log()}");
        var delivered = SinkFile.Read(Assert.Single(postfix.SinkFiles()), sinkEncoding);
        foreach (var queue in new[] { "incoming", "hold", "active", "deferred", "corrupt" }) Assert.Empty(postfix.QueueFiles(queue));
        Assert.DoesNotContain(postfix.Log().Split('\n'), line => line.Contains("warning", StringComparison.Ordinal) || line.Contains("fatal", StringComparison.Ordinal));
        return delivered;
    }

    private static async Task<PostfixQueueFile> WaitUntilReady(PostfixInstance postfix, string queueId)
    {
        var path = postfix.Layout.PathOf("hold", queueId);
        PostfixReadiness readiness = new PostfixReadiness.NotReady("not checked yet");
        await Eventually.Holds(() => (readiness = PostfixHoldReadiness.Check(path)) is PostfixReadiness.Ready, Patience,
            () => $"{path} to be complete ({readiness}); hold holds [{string.Join(", ", postfix.QueueFiles("hold"))}]; log:\n{postfix.Log()}");
        return ((PostfixReadiness.Ready)readiness).File;
    }

    /// <summary>The Received header smtpd put on top (a line and its continuation lines), and the rest.</summary>
    private static (string Received, string Remainder) SplitReceived(string message)
    {
        var end = message.IndexOf('\n') + 1;
        while (end < message.Length && message[end] == '\t') end = message.IndexOf('\n', end) + 1;
        return (message[..end], message[end..]);
    }

    /// <summary>
    /// What smtp-sink -d keeps of one delivery: X-Mail-Args and X-Rcpt-Args lines (and the client's other details),
    /// its own Received header, the message with LF line endings and the dot-stuffing undone, and an empty line for the end.
    /// </summary>
    internal sealed record SinkFile(string MailFrom, IReadOnlyList<string> RcptTo, string Message)
    {
        public static SinkFile Read(string path) => Read(path, Encoding.UTF8);

        /// <param name="encoding">How to read its bytes: Latin-1 keeps every byte as one char.</param>
        public static SinkFile Read(string path, Encoding encoding)
        {
            var lines = File.ReadAllText(path, encoding).Split('\n').ToList();
            string? mailFrom = null;
            var rcptTo = new List<string>();
            var index = 0;
            for (; lines[index].StartsWith("X-", StringComparison.Ordinal); index++)
            {
                var (name, value) = (lines[index][..lines[index].IndexOf(':')], lines[index][(lines[index].IndexOf(':') + 2)..]);
                var address = value.Split(' ')[0].Trim('<', '>'); // "<addr> SIZE=..." and the like
                if (name == "X-Mail-Args") mailFrom = address;
                if (name == "X-Rcpt-Args") rcptTo.Add(address);
            }
            Assert.StartsWith("Received: from ", lines[index], StringComparison.Ordinal); // smtp-sink's own
            for (index++; lines[index].StartsWith('\t'); index++) { }
            Assert.Equal(["", ""], lines[^2..]); // the empty line smtp-sink writes for the end of data, then the file's last newline
            return new SinkFile(mailFrom ?? throw new InvalidDataException($"{path}: no X-Mail-Args"), rcptTo, string.Join('\n', lines[index..^2]) + "\n");
        }
    }
}
