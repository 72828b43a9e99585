using System.Text;
using MailScanner.Actors.Identity;
using MailScanner.Actors.Queue.ZMailer;
using MailScanner.Actors.Tests.TestSupport;
using Xunit;

namespace MailScanner.Actors.Tests.Queue;

public sealed class ZMailerQueueFileSpecs
{
    private static readonly byte[] Message = "From: alice@example.org\nTo: bob@example.net\nSubject: hi\n\nbody\n"u8.ToArray();

    private static readonly Envelope SampleEnvelope = new(
        Sender: "alice@example.org",
        Recipients: ["bob@example.net", "carol@example.com"],
        ReceivedFrom: "mail.example.org [192.0.2.7]",
        OtherLines: ["env FULLNAME=Alice", "via smtp", "identinfo -"]);

    [Fact]
    public void Should_round_trip_an_envelope_and_message_through_format_and_parse()
    {
        var content = ZMailerQueueFile.Format(SampleEnvelope, Message);

        var parsed = AssertParsed(content);

        Assert.Equal(SampleEnvelope, parsed.Envelope);
        Assert.Equal(Message, content[parsed.MessageOffset..]);
    }

    [Fact]
    public void Should_write_the_envelope_in_zmailer_order()
    {
        var content = ZMailerQueueFile.Format(SampleEnvelope, Message);

        var expected = "from <alice@example.org>\nrcvdfrom mail.example.org [192.0.2.7]\nenv FULLNAME=Alice\nvia smtp\nidentinfo -\n"
            + "to <bob@example.net>\nto <carol@example.com>\nenv-end\n";
        Assert.Equal(Encoding.UTF8.GetBytes(expected).Concat(Message), content);
    }

    [Fact]
    public void Should_keep_other_envelope_lines_verbatim_and_in_order()
    {
        var parsed = AssertParsed("via smtp\nfrom <a@x>\n  odd\tline  \nto <b@y>\nenv X\nenv-end\n"u8);

        Assert.Equal(["via smtp", "  odd\tline  ", "env X"], parsed.Envelope.OtherLines);
        Assert.Null(parsed.Envelope.ReceivedFrom);
    }

    [Fact]
    public void Should_keep_the_bare_address_whether_or_not_it_has_angle_brackets()
    {
        var parsed = AssertParsed("from alice@example.org\nto <bob@example.net>\nto carol@example.com\nenv-end\n"u8);

        Assert.Equal("alice@example.org", parsed.Envelope.Sender);
        Assert.Equal(["bob@example.net", "carol@example.com"], parsed.Envelope.Recipients);
    }

    [Fact]
    public void Should_accept_an_empty_sender_for_a_bounce()
    {
        var parsed = AssertParsed("from <>\nto <postmaster@example.org>\nenv-end\nbounce"u8);

        Assert.Equal("", parsed.Envelope.Sender);
        Assert.Equal(parsed.Envelope, AssertParsed(ZMailerQueueFile.Format(parsed.Envelope, "bounce"u8)).Envelope);
    }

    [Fact]
    public void Should_accept_crlf_line_ends_and_keep_the_message_bytes_exactly()
    {
        var content = "from <a@x>\r\nto <b@y>\r\nvia smtp\r\nenv-end\r\nSubject: s\r\n\r\nbody\r\n"u8.ToArray();

        var parsed = AssertParsed(content);

        Assert.Equal(new Envelope("a@x", ["b@y"], null, ["via smtp"]), parsed.Envelope);
        Assert.Equal("Subject: s\r\n\r\nbody\r\n"u8.ToArray(), content[parsed.MessageOffset..]);
    }

    [Fact]
    public void Should_accept_an_envelope_whose_message_is_empty()
    {
        var content = "from <a@x>\nto <b@y>\nenv-end\n"u8.ToArray();

        Assert.Equal(content.Length, AssertParsed(content).MessageOffset);
    }

