using System.Text;
using MailScanner.Actors.Queue.Postfix;
using Xunit;
using static MailScanner.Actors.Tests.Queue.Postfix.QueueFileBuilder;

namespace MailScanner.Actors.Tests.Queue.Postfix;

public sealed class PostfixQueueFileSpecs
{
    private static readonly byte[] Message = "From: alice@example.org\nTo: bob@example.net\nSubject: hi\n\nbody\n"u8.ToArray();

    private static readonly PostfixEnvelope SampleEnvelope = new(
        ArrivalTime: new PostfixArrivalTime(1796351686, 723744),
        Sender: "alice@example.org",
        Recipients:
        [
            new PostfixRecipient("bob@example.net", "Bob@Example.NET", DsnNotify: 0, DsnOriginalRecipient: "rfc822;Bob@Example.NET"),
            new PostfixRecipient("carol@example.com", "carol@example.com", DsnNotify: 8 | 4, DsnOriginalRecipient: null),
        ],
        EnvelopeRecords:
        [
            new PostfixCarriedRecord((byte)'A', "create_time=1796351686"),
            new PostfixCarriedRecord((byte)'A', "log_ident=B27B5B20625"),
            new PostfixCarriedRecord((byte)'A', "rewrite_context=local"),
            new PostfixCarriedRecord((byte)'F', "Alice \u00e9"), // a Latin-1 byte: carried byte for byte
            new PostfixCarriedRecord((byte)'A', "log_client_name=localhost"),
        ],
        ExtractedRecords: [new PostfixCarriedRecord((byte)'A', "some_extracted=1")],
        SendOptions: 0,
        RecordsBeforeSender: 4);

    /// <summary>The smallest file Postfix accepts: C, T, S, one recipient, the message, X, E.</summary>
    private static byte[] Minimal(params (char Type, string Data)[] content) => Build(
        [('C', AutoSize), ('T', "1796351686 723744"), ('S', "alice@example.org"), ('O', "bob@example.net"), ('R', "bob@example.net"), ('M', ""),
         .. content.Length == 0 ? [('N', "Subject: hi"), ('N', ""), ('N', "body")] : content,
         ('X', ""), ('E', "")]);

    [Fact]
    public void Should_round_trip_an_envelope_and_message_through_format_and_read()
    {
        var file = AssertComplete(PostfixQueueFileWriter.Format(SampleEnvelope, Message));

        Assert.Equal(SampleEnvelope, file.Envelope);
        Assert.Equal(Message, file.Message);
    }

    [Fact]
    public void Should_write_the_records_in_cleanups_order()
    {
        var records = Records(PostfixQueueFileWriter.Format(SampleEnvelope, Message));

        Assert.Equal(
            [
                ('T', "1796351686 723744"), ('A', "create_time=1796351686"), ('A', "log_ident=B27B5B20625"), ('A', "rewrite_context=local"), ('F', "Alice \u00e9"),
                ('S', "alice@example.org"), ('A', "log_client_name=localhost"), // smtpd sends the client's attributes after the sender
                ('A', "dsn_orig_rcpt=rfc822;Bob@Example.NET"), ('O', "Bob@Example.NET"), ('R', "bob@example.net"),
                ('A', "notify_flags=12"), ('O', "carol@example.com"), ('R', "carol@example.com"),
                ('M', ""), ('N', "From: alice@example.org"), ('N', "To: bob@example.net"), ('N', "Subject: hi"), ('N', ""), ('N', "body"),
                ('X', ""), ('A', "some_extracted=1"), ('E', ""),
            ],
            records.Skip(1));
        Assert.Equal('C', records[0].Type);
    }

    [Fact]
    public void Should_patch_the_size_record_with_the_content_offset_size_recipient_count_and_dsn_flags()
    {
        var bytes = PostfixQueueFileWriter.Format(SampleEnvelope, Message);
        var records = Records(bytes);
        var size = records[0].Data;

        Assert.Equal(PostfixSizeRecord.Length, size.Length);
        var fields = size.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(long.Parse).ToArray();
        var contentOffset = IndexAfter(bytes, 'M');
        var extractedOffset = OffsetOf(bytes, 'X');
        // data size, data offset, recipients, qmgr flags (DSN notify 12 shifted left by one), content length, send options
        Assert.Equal([extractedOffset - contentOffset, contentOffset, 2, 24, extractedOffset - contentOffset, 0], fields);
        Assert.Equal("            ", size[..12]); // "%15ld": right-aligned in fifteen columns
    }

