using System.Diagnostics;
using System.Text;
using MailScanner.Actors.Identity;
using MailScanner.Actors.Queue;
using MailScanner.Actors.Queue.Sendmail;
using MailScanner.Actors.Tests.TestSupport;
using Microsoft.Win32.SafeHandles;
using Xunit;

namespace MailScanner.Actors.Tests.Queue.Sendmail;

/// <summary>
/// Sendmail's qf/df pair as the gateway reads and writes it, against Debian's real Sendmail 8.17: what the receiving
/// sendmail queued over SMTP is read, written into the delivering sendmail's queue and delivered by its <c>-qI</c> run.
/// </summary>
public sealed class SendmailSpoolSpecs : IAsyncLifetime
{
    private const string Message = "From: alice@example.org\r\nTo: bob@example.com\r\nSubject: hi there\r\n  folded\r\n\r\nbody line 1\r\n.dot line\r\nlast\r\n";
    private SendmailInstance _sendmail = null!;
    private SendmailFormat _format = null!;

    public async Task InitializeAsync()
    {
        _sendmail = await SendmailInstance.StartAsync();
        _format = new SendmailFormat(_sendmail.Options);
    }

    public async Task DisposeAsync() => await _sendmail.DisposeAsync();

    private async Task<(string QfPath, QueueFileParse.Parsed Parsed)> ReceiveAsync(string? except = null)
    {
        var reply = await _sendmail.SendAsync("alice@example.org", ["bob@example.com", "carol@example.net"], Message);
        string? qf = null;
        await Eventually.Holds(() => (qf = Directory.GetFiles(_sendmail.ReceivingQueue, "qf*").SingleOrDefault(path => path != except)) is not null,
            TimeSpan.FromSeconds(20), () => $"the receiving sendmail to queue the message ({reply})");
        var parse = _format.ParseEntry(Read(qf!));
        return (qf!, Assert.IsType<QueueFileParse.Parsed>(parse));
    }

    private QueueEntryContent Read(string qfPath) =>
        new(File.ReadAllBytes(qfPath), _format.CompanionPathsOf(qfPath).Where(File.Exists).Select(path => (ReadOnlyMemory<byte>)File.ReadAllBytes(path)).ToList());

    [Fact]
    public async Task Should_read_the_envelope_and_the_message_the_receiving_sendmail_queued()
    {
        var (qfPath, parsed) = await ReceiveAsync();
        Assert.True(_format.IsQueueFileName(Path.GetFileName(qfPath)));
        Assert.Equal("alice@example.org", parsed.Envelope.Sender);
        Assert.Equal(["bob@example.com", "carol@example.net"], parsed.Envelope.Recipients);
        var message = Encoding.UTF8.GetString(parsed.Message.Span);
        Assert.StartsWith("Received: from ", message, StringComparison.Ordinal);
        Assert.Contains("by sendmail-specs.invalid", message, StringComparison.Ordinal);
        Assert.Contains("Subject: hi there\n  folded\n", message, StringComparison.Ordinal);
        Assert.EndsWith("\n\nbody line 1\n.dot line\nlast\n", message, StringComparison.Ordinal);
        Assert.DoesNotContain("Return-Path", message, StringComparison.Ordinal);
        Assert.Equal(File.ReadAllBytes(qfPath).Concat(File.ReadAllBytes(_format.CompanionPathsOf(qfPath)[0])), parsed.Original.ToArray());
    }