    [Fact]
    public void Should_only_look_for_env_end_in_the_envelope()
    {
        var content = "from <a@x>\nto <b@y>\nenv-end\nenv-end\nto <c@z>\n\0\0"u8.ToArray();

        var parsed = AssertParsed(content);

        Assert.Equal(["b@y"], parsed.Envelope.Recipients);
        Assert.Equal("env-end\nto <c@z>\n\0\0"u8.ToArray(), content[parsed.MessageOffset..]);
    }

    [Fact]
    public void Should_reject_an_empty_file() => AssertMalformed(""u8, "empty file");

    [Theory]
    [InlineData("from <a@x>\nto <b@y>\n")]
    [InlineData("from <a@x>\nto <b@y>\nenv-end")]
    [InlineData("from <a@x>\nto <b@y>\nenv-end \nbody")]
    [InlineData("from <a@x>\nto <b@y>\nENV-END\nbody")]
    public void Should_reject_file_without_env_end(string content) => AssertMalformed(Encoding.UTF8.GetBytes(content), "no env-end line");

    [Fact]
    public void Should_reject_file_without_recipients() => AssertMalformed("from <a@x>\nvia smtp\nenv-end\nbody"u8, "no recipients");

    [Fact]
    public void Should_reject_file_without_from_line() => AssertMalformed("to <b@y>\nenv-end\nbody"u8, "no from line");

    [Theory]
    [InlineData("to <>\n")]
    [InlineData("to\n")]
    [InlineData("to <b@y\n")]
    [InlineData("to <<b@y>>\n")]
    public void Should_reject_a_recipient_line_without_a_usable_address(string toLine) =>
        AssertMalformed(Encoding.UTF8.GetBytes("from <a@x>\n" + toLine + "env-end\n"), "malformed address");

    [Fact]
    public void Should_reject_a_second_from_line() =>
        AssertMalformed("from <a@x>\nfrom <c@z>\nto <b@y>\nenv-end\n"u8, "more than one from line");

    [Fact]
    public void Should_reject_a_raw_message_that_has_no_envelope() =>
        AssertMalformed("From: a@x\nTo: b@y\n\nbody\n"u8, "empty line in envelope");

    [Theory]
    [InlineData("from <a@x>\nto <b\0@y>\nenv-end\n")]
    [InlineData("from <a@x>\nvia \u0001smtp\nenv-end\n")]
    [InlineData("from <a@x>\rto <b@y>\nenv-end\n")]
    public void Should_reject_control_characters_in_the_envelope(string content) =>
        AssertMalformed(Encoding.UTF8.GetBytes(content), "binary data in envelope");

    [Fact]
    public void Should_reject_binary_garbage()
    {
        var garbage = new byte[4096];
        new Random(20030101).NextBytes(garbage);
        garbage[10] = 0; // whatever the seed, the first line holds a NUL

        AssertMalformed(garbage, "binary data in envelope");
    }

    [Fact]
    public void Should_reject_invalid_utf8_in_the_envelope() =>
        AssertMalformed([.. "from <a@x>\nto <b"u8, 0xff, 0xfe, .. "@y>\nenv-end\n"u8], "binary data in envelope");

    [Fact]
    public void Should_accept_utf8_addresses()
    {
        var envelope = new Envelope("jörg@exämple.de", ["用户@例子.广告"], null, []);

        Assert.Equal(envelope, AssertParsed(ZMailerQueueFile.Format(envelope, Message)).Envelope);
    }

    [Fact]
    public void Should_reject_an_envelope_line_longer_than_the_limit()
    {
        var longLine = "env " + new string('x', ZMailerQueueFile.MaxEnvelopeLineLength);

        AssertMalformed(Encoding.UTF8.GetBytes($"from <a@x>\n{longLine}\nto <b@y>\nenv-end\n"), "envelope line too long");
        AssertMalformed(Encoding.UTF8.GetBytes($"from <a@x>\n{longLine}"), "envelope line too long");
    }