    [Fact]
    public void Should_read_crlf_lines_as_lf_lines_as_smtpd_stores_them()
    {
        var file = AssertComplete(PostfixQueueFileWriter.Format(SampleEnvelope, "Subject: a\r\n\r\nbody\r\n"u8));

        Assert.Equal("Subject: a\n\nbody\n"u8.ToArray(), file.Message);
    }

    [Fact]
    public void Should_end_an_unterminated_last_line_with_a_newline()
    {
        var file = AssertComplete(PostfixQueueFileWriter.Format(SampleEnvelope, "Subject: a\n\nno newline"u8));

        Assert.Equal("Subject: a\n\nno newline\n"u8.ToArray(), file.Message);
    }

    [Fact]
    public void Should_cut_a_long_line_into_L_records_of_the_line_length_limit_then_an_N_record()
    {
        var longLine = new string('x', 5000);
        var bytes = PostfixQueueFileWriter.Format(SampleEnvelope, Encoding.ASCII.GetBytes($"Subject: a\n\n{longLine}\nlast\n"));

        var content = Records(bytes).SkipWhile(r => r.Type != 'M').Skip(1).TakeWhile(r => r.Type != 'X').ToList();
        Assert.Equal([('N', 10), ('N', 0), ('L', 2048), ('L', 2048), ('N', 904), ('N', 4)], content.Select(r => (r.Type, r.Data.Length)));
        Assert.Equal(Encoding.ASCII.GetBytes($"Subject: a\n\n{longLine}\nlast\n"), AssertComplete(bytes).Message);
    }

    [Fact]
    public void Should_keep_a_line_of_exactly_the_limit_in_one_N_record_as_cleanup_out_does()
    {
        var line = new string('y', PostfixQueueFileWriter.DefaultLineLengthLimit);
        var bytes = PostfixQueueFileWriter.Format(SampleEnvelope, Encoding.ASCII.GetBytes($"S: a\n\n{line}\n"));

        Assert.Contains(('N', line), Records(bytes));
    }

    [Fact]
    public void Should_read_a_line_smtpd_stored_as_an_L_record_of_the_limit_and_an_empty_N_record()
    {
        // What the real Postfix 3.7 stored for a body line of exactly 2048 characters received over SMTP.
        var line = new string('y', 2048);
        var file = AssertComplete(Minimal(('N', "S: a"), ('N', ""), ('L', line), ('N', "")));

        Assert.Equal(Encoding.ASCII.GetBytes($"S: a\n\n{line}\n"), file.Message);
    }

    [Fact]
    public void Should_cut_lines_at_a_configured_line_length_limit()
    {
        var bytes = PostfixQueueFileWriter.Format(SampleEnvelope, "S: a\n\nabcdefghij\n"u8, lineLengthLimit: 4);

        var content = Records(bytes).SkipWhile(r => r.Type != 'M').Skip(1).TakeWhile(r => r.Type != 'X');
        Assert.Equal([('N', "S: a"), ('N', ""), ('L', "abcd"), ('L', "efgh"), ('N', "ij")], content);
    }

    [Fact]
    public void Should_take_original_and_dsn_records_with_the_recipient_after_them_and_skip_done_and_canceled_recipients()
    {
        var file = AssertComplete(Build(
            ('C', AutoSize), ('T', "1 2"), ('S', ""),
            ('A', "notify_flags=2"), ('A', "dsn_orig_rcpt=rfc822;one@x"), ('O', "One@x"), ('R', "one@x"),
            ('O', "two@x"), ('D', "two@x"),                    // delivered already: never again
            ('O', "three@x"), ('/', "three@x"),                // canceled
            ('n', "8"), ('o', "rfc822;four@x"), ('R', "four@x"), // the record forms of the DSN attributes
            ('R', "five@x"),
            ('M', ""), ('N', "S: a"), ('X', ""),
            ('O', "six@x"), ('R', "six@x"),                     // extracted from headers: a recipient too
            ('E', "")));

        Assert.Equal("", file.Envelope.Sender);
        Assert.Equal(
            [
                new PostfixRecipient("one@x", "One@x", 2, "rfc822;one@x"),
                new PostfixRecipient("four@x", null, 8, "rfc822;four@x"),
                new PostfixRecipient("five@x"),
                new PostfixRecipient("six@x", "six@x"),
            ],
            file.Envelope.Recipients);
    }

