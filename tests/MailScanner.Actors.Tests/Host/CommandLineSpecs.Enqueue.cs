using System.Globalization;
using System.Text;
using MailScanner.Actors.Identity;
using MailScanner.Actors.Queue;
using MailScanner.Actors.Queue.Postfix;
using MailScanner.Actors.Queue.ZMailer;
using Xunit;

namespace MailScanner.Actors.Tests.Host;

/// <summary>The <c>enqueue</c> command: a message into the configured incoming queue, in its format, as the MTA would queue it.</summary>
public sealed partial class CommandLineSpecs
{
    private const string ZMailerQueueConfig = """
        mailscanner.queue { incoming = "spool/router", outgoing = "spool/outgoing" }
        """;

    private const string HeaderAddressedMessage =
        "From: Alice <alice@example.org>\r\nTo: Bob <bob@example.net>, carol@example.com\r\nCc: \"Dave\" <dave@example.com>\r\n" +
        "Bcc: bob@EXAMPLE.net, eve@example.com\r\nSubject: hello\r\n\r\nHello.\r\n";

    [Fact]
    public async Task Should_queue_a_message_file_as_zmailer_does_with_the_envelope_from_its_headers_and_print_its_queue_id()
    {
        await File.WriteAllTextAsync(Path.Combine(_dir.FullName, "gateway.conf"), ZMailerQueueConfig);
        var incoming = Directory.CreateDirectory(Path.Combine(_dir.FullName, "spool/router")).FullName;
        await File.WriteAllTextAsync(Path.Combine(_dir.FullName, "hello.eml"), HeaderAddressedMessage);

        var (exitCode, stdout, stderr) = await RunToEnd("enqueue", "--config", "gateway.conf", "hello.eml");

        Assert.True(exitCode == 0, $"exit {exitCode}; stderr: {stderr}");
        var queueId = stdout.Trim();
        var path = Assert.Single(Directory.GetFiles(incoming));
        Assert.Equal(queueId, Path.GetFileName(path));
        Assert.Equal(NativeFile.TryGetIdentity(path)!.Value.Inode.ToString(CultureInfo.InvariantCulture), queueId); // ZMailer: named by its inode
        var parsed = Assert.IsType<ZMailerParseResult.Parsed>(ZMailerQueueFile.Parse(await File.ReadAllBytesAsync(path)));
        Assert.Equal("alice@example.org", parsed.Envelope.Sender);
        Assert.Equal(["bob@example.net", "carol@example.com", "dave@example.com", "eve@example.com"], parsed.Envelope.Recipients);
        Assert.Equal(HeaderAddressedMessage, Encoding.ASCII.GetString((await File.ReadAllBytesAsync(path))[parsed.MessageOffset..]));
    }

