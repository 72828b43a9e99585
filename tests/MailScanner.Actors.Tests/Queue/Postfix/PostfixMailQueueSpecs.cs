using System.Runtime.Versioning;
using System.Net.Sockets;
using MailScanner.Actors.Identity;
using MailScanner.Actors.Queue.Postfix;
using MailScanner.Actors.Tests.TestSupport;
using Xunit;

namespace MailScanner.Actors.Tests.Queue.Postfix;

/// <summary>Writing into a Postfix queue directory and waking qmgr, on real files (without a Postfix; the end-to-end specs have one).</summary>
[SupportedOSPlatform("linux")]
public sealed class PostfixMailQueueSpecs : IDisposable
{
    private static readonly PostfixEnvelope Envelope = new(new PostfixArrivalTime(1, 2), "a@x", [new PostfixRecipient("b@x")], [], []);

    private readonly TempDirectory _queue = new();

    public PostfixMailQueueSpecs()
    {
        Directory.CreateDirectory(_queue.File("incoming"));
        Directory.CreateDirectory(_queue.File("public"));
    }

    public void Dispose() => _queue.Dispose();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Should_name_the_file_by_a_queue_id_of_its_inode_at_mode_0700_and_leave_no_temp_name(bool longIds)
    {
        var layout = new PostfixQueueLayout(_queue.Path, LongQueueIds: longIds);
        var content = PostfixQueueFileWriter.Format(Envelope, "S: a\n\nb\n"u8);

        var entered = new PostfixMailQueue(layout).Enter(content);

        Assert.Equal(layout.PathOf("incoming", entered.QueueId), entered.Path);
        Assert.Equal([entered.QueueId], Directory.GetFileSystemEntries(layout.IncomingDirectory).Select(Path.GetFileName));
        Assert.Equal(longIds, PostfixQueueId.IsLong(entered.QueueId));
        Assert.True(PostfixQueueId.TryGetInode(entered.QueueId, out var inode));
        Assert.Equal(NativeFile.TryGetIdentity(entered.Path), entered.Identity);
        Assert.Equal(entered.Identity.Inode, inode);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(entered.Path));
        Assert.Equal(content, File.ReadAllBytes(entered.Path));
    }

    [Fact]
    public void Should_give_the_file_to_the_mail_owner_when_running_as_root()
    {
        Assert.True(Environment.IsPrivilegedProcess, "these specs run as root, as the gateway does");
        var entered = new PostfixMailQueue(new PostfixQueueLayout(_queue.Path, MailOwner: "nobody")).Enter(PostfixQueueFileWriter.Format(Envelope, "S: a\n"u8));

        Assert.Equal("nobody", Owner(entered.Path));
    }

    [Fact]
    public void Should_create_missing_hashed_directories_already_owned_by_the_mail_owner()
    {
        var layout = new PostfixQueueLayout(_queue.Path, LongQueueIds: true, HashQueueNames: "incoming", HashQueueDepth: 2, MailOwner: "nobody");
        var queue = new PostfixMailQueue(layout);

        var first = queue.Enter(PostfixQueueFileWriter.Format(Envelope, "S: a\n"u8));
        var second = queue.Enter(PostfixQueueFileWriter.Format(Envelope, "S: b\n"u8));

        foreach (var entered in new[] { first, second })
        {
            var levels = PostfixQueueId.HashDirectories(entered.QueueId, 2).Split('/', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(Path.Combine(layout.IncomingDirectory, levels[0], levels[1], entered.QueueId), entered.Path);
            Assert.Equal("nobody", Owner(Path.Combine(layout.IncomingDirectory, levels[0])));
            Assert.Equal("nobody", Owner(Path.Combine(layout.IncomingDirectory, levels[0], levels[1])));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.Combine(layout.IncomingDirectory, levels[0])));
        }
        // Only one-character directories: no temp directory left behind.
        Assert.All(Directory.GetDirectories(layout.IncomingDirectory, "*", SearchOption.AllDirectories), d => Assert.Single(Path.GetFileName(d)));
    }

    [Fact]
    public void Should_take_a_new_time_when_the_queue_id_is_taken_and_leave_the_file_there_alone()
    {
        var layout = new PostfixQueueLayout(_queue.Path);
        var clock = new ClockThatTakesTheFirstId(layout);

        var entered = new PostfixMailQueue(layout, clock).Enter(PostfixQueueFileWriter.Format(Envelope, "S: a\n"u8));

        Assert.NotNull(clock.TakenId);
        Assert.NotEqual(clock.TakenId, entered.QueueId);
        Assert.Equal("foreign", File.ReadAllText(layout.PathOf("incoming", clock.TakenId)));
        Assert.Equal(PostfixQueueId.Short(PostfixArrivalTime.From(clock.Start).Microseconds + 1, entered.Identity.Inode), entered.QueueId);
    }

    [Fact]
    public async Task Should_wake_qmgr_by_writing_I_and_a_nul_byte_to_its_unix_stream_socket()
    {
        var layout = new PostfixQueueLayout(_queue.Path);
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(layout.QmgrSocket));
        listener.Listen();

        var wake = PostfixQmgrTrigger.WakeAsync(layout);
        using var accepted = await listener.AcceptAsync();
        var received = new List<byte>();
        var buffer = new byte[16];
        int n;
        while ((n = await accepted.ReceiveAsync(buffer)) > 0) received.AddRange(buffer[..n]);

        Assert.IsType<PostfixWakeUp.Sent>(await wake);
        Assert.Equal([(byte)'I', 0], received);
    }

    [Fact]
    public async Task Should_report_a_missing_qmgr_socket_without_throwing()
    {
        var failed = Assert.IsType<PostfixWakeUp.Failed>(await PostfixQmgrTrigger.WakeAsync(new PostfixQueueLayout(_queue.Path)));

        Assert.Contains(Path.Combine(_queue.Path, "public", "qmgr"), failed.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Should_refuse_a_mail_owner_that_is_not_a_user()
    {
        var error = Assert.Throws<IOException>(() => new PostfixMailQueue(new PostfixQueueLayout(_queue.Path, MailOwner: "no-such-user-here")));

        Assert.Contains("mail_owner 'no-such-user-here' is not a user", error.Message, StringComparison.Ordinal);
    }

    private static string Owner(string path)
    {
        using var process = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("stat", ["-c", "%U", path]) { RedirectStandardOutput = true })!;
        var owner = process.StandardOutput.ReadToEnd().Trim();
        process.WaitForExit();
        return owner;
    }

    /// <summary>
    /// A clock that moves on by one microsecond at each reading. At the first it puts a foreign file under the id that
    /// reading gives the file being written (its temp name is the only entry with "-mailscanner"), so the writer's
    /// first rename must find the id taken.
    /// </summary>
    private sealed class ClockThatTakesTheFirstId(PostfixQueueLayout layout) : TimeProvider
    {
        private int _readings;

        public DateTimeOffset Start { get; } = new(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);
        public string? TakenId { get; private set; }

        public override DateTimeOffset GetUtcNow()
        {
            var now = Start.AddTicks(TimeSpan.TicksPerMicrosecond * _readings++);
            if (TakenId is null)
            {
                var temp = Directory.GetFiles(layout.IncomingDirectory, "*-mailscanner").Single();
                TakenId = PostfixQueueId.Short(PostfixArrivalTime.From(now).Microseconds, NativeFile.TryGetIdentity(temp)!.Value.Inode);
                File.WriteAllText(layout.PathOf("incoming", TakenId), "foreign");
            }
            return now;
        }
    }
}