    [Fact]
    public void Should_write_back_the_exact_bytes_of_an_8bit_envelope_that_is_not_utf8()
    {
        // What Postfix 3.7 stored with smtputf8_enable = no for MAIL FROM:<\xe9t\xe9@example.org> and
        // RCPT TO:<b\xff@example.net> ORCPT=rfc822;\xe9@x: raw bytes that are not UTF-8 (the builder writes Latin-1).
        var held = Build(
            ('C', AutoSize), ('T', "1 2"), ('S', "\u00e9t\u00e9@example.org"),
            ('A', "dsn_orig_rcpt=rfc822;\u00e9@x"), ('O', "b\u00ff@example.net"), ('R', "b\u00ff@example.net"),
            ('M', ""), ('N', "S: a"), ('X', ""), ('E', ""));

        var rewritten = Records(PostfixQueueFileWriter.Format(AssertComplete(held).Envelope, "S: a\n"u8));

        Assert.Contains(('S', "\u00e9t\u00e9@example.org"), rewritten);
        Assert.Contains(('A', "dsn_orig_rcpt=rfc822;\u00e9@x"), rewritten);
        Assert.Contains(('O', "b\u00ff@example.net"), rewritten);
        Assert.Contains(('R', "b\u00ff@example.net"), rewritten);
    }

    [Fact]
    public void Should_read_a_utf8_envelope_as_its_text_and_show_bytes_that_are_not_utf8_as_replacement_characters()
    {
        var file = AssertComplete(Build(
            ('C', AutoSize), ('T', "1 2"), ('S', Encoding.Latin1.GetString("j\u00f6rg@b\u00fccher.example"u8)), // UTF-8 bytes
            ('R', "b\u00ff@example.net"), ('M', ""), ('N', "S: a"), ('X', ""), ('E', "")));

        Assert.Equal("j\u00f6rg@b\u00fccher.example", file.Envelope.Sender);
        Assert.Equal("b\ufffd@example.net", PostfixText.Display(file.Envelope.Recipients[0].Address));
        Assert.Equal("j\u00f6rg@b\u00fccher.example", PostfixText.Display(file.Envelope.Sender));
    }

    [Fact]
    public void Should_carry_other_envelope_and_extracted_records_verbatim_and_drop_killed_ones()
    {
        var file = AssertComplete(Build(
            ('C', AutoSize), ('T', "1 2"), ('c', "3"), ('A', "log_ident=X"), ('L', "smtp:[127.0.0.1]:10025"), ('K', "gone"), ('S', "a@x"),
            ('A', "client_name=localhost"), ('R', "b@x"), ('M', ""), ('N', "S: a"), ('X', ""), ('r', "receipt@x"), ('e', "errors@x"), ('E', "")));

        Assert.Equal(
            [new((byte)'c', "3"), new((byte)'A', "log_ident=X"), new((byte)'L', "smtp:[127.0.0.1]:10025"), new PostfixCarriedRecord((byte)'A', "client_name=localhost")],
            file.Envelope.EnvelopeRecords);
        Assert.Equal([new((byte)'r', "receipt@x"), new PostfixCarriedRecord((byte)'e', "errors@x")], file.Envelope.ExtractedRecords);
    }

    [Fact]
    public void Should_follow_pointer_records_to_inserted_headers_and_appended_recipients_as_a_milter_edit_leaves_them()
    {
        // cleanup_milter.c inserts by overwriting a record with a pointer to a heap after E, which points back.
        var file = AssertComplete(Build(
            ('C', AutoSize), ('T', "1 2"), ('S', "a@x"), ('R', "b@x"), ('p', "->appended-recipient"), ('#', "after-recipients"),
            ('M', ""), ('N', "Subject: a"), ('p', "->inserted-header"), ('#', "after-headers"), ('p', "0"), ('N', ""), ('N', "body"),
            ('X', ""), ('E', ""),
            ('#', "inserted-header"), ('N', "X-Inserted: yes"), ('w', "0000000000000"), ('p', "->after-headers"),
            ('#', "appended-recipient"), ('R', "c@x"), ('p', "->after-recipients")));

        Assert.Equal("Subject: a\nX-Inserted: yes\n\nbody\n"u8.ToArray(), file.Message);
        Assert.Equal(["b@x", "c@x"], file.Envelope.Recipients.Select(r => r.Address));
    }

