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

    /// <summary>
    /// The README's quick start, as a new user types it: the gateway on its embedded defaults (only spamd switched on,
    /// here a private one), then one clean, one EICAR and one GTUBE message fed with <c>enqueue</c>.
    /// </summary>
    [Fact]
    public async Task Should_take_the_quick_start_clean_eicar_and_gtube_messages_through_the_default_gateway()
    {
        using var spamd = new TestSupport.SpamdDaemon();
        await spamd.StartAsync();
        await File.WriteAllTextAsync(Path.Combine(_dir.FullName, "try.conf"), $"mailscanner.scanners.spamd {{ enabled = yes, address = \"127.0.0.1:{spamd.Port}\" }}\n");
        var (gateway, gatewayOut, gatewayErr) = Start("run", "--config", "try.conf");
        var outgoing = Path.Combine(_dir.FullName, "var/spool/outgoing");
        await Until(() => Read(gatewayOut).Contains("mailscanner-actors started"), gateway, gatewayOut, gatewayErr);

        const string eicar = @"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
        var messages = new Dictionary<string, string>
        {
            ["clean"] = "From: alice@example.org\nTo: bob@example.net\nSubject: clean\n\nHello Bob.\n",
            ["eicar"] = $"From: alice@example.org\nTo: bob@example.net\nSubject: eicar\n\n{eicar}\n",
            ["gtube"] = $"From: alice@example.org\nTo: bob@example.net\nSubject: gtube\n\n{TestSupport.SpamdDaemon.Gtube}\n",
        };
        foreach (var (name, text) in messages)
        {
            await File.WriteAllTextAsync(Path.Combine(_dir.FullName, $"{name}.eml"), text);
            var queued = await RunToEnd("enqueue", "--config", "try.conf", $"{name}.eml");
            Assert.True(queued.ExitCode == 0, $"exit {queued.ExitCode}; stderr: {queued.Stderr}");
        }

        // Only published files: a delivery's temp (tf-*) sits in the same directory, possibly still empty, until its rename.
        string[] Published() => Directory.Exists(outgoing) ? Directory.GetFiles(outgoing).Where(path => Path.GetFileName(path).All(char.IsAsciiDigit)).ToArray() : [];
        await Until(() => Published().Length == 3, gateway, gatewayOut, gatewayErr);
        var delivered = Published().Select(File.ReadAllText).ToDictionary(text => text.Split("Subject: ")[1].Split('\n')[0].Trim().Split(' ')[^1]); // the subject may be tagged
        Assert.Contains("X-MailScanner-Actors: clean", delivered["clean"], StringComparison.Ordinal);
        Assert.Contains("X-MailScanner-Actors: infected", delivered["eicar"], StringComparison.Ordinal);
        Assert.DoesNotContain("EICAR-STANDARD-ANTIVIRUS-TEST-FILE", delivered["eicar"], StringComparison.Ordinal);
        Assert.Contains("X-MailScanner-Actors: high spam", delivered["gtube"], StringComparison.Ordinal);
        var quarantine = await RunToEnd("quarantine", "list", "--config", "try.conf");
        Assert.Contains("\tinfected\talice@example.org\t1 recipient\t", Assert.Single(Lines(quarantine.Stdout)), StringComparison.Ordinal);
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(_dir.FullName, "var/spool/router")));
    }
}
