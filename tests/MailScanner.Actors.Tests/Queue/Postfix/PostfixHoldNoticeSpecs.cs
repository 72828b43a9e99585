using System.Runtime.Versioning;
using System.Text;
using MailScanner.Actors.Identity;
using MailScanner.Actors.Queue.Postfix;
using MailScanner.Actors.Tests.Pipeline;
using MailScanner.Actors.Tests.TestSupport;
using Xunit;

namespace MailScanner.Actors.Tests.Queue.Postfix;

/// <summary>
/// Postfix's cleanup renames a held message into hold/ before its final fchmod 0700, so the watcher's listing on the
/// rename may find it still at 0600, not yet complete. The chmod that completes it is what the gateway must notice,
/// rather than leave the message for its next periodic listing (a second by default: most of the idle latency once).
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class PostfixHoldNoticeSpecs : IDisposable
{
    private readonly GatewayTestbed _bed = new();
    private readonly PostfixQueueLayout _layout;

    public PostfixHoldNoticeSpecs()
    {
        _layout = new PostfixQueueLayout(Path.Combine(_bed.Incoming, "postfix"), MailOwner: PostfixInstance.MailOwner);
        foreach (var directory in new[] { _layout.HoldDirectory, _layout.IncomingDirectory }) Directory.CreateDirectory(directory);
    }

    public void Dispose() => _bed.Dispose();

    [Fact]
    public async Task Should_take_a_held_file_as_soon_as_cleanup_marks_it_complete_not_at_the_next_listing()
    {
        var defaults = _bed.Settings();
        var settings = defaults with
        {
            Queue = defaults.Queue with
            {
                Format = PostfixFormat.FormatName,
                Incoming = _layout.HoldDirectory,
                Outgoing = _layout.IncomingDirectory,
                // No periodic listing within the spec: only a change notification can bring the message in.
                ScanInterval = TimeSpan.FromHours(1),
                Postfix = new PostfixQueueOptions(false, PostfixQueueLayout.DefaultHashQueueNames, 1, PostfixInstance.MailOwner),
            },
        };
        await using var gateway = await HostedGateway.StartAsync(settings);

        var stillWriting = Hold(0, complete: false);
        // A complete message after it: once it is delivered, the gateway has listed hold/ with the other one there at 0600.
        Hold(1, complete: true);
        await Eventually.Holds(() => gateway.Counters.Delivered == 1, TimeSpan.FromSeconds(30), () => $"the complete message to be delivered; {gateway.Counters}");
        Assert.True(File.Exists(stillWriting), "a hold file at 0600 is not complete and is left alone");

        File.SetUnixFileMode(stillWriting, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute); // cleanup's final fchmod
        await Eventually.Holds(() => gateway.Counters.Delivered == 2, TimeSpan.FromSeconds(10),
            () => $"the message to be taken once it is at 0700, long before the next periodic listing; {gateway.Counters}");
        Assert.Empty(Directory.EnumerateFileSystemEntries(_layout.HoldDirectory));
    }

    /// <summary>A held message renamed into hold/ under the short queue id of its inode, as cleanup does; at 0700 only when <paramref name="complete"/>.</summary>
    private string Hold(int seq, bool complete)
    {
        var arrival = PostfixArrivalTime.From(DateTimeOffset.UtcNow);
        var records = PostfixQueueFileWriter.Format(new PostfixEnvelope(arrival, "alice@example.org", [new PostfixRecipient($"rcpt{seq}@example.net")], [], []),
            Encoding.ASCII.GetBytes($"From: alice@example.org\nSubject: held {seq}\nX-Seq: {seq}\n\nHello.\n"));
        var temp = Path.Combine(_layout.HoldDirectory, $"cleanup.{seq}");
        ulong inode;
        using (var handle = NativeFile.CreateExclusive(temp, mode: complete ? 0b111_000_000 : 0b110_000_000))
        {
            RandomAccess.Write(handle, records, 0);
            inode = NativeFile.Stat(handle).Inode;
        }
        var path = Path.Combine(_layout.HoldDirectory, PostfixQueueId.For(arrival, inode, longIds: false));
        File.Move(temp, path);
        return path;
    }
}