    [Fact]
    public void Should_call_a_long_line_of_non_ascii_text_too_long_rather_than_binary()
    {
        var longLine = "env  " + new string('ä', ZMailerQueueFile.MaxEnvelopeLineLength); // the limit falls inside a character

        AssertMalformed(Encoding.UTF8.GetBytes($"from <a@x>\n{longLine}\nto <b@y>\nenv-end\n"), "envelope line too long");
    }

    [Fact]
    public void Should_accept_an_envelope_line_exactly_at_the_limit()
    {
        var line = "env " + new string('x', ZMailerQueueFile.MaxEnvelopeLineLength - 4);

        var parsed = AssertParsed(Encoding.UTF8.GetBytes($"from <a@x>\r\n{line}\r\nto <b@y>\nenv-end\n"));

        Assert.Equal([line], parsed.Envelope.OtherLines);
    }

    [Fact]
    public void Should_call_every_truncation_before_env_end_malformed_and_every_later_one_parsed()
    {
        var content = ZMailerQueueFile.Format(SampleEnvelope, Message);
        var messageOffset = AssertParsed(content).MessageOffset;

        for (var length = 0; length <= content.Length; length++)
        {
            var result = ZMailerQueueFile.Parse(content.AsSpan(0, length));
            if (length < messageOffset) Assert.IsType<ZMailerParseResult.Malformed>(result);
            else Assert.Equal(messageOffset, Assert.IsType<ZMailerParseResult.Parsed>(result).MessageOffset);
        }
    }

    [Fact]
    public void Should_never_throw_whatever_the_input()
    {
        var random = new Random(2003);
        var alphabet = "from to rcvdfrom env-end <>@\r\n\0\t\u00ff"u8.ToArray();
        for (var i = 0; i < 20_000; i++)
        {
            var input = new byte[random.Next(0, 64)];
            for (var j = 0; j < input.Length; j++) input[j] = alphabet[random.Next(alphabet.Length)];

            var result = ZMailerQueueFile.Parse(input);

            if (result is ZMailerParseResult.Parsed parsed)
                Assert.Equal(parsed.Envelope, AssertParsed(ZMailerQueueFile.Format(parsed.Envelope, input.AsSpan(parsed.MessageOffset))).Envelope);
        }
    }

    [Theory]
    [InlineData("to <b@y>\nenv-end\nto <c@z>")]
    [InlineData("to <b@y>\nto <c@z>")]
    [InlineData("from <x@y>")]
    [InlineData("rcvdfrom host")]
    [InlineData("env-end")]
    [InlineData("")]
    public void Should_refuse_to_format_an_other_line_that_would_read_back_differently(string otherLine)
    {
        var envelope = new Envelope("a@x", ["b@y"], null, [otherLine]);

        Assert.Throws<ArgumentException>(() => ZMailerQueueFile.Format(envelope, Message));
    }

    [Theory]
    [InlineData("")]
    [InlineData("b@y\nto <evil@z>")]
    [InlineData("<b@y>")]
    [InlineData(" b@y")]
    public void Should_refuse_to_format_a_recipient_that_is_not_a_bare_address(string recipient)
    {
        var envelope = new Envelope("a@x", [recipient], null, []);

        Assert.Throws<ArgumentException>(() => ZMailerQueueFile.Format(envelope, Message));
    }

    [Fact]
    public void Should_refuse_to_format_an_envelope_without_recipients() =>
        Assert.Throws<ArgumentException>(() => ZMailerQueueFile.Format(new Envelope("a@x", [], null, []), Message));

    [Theory]
    [InlineData("1")]
    [InlineData("12345")]
    [InlineData("0")]
    [InlineData("18446744073709551615")]
    public void Should_take_an_all_digit_name_for_a_queued_message(string name) => Assert.True(ZMailerQueueFile.IsQueueFileName(name));

