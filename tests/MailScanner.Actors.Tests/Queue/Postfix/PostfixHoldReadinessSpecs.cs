using System.Runtime.Versioning;
using MailScanner.Actors.Queue.Postfix;
using MailScanner.Actors.Tests.TestSupport;
using Xunit;

namespace MailScanner.Actors.Tests.Queue.Postfix;

[SupportedOSPlatform("linux")]
public sealed class PostfixHoldReadinessSpecs : IDisposable
{
    private static readonly byte[] Complete = PostfixQueueFileWriter.Format(
        new PostfixEnvelope(new PostfixArrivalTime(1, 2), "a@x", [new PostfixRecipient("b@x")], [], []), "Subject: a\n\nbody\n"u8);

    private const UnixFileMode Ready = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode Writing = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private readonly TempDirectory _hold = new();

    public void Dispose() => _hold.Dispose();

    [Fact]
    public void Should_take_a_complete_file_at_mode_0700()
    {
        var ready = Assert.IsType<PostfixReadiness.Ready>(PostfixHoldReadiness.Check(Write("A1", Complete, Ready)));

        Assert.Equal("a@x", ready.File.Envelope.Sender);
        Assert.Equal("Subject: a\n\nbody\n"u8.ToArray(), ready.File.Message);
    }

    [Fact]
    public void Should_refuse_a_complete_file_still_at_mode_0600_as_cleanup_leaves_it_until_its_final_fchmod()
    {
        var notReady = Assert.IsType<PostfixReadiness.NotReady>(PostfixHoldReadiness.Check(Write("A2", Complete, Writing)));

        Assert.Contains("mode 600 is not yet 0700", notReady.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Should_refuse_a_file_at_0700_whose_records_do_not_end_in_E()
    {
        var notReady = Assert.IsType<PostfixReadiness.NotReady>(PostfixHoldReadiness.Check(Write("A3", Complete[..^2], Ready)));

        Assert.Contains("no end record (E)", notReady.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Should_take_a_file_whose_group_bits_carry_postsupers_expire_flag()
    {
        // postsuper -e sets S_IXGRP (MAIL_QUEUE_STAT_EXPIRE); Postfix still opens such a file (mail_open_ok.c looks at the owner bits only).
        Assert.IsType<PostfixReadiness.Ready>(PostfixHoldReadiness.Check(Write("A4", Complete, Ready | UnixFileMode.GroupExecute)));
    }

    [Fact]
    public void Should_refuse_what_is_not_there_or_not_a_regular_file()
    {
        Assert.Contains("missing", Assert.IsType<PostfixReadiness.NotReady>(PostfixHoldReadiness.Check(_hold.File("gone"))).Reason, StringComparison.Ordinal);
        File.CreateSymbolicLink(_hold.File("link"), Write("A5", Complete, Ready));
        Assert.Contains("not a regular file", Assert.IsType<PostfixReadiness.NotReady>(PostfixHoldReadiness.Check(_hold.File("link"))).Reason, StringComparison.Ordinal);
    }

    private string Write(string name, byte[] content, UnixFileMode mode)
    {
        var path = _hold.File(name);
        File.WriteAllBytes(path, content);
        File.SetUnixFileMode(path, mode);
        return path;
    }
}