    [Fact]
    public void Should_skip_padding_records_wherever_they_are()
    {
        var file = AssertComplete(Minimal(('N', "S: a"), ('w', "000000000000"), ('N', ""), ('N', "b")));

        Assert.Equal("S: a\n\nb\n"u8.ToArray(), file.Message);
    }

    [Fact]
    public void Should_refuse_a_file_ending_inside_a_record_length()
    {
        AssertMalformed([(byte)'C', 0x80], "the file ends inside its length (truncated)");
    }

    [Fact]
    public void Should_refuse_a_record_length_of_more_than_four_bytes()
    {
        AssertMalformed([(byte)'C', 0x80, 0x80, 0x80, 0x80, 0x01], "too many length bytes");
    }

    [Fact]
    public void Should_refuse_a_record_longer_than_the_rest_of_the_file()
    {
        AssertMalformed([(byte)'C', 0x10, (byte)'a', (byte)'b'], "record 'C' at offset 0: length 16 goes beyond the end of the file (2 bytes left; truncated)");
    }

    [Fact]
    public void Should_refuse_a_file_without_its_end_record()
    {
        var complete = Minimal();

        AssertMalformed(complete[..^2], "no end record (E): the file ends after");
    }

    [Fact]
    public void Should_refuse_every_truncation_of_a_complete_file_with_a_reason()
    {
        var complete = PostfixQueueFileWriter.Format(SampleEnvelope, Message);

        for (var length = 0; length < complete.Length; length++)
            Assert.IsType<PostfixQueueFileRead.Malformed>(PostfixQueueFileReader.Read(complete.AsSpan(0, length)));
    }

    [Fact]
    public void Should_never_throw_on_random_or_corrupted_input()
    {
        var random = new Random(12);
        var complete = PostfixQueueFileWriter.Format(SampleEnvelope, Message);
        for (var round = 0; round < 5000; round++)
        {
            var bytes = round % 2 == 0 ? new byte[random.Next(0, 200)] : (byte[])complete.Clone();
            if (round % 2 == 0) random.NextBytes(bytes);
            else for (var flips = random.Next(1, 6); flips > 0; flips--) bytes[random.Next(bytes.Length)] = (byte)random.Next(256);

            var read = PostfixQueueFileReader.Read(bytes);

            if (read is PostfixQueueFileRead.Malformed malformed) Assert.False(string.IsNullOrWhiteSpace(malformed.Reason));
        }
    }

    [Theory]
    [InlineData('C', "no size record (C)")]
    [InlineData('T', "no arrival time record (T)")]
    [InlineData('S', "no sender record (S)")]
    public void Should_refuse_a_file_without_a_required_record(char missing, string reason)
    {
        (char, string)[] records = [('C', AutoSize), ('T', "1 2"), ('S', "a@x"), ('R', "b@x"), ('M', ""), ('N', "S: a"), ('X', ""), ('E', "")];

        AssertMalformed(Build(records.Where(r => r.Item1 != missing).ToArray()), reason);
    }

    [Fact]
    public void Should_refuse_the_size_record_of_zeros_cleanup_writes_before_the_message_is_complete()
    {
        var zeros = new PostfixSizeRecord(0, 0, 0, 0, 0, 0).Format();

        AssertMalformed(Build(('C', zeros), ('T', "1 2"), ('S', "a@x"), ('R', "b@x"), ('M', ""), ('N', "S: a"), ('X', ""), ('E', "")),
            "still cleanup's placeholder of zeros: the file is still being written");
    }

    [Fact]
    public void Should_refuse_a_size_record_with_fewer_than_three_fields()
    {
        AssertMalformed(Build(('C', "12 34"), ('T', "1 2"), ('S', "a@x"), ('M', ""), ('N', "S: a"), ('X', ""), ('E', "")),
            "size record (C) has 2 readable fields, Postfix needs at least 3");
    }

    [Fact]
    public void Should_refuse_a_size_record_with_flags_qmgr_refuses()
    {
        AssertMalformed(Build(('C', "10 20 1 64"), ('T', "1 2"), ('S', "a@x"), ('M', ""), ('N', "S: a"), ('X', ""), ('E', "")),
            "qmgr flags qmgr refuses (64)");
    }