    [Fact]
    public async Task Should_write_an_entry_the_delivering_sendmail_delivers_and_the_gateway_reads_back()
    {
        var (_, parsed) = await ReceiveAsync();
        var tagged = "X-MailScanner-Actors: clean\n" + Encoding.UTF8.GetString(parsed.Message.Span);
        var outgoing = _format.ComposeOutgoing(parsed, Encoding.UTF8.GetBytes(tagged));
        Assert.Equal(outgoing.FinalName, _format.ComposeOutgoing(parsed, Encoding.UTF8.GetBytes(tagged)).FinalName);
        var qfPath = Path.Combine(_sendmail.DeliveringQueue, outgoing.FinalName!);
        File.WriteAllBytes(Path.Combine(_sendmail.DeliveringQueue, _format.Outgoing.CompanionNamesOf(outgoing.FinalName!)[0]), outgoing.Companions[0].ToArray());
        File.WriteAllBytes(qfPath, outgoing.Primary.ToArray());
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(qfPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);

        var readBack = Assert.IsType<QueueFileParse.Parsed>(_format.ParseEntry(Read(qfPath)));
        Assert.Equal(parsed.Envelope.Sender, readBack.Envelope.Sender);
        Assert.Equal(parsed.Envelope.Recipients, readBack.Envelope.Recipients);
        Assert.Equal(tagged, Encoding.UTF8.GetString(readBack.Message.Span));

        var (status, output) = await _sendmail.RunDeliveringQueueAsync(outgoing.FinalName![2..]);
        Assert.True(status == 0, output);
        var sink = new CompleteSinkFiles(_sendmail);
        await Eventually.Holds(() => _sendmail.SinkFiles().Count == 1 && sink.Count() == 1,
            TimeSpan.FromSeconds(20), () => $"one delivery to the sink; queue: {string.Join(' ', SendmailInstance.QueueFiles(_sendmail.DeliveringQueue))}; {output}");
        var delivered = File.ReadAllText(_sendmail.SinkFiles()[0]);
        Assert.Contains("X-MailScanner-Actors: clean", delivered, StringComparison.Ordinal);
        Assert.Contains("Subject: hi there", delivered, StringComparison.Ordinal);
        Assert.Contains("body line 1", delivered, StringComparison.Ordinal);
        // Sendmail removes the pair once the sink has answered the data, which may be a moment after the sink wrote it.
        await Eventually.Holds(() => SendmailInstance.QueueFiles(_sendmail.DeliveringQueue).Count == 0, TimeSpan.FromSeconds(20),
            () => $"sendmail to remove the delivered pair: {string.Join(' ', SendmailInstance.QueueFiles(_sendmail.DeliveringQueue))}");
    }

    [Fact]
    public async Task Should_leave_the_writers_staged_tf_files_alone_in_the_delivering_queue()
    {
        var (_, parsed) = await ReceiveAsync();
        var outgoing = _format.ComposeOutgoing(parsed, parsed.Message.Span);
        File.WriteAllBytes(Path.Combine(_sendmail.DeliveringQueue, "tf-7"), outgoing.Primary.ToArray());
        File.WriteAllBytes(Path.Combine(_sendmail.DeliveringQueue, "tf-7+1"), outgoing.Companions[0].ToArray());

        var (status, output) = await _sendmail.RunDeliveringQueueAsync();
        Assert.True(status == 0, output);
        Assert.Equal(["tf-7", "tf-7+1"], SendmailInstance.QueueFiles(_sendmail.DeliveringQueue));
        Assert.Empty(_sendmail.SinkFiles());
    }

    [Fact]
    public async Task Should_report_a_qf_without_its_df_and_a_truncated_qf_as_malformed()
    {
        var (qfPath, _) = await ReceiveAsync();
        var qf = File.ReadAllBytes(qfPath);
        var df = File.ReadAllBytes(_format.CompanionPathsOf(qfPath)[0]);
        Assert.Contains("df", Assert.IsType<QueueFileParse.Malformed>(_format.ParseEntry(QueueEntryContent.OneFile(qf))).Reason, StringComparison.Ordinal);
        Assert.Contains("truncated", Assert.IsType<QueueFileParse.Malformed>(_format.ParseEntry(new QueueEntryContent(qf[..(qf.Length / 2)], [df]))).Reason, StringComparison.Ordinal);
        Assert.IsType<QueueFileParse.Malformed>(_format.ParseEntry(new QueueEntryContent("V8\nT1\n.\n"u8.ToArray(), [df])));
    }