    [Theory]
    [InlineData("")]
    [InlineData("tf-4242-1")]
    [InlineData("-12345")]
    [InlineData("+12345")]
    [InlineData("12345.tmp")]
    [InlineData(" 12345")]
    [InlineData("12345\n")]
    [InlineData("1a")]
    [InlineData("\u0661\u0662\u0663")] // Arabic-Indic digits: char.IsDigit says yes, ZMailer never writes them
    [InlineData("123456789012345678901")]
    public void Should_leave_any_other_name_alone(string name) => Assert.False(ZMailerQueueFile.IsQueueFileName(name));

    [Theory]
    [InlineData(TempDirectory.Ext4)]
    [InlineData(TempDirectory.Tmpfs)]
    public void Should_name_a_written_file_after_its_inode_and_leave_no_temp_file(string mount)
    {
        using var directory = new TempDirectory(mount);
        var content = ZMailerQueueFile.Format(SampleEnvelope, Message);

        var (path, identity) = ZMailerQueueWriter.WriteDurably(directory.Path, content);

        var name = Path.GetFileName(path);
        Assert.True(ZMailerQueueFile.IsQueueFileName(name));
        Assert.Equal(NativeFile.TryLStat(path)!.Inode.ToString(), name);
        Assert.Equal(identity, NativeFile.TryGetIdentity(path));
        Assert.Equal([name], directory.EntryNames());
        Assert.Equal(content, File.ReadAllBytes(path));
    }

    [Fact]
    public void Should_write_many_files_at_once_without_mixing_them_up()
    {
        using var directory = new TempDirectory();

        var written = Enumerable.Range(0, 64).AsParallel()
            .Select(i => Encoding.ASCII.GetBytes($"from <a@x>\nto <b{i}@y>\nenv-end\n{i}"))
            .Select(content => (Content: content, File: ZMailerQueueWriter.WriteDurably(directory.Path, content)))
            .ToList();

        Assert.Equal(64, directory.EntryNames().Count());
        Assert.All(directory.EntryNames(), name => Assert.True(ZMailerQueueFile.IsQueueFileName(name), name));
        Assert.All(written, w => Assert.Equal(w.Content, File.ReadAllBytes(w.File.Path)));
    }

    [Fact]
    public void Should_refuse_to_replace_a_foreign_file_that_holds_its_inode_name()
    {
        using var directory = new TempDirectory(TempDirectory.Ext4);
        var content = ZMailerQueueFile.Format(SampleEnvelope, Message);

        // Free an inode whose number is already taken as a name by a foreign file; ext4 hands the number out again at once.
        for (var attempt = 0; attempt < 100; attempt++)
        {
            var placeholder = directory.File("placeholder");
            File.WriteAllText(placeholder, "");
            var foreign = directory.File(NativeFile.TryLStat(placeholder)!.Inode.ToString());
            File.WriteAllText(foreign, "foreign");
            File.Delete(placeholder);

            IOException? refusal = null;
            try
            {
                var (path, _) = ZMailerQueueWriter.WriteDurably(directory.Path, content);
                File.Delete(path); // the inode went elsewhere this time; try again
            }
            catch (IOException e)
            {
                refusal = e;
            }

            if (refusal is not null)
            {
                Assert.Contains(foreign, refusal.Message);
                Assert.Equal("foreign", File.ReadAllText(foreign));
                Assert.Equal([Path.GetFileName(foreign)], directory.EntryNames());
                return;
            }
            File.Delete(foreign);
        }
        Assert.Fail("the writer never got the inode number of the freed placeholder in 100 attempts");
    }

    private static ZMailerParseResult.Parsed AssertParsed(ReadOnlySpan<byte> content)
    {
        var result = ZMailerQueueFile.Parse(content);
        return Assert.IsType<ZMailerParseResult.Parsed>(result);
    }

    private static void AssertMalformed(ReadOnlySpan<byte> content, string expectedReason)
    {
        var result = ZMailerQueueFile.Parse(content);
        Assert.StartsWith(expectedReason, Assert.IsType<ZMailerParseResult.Malformed>(result).Reason);
    }
}