    [Fact]
    public async Task Should_queue_standard_input_with_the_envelope_given_on_the_command_line()
    {
        await File.WriteAllTextAsync(Path.Combine(_dir.FullName, "gateway.conf"), ZMailerQueueConfig);
        var incoming = Directory.CreateDirectory(Path.Combine(_dir.FullName, "spool/router")).FullName;

        var (exitCode, stdout, stderr) = await RunWithInput(HeaderAddressedMessage, "enqueue", "--config", "gateway.conf",
            "--from", "", "--to", "postmaster@example.org", "--to", "abuse@example.org");

        Assert.True(exitCode == 0, $"exit {exitCode}; stderr: {stderr}");
        var path = Assert.Single(Directory.GetFiles(incoming));
        Assert.Equal(stdout.Trim(), Path.GetFileName(path));
        var parsed = Assert.IsType<ZMailerParseResult.Parsed>(ZMailerQueueFile.Parse(await File.ReadAllBytesAsync(path)));
        Assert.Equal("", parsed.Envelope.Sender); // a bounce's null sender
        Assert.Equal(["postmaster@example.org", "abuse@example.org"], parsed.Envelope.Recipients);
    }

    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public async Task Should_write_a_held_postfix_queue_file_as_cleanup_does_when_the_queue_is_postfix()
    {
        var queue = Path.Combine(_dir.FullName, "postfix");
        await File.WriteAllTextAsync(Path.Combine(_dir.FullName, "gateway.conf"), $$"""
            mailscanner.queue { format = postfix, incoming = "{{queue}}/hold", outgoing = "{{queue}}/incoming", postfix.mail-owner = postfix }
            """);
        var hold = Directory.CreateDirectory(Path.Combine(queue, "hold")).FullName;
        await File.WriteAllTextAsync(Path.Combine(_dir.FullName, "one.eml"), HeaderAddressedMessage);
        await File.WriteAllTextAsync(Path.Combine(_dir.FullName, "two.eml"), HeaderAddressedMessage.Replace("hello", "again", StringComparison.Ordinal));

        var (exitCode, stdout, stderr) = await RunToEnd("enqueue", "--config", "gateway.conf", "--to", "bob@example.net", "one.eml", "two.eml");

        Assert.True(exitCode == 0, $"exit {exitCode}; stderr: {stderr}");
        var ids = Lines(stdout);
        Assert.Equal(2, ids.Length);
        Assert.Equal(ids.Order(), Directory.GetFiles(hold).Select(Path.GetFileName).Order());
        var format = new PostfixFormat(new PostfixQueueLayout(queue));
        foreach (var id in ids)
        {
            var path = Path.Combine(hold, id);
            Assert.True(PostfixQueueId.TryGetInode(id, out var inode) && inode == NativeFile.TryGetIdentity(path)!.Value.Inode, $"{id} does not carry its inode");
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(path)); // complete, for Postfix
            var parsed = Assert.IsType<QueueFileParse.Parsed>(format.Parse(await File.ReadAllBytesAsync(path)));
            Assert.Equal("alice@example.org", parsed.Envelope.Sender);
            Assert.Equal(["bob@example.net"], parsed.Envelope.Recipients);
        }
    }

    [Fact]
    public async Task Should_refuse_a_message_without_recipients_and_queue_nothing_but_the_others()
    {
        await File.WriteAllTextAsync(Path.Combine(_dir.FullName, "gateway.conf"), ZMailerQueueConfig);
        var incoming = Directory.CreateDirectory(Path.Combine(_dir.FullName, "spool/router")).FullName;
        await File.WriteAllTextAsync(Path.Combine(_dir.FullName, "nobody.eml"), "From: alice@example.org\r\nSubject: to nobody\r\n\r\nHello.\r\n");
        await File.WriteAllTextAsync(Path.Combine(_dir.FullName, "hello.eml"), HeaderAddressedMessage);

        var (exitCode, stdout, stderr) = await RunToEnd("enqueue", "--config", "gateway.conf", "nobody.eml", "missing.eml", "hello.eml");

        Assert.Equal(1, exitCode);
        Assert.Contains("mailscanner-actors: nobody.eml: not queued: no recipients", stderr, StringComparison.Ordinal);
        Assert.Contains("mailscanner-actors: missing.eml: not queued: ", stderr, StringComparison.Ordinal);
        Assert.Equal([Path.GetFileName(Assert.Single(Directory.GetFiles(incoming)))], Lines(stdout));
    }

    [Fact]
    public async Task Should_refuse_when_the_incoming_queue_does_not_exist()
    {
        await File.WriteAllTextAsync(Path.Combine(_dir.FullName, "gateway.conf"), ZMailerQueueConfig);

        var (exitCode, _, stderr) = await RunWithInput(HeaderAddressedMessage, "enqueue", "--config", "gateway.conf");

        Assert.Equal(1, exitCode);
        Assert.Contains($"the incoming queue {Path.Combine(_dir.FullName, "spool/router")} does not exist", stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(_dir.FullName, "spool")), "enqueue must not create the MTA's directories");
    }
}