    [Fact]
    public void Should_refuse_a_size_record_whose_content_offset_is_not_where_the_content_starts()
    {
        var file = Minimal();
        var size = Records(file)[0].Data.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(long.Parse).ToArray();
        var wrong = new PostfixSizeRecord(size[0], size[1] + 1, size[2], 0, 0, 0).Format();
        Encoding.ASCII.GetBytes(wrong).CopyTo(file, 2);

        AssertMalformed(file, $"size record (C) says the content starts at offset {size[1] + 1}, but it starts at {size[1]}");
    }

    [Fact]
    public void Should_refuse_a_size_record_whose_data_size_does_not_lead_to_the_X_record()
    {
        var file = Minimal();
        var size = Records(file)[0].Data.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(long.Parse).ToArray();
        Encoding.ASCII.GetBytes(new PostfixSizeRecord(size[0] - 1, size[1], size[2], 0, 0, 0).Format()).CopyTo(file, 2);

        AssertMalformed(file, $"size record (C) says the content is {size[0] - 1} bytes, but there is no X record at offset {size[1] + size[0] - 1}");
    }

    [Fact]
    public void Should_refuse_a_pointer_loop()
    {
        AssertMalformed(Build(('C', AutoSize), ('T', "1 2"), ('S', "a@x"), ('#', "again"), ('R', "b@x"), ('p', "->again"), ('M', ""), ('X', ""), ('E', "")),
            "pointer loop: the pointer record (p) at offset");
    }

    [Fact]
    public void Should_refuse_a_pointer_beyond_the_end_of_the_file_and_a_malformed_pointer()
    {
        AssertMalformed(Minimal(('N', "S: a"), ('p', "999999"), ('N', "b")), "points to offset 999999, beyond the end of the file");
        AssertMalformed(Minimal(('N', "S: a"), ('p', "12x"), ('N', "b")), "malformed pointer record (p) at offset");
    }

    [Fact]
    public void Should_refuse_a_record_type_qmgr_does_not_expect_in_the_envelope_the_content_or_the_extracted_segment()
    {
        AssertMalformed(Build(('C', AutoSize), ('T', "1 2"), ('N', "early"), ('S', "a@x"), ('M', ""), ('X', ""), ('E', "")),
            "unexpected record 'N' in the envelope at offset");
        AssertMalformed(Minimal(('N', "S: a"), ('R', "late@x")), "unexpected record 'R' in the message content at offset");
        AssertMalformed(Build(('C', AutoSize), ('T', "1 2"), ('S', "a@x"), ('M', ""), ('N', "S: a"), ('X', ""), ('N', "after"), ('E', "")),
            "unexpected record 'N' after the message (extracted segment) at offset");
    }

    [Fact]
    public void Should_refuse_a_second_sender_an_attribute_without_a_value_and_an_unreadable_arrival_time()
    {
        AssertMalformed(Build(('C', AutoSize), ('T', "1 2"), ('S', "a@x"), ('S', "b@x"), ('M', ""), ('X', ""), ('E', "")), "more than one sender record (S)");
        AssertMalformed(Build(('C', AutoSize), ('T', "1 2"), ('A', "novalue"), ('S', "a@x"), ('M', ""), ('X', ""), ('E', "")), "attribute record (A) without name=value");
        AssertMalformed(Build(('C', AutoSize), ('T', "soon"), ('S', "a@x"), ('M', ""), ('X', ""), ('E', "")), "unreadable arrival time record (T)");
    }

    private static PostfixQueueFile AssertComplete(byte[] bytes) =>
        PostfixQueueFileReader.Read(bytes) switch
        {
            PostfixQueueFileRead.Complete complete => complete.File,
            PostfixQueueFileRead.Malformed malformed => throw new Xunit.Sdk.XunitException($"expected a complete file, got: {malformed.Reason}"),
            var other => throw new Xunit.Sdk.XunitException($"unexpected {other}"),
        };

    private static void AssertMalformed(byte[] bytes, string reasonPart)
    {
        var malformed = Assert.IsType<PostfixQueueFileRead.Malformed>(PostfixQueueFileReader.Read(bytes));
        Assert.Contains(reasonPart, malformed.Reason, StringComparison.Ordinal);
    }

    private static int OffsetOf(byte[] file, char type)
    {
        for (var offset = 0; offset < file.Length;)
        {
            Assert.True(PostfixRecords.TryRead(file, offset, out var record, out _));
            if (record.Type == type) return record.Offset;
            offset = record.End;
        }
        throw new Xunit.Sdk.XunitException($"no {type} record");
    }

    private static int IndexAfter(byte[] file, char type) => OffsetOf(file, type) + PostfixRecords.SizeOf(0);
}