    [Fact]
    public async Task Should_not_claim_a_qf_while_another_process_holds_sendmails_lock_on_it()
    {
        var (qfPath, _) = await ReceiveAsync();
        Assert.True(CanLock(qfPath));

        using var holder = Process.Start(new ProcessStartInfo("flock", ["--exclusive", qfPath, "sleep", "60"]) { UseShellExecute = false })!;
        try
        {
            await Eventually.Holds(() => !CanLock(qfPath), TimeSpan.FromSeconds(10), () => "flock to take its lock");
            Assert.True(CanLock(_format.CompanionPathsOf(qfPath)[0]), "the df is not sendmail's to lock");
        }
        finally
        {
            holder.Kill(entireProcessTree: true);
            await holder.WaitForExitAsync();
        }
        // flock(1)'s child may outlive it for a moment with the locked file open.
        await Eventually.Holds(() => CanLock(qfPath), TimeSpan.FromSeconds(10), () => "the qf to be claimable once the lock is released");
    }

    [Fact]
    public async Task Should_take_a_qf_as_complete_only_once_sendmail_has_written_it()
    {
        // As sendmail starts a new message's qf: created empty, then locked, then written.
        var qfPath = Path.Combine(_sendmail.ReceivingQueue, "qf6B48Q7MI016113");
        await using (File.Create(qfPath)) { }
        Assert.False(_format.IsComplete(NativeFile.TryLStat(qfPath)!));

        var (queued, _) = await ReceiveAsync(except: qfPath);
        Assert.True(_format.IsComplete(NativeFile.TryLStat(queued)!));
    }

    /// <summary>Opened as the claim opens it (a plain open(2), no .NET FileShare lock of its own).</summary>
    private bool CanLock(string path)
    {
        Assert.Equal(OpenOutcome.Opened, NativeFile.TryOpenRegularForReading(path, out var opened));
        using SafeFileHandle handle = opened!;
        return _format.TryLockForClaim(handle, path);
    }

    [Fact]
    public void Should_enqueue_a_pair_the_gateway_reads_as_sent()
    {
        var id = _format.WriteIncomingEntry(_sendmail.ReceivingQueue, new QueueEnvelope("alice@example.org", ["bob@example.com"]), Encoding.UTF8.GetBytes(Message));
        Assert.Equal(["df" + id, "qf" + id], SendmailInstance.QueueFiles(_sendmail.ReceivingQueue));
        var parsed = Assert.IsType<QueueFileParse.Parsed>(_format.ParseEntry(Read(Path.Combine(_sendmail.ReceivingQueue, "qf" + id))));
        Assert.Equal("alice@example.org", parsed.Envelope.Sender);
        Assert.Equal(["bob@example.com"], parsed.Envelope.Recipients);
        Assert.Equal($"Received: by localhost (mailscanner-actors enqueue) id {id};\n", Encoding.UTF8.GetString(parsed.Message.Span).Split('\t')[0]);
        Assert.EndsWith("\n" + Message.Replace("\r\n", "\n", StringComparison.Ordinal), Encoding.UTF8.GetString(parsed.Message.Span), StringComparison.Ordinal);

        var again = _format.WriteIncomingEntry(_sendmail.ReceivingQueue, new QueueEnvelope("alice@example.org", ["bob@example.com"]), Encoding.UTF8.GetBytes(Message));
        Assert.NotEqual(id, again);
        Assert.NotEqual(SendmailQueueFile.IdFor(File.ReadAllBytes(Path.Combine(_sendmail.ReceivingQueue, "qf" + id))),
            SendmailQueueFile.IdFor(File.ReadAllBytes(Path.Combine(_sendmail.ReceivingQueue, "qf" + again))));
    }
}
