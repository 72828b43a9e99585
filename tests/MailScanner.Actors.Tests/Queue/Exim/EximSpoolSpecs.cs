using System.Text;
using MailScanner.Actors.Queue;
using MailScanner.Actors.Queue.Exim;
using Xunit;

namespace MailScanner.Actors.Tests.Queue.Exim;

/// <summary>
/// Exim's -H/-D pair as the gateway reads and writes it. The 4.96 pair is one Debian's Exim 4.96 wrote here (only the
/// time stamps differ); the 4.97 pair is the same message in 4.97's documented format, whose ids are 23 characters.
/// </summary>
public sealed class EximSpoolSpecs
{
    internal const string ShortId = "1xZLdR-0003jd-0a";
    internal const string LongId = "1xZLdR-0000000DLdF-0a2K";

    internal static string Header(string id, string recipients = "XX\n2\nbob@example.com\ncarol@example.net\n", string options = "") =>
        $"{id}-H\n" +
        "Debian-exim 999 995\n" +
        "<alice@example.org>\n" +
        "1796361305 0\n" +
        "-received_time_usec .181470\n" +
        "-received_time_complete 1796361305.202339\n" +
        "--helo_name [127.0.0.1]\n" +
        "-host_address [127.0.0.1]:43450\n" +
        "-interface_address [127.0.0.1]:25871\n" +
        "-received_protocol esmtp\n" +
        "-body_linecount 3\n" +
        "-max_received_linelength 28\n" +
        options +
        "-deliver_firsttime\n" +
        "-host_lookup_failed\n" +
        recipients +
        "\n" +
        $"165P Received: from [127.0.0.1]\n\tby exim-specs.invalid with esmtp (Exim 4.96)\n\t(envelope-from <alice@example.org>)\n\tid {id};\n\tFri, 04 Dec 2026 05:15:05 +0000\n" +
        "024F From: alice@example.org\n" +
        "020T To: bob@example.com\n" +
        "027  Subject: hi there\n  folded\n" +
        "029I Message-ID: <x1@example.org>\n";

    internal static string Data(string id) => $"{id}-D\nbody line 1\n.dot line\nlast\n";

    private static readonly EximFormat Format = new(EximQueueOptions.Default with { User = "root" });

    private static QueueFileParse Parse(string header, string data) =>
        Format.ParseEntry(new QueueEntryContent(Encoding.UTF8.GetBytes(header), [Encoding.UTF8.GetBytes(data)]));

    [Theory]
    [InlineData(ShortId)]
    [InlineData(LongId)]
    public void Should_read_the_envelope_and_the_message_of_a_pair(string id)
    {
        var header = FixReceivedLength(Header(id));
        var parsed = Assert.IsType<QueueFileParse.Parsed>(Parse(header, Data(id)));
        Assert.Equal("alice@example.org", parsed.Envelope.Sender);
        Assert.Equal(["bob@example.com", "carol@example.net"], parsed.Envelope.Recipients);
        var message = Encoding.UTF8.GetString(parsed.Message.Span);
        Assert.StartsWith("Received: from [127.0.0.1]\n\tby exim-specs.invalid", message, StringComparison.Ordinal);
        Assert.EndsWith("Subject: hi there\n  folded\nMessage-ID: <x1@example.org>\n\nbody line 1\n.dot line\nlast\n", message, StringComparison.Ordinal);
        Assert.Equal(header + Data(id), Encoding.UTF8.GetString(parsed.Original.Span));
    }

    [Fact]
    public void Should_know_queue_file_names_of_both_id_lengths_and_their_split_directory()
    {
        Assert.True(Format.IsQueueFileName($"{ShortId}-H"));
        Assert.True(Format.IsQueueFileName($"{LongId}-H"));
        Assert.False(Format.IsQueueFileName($"{ShortId}-D"));
        Assert.False(Format.IsQueueFileName($"{ShortId}-J"));
        Assert.False(Format.IsQueueFileName($"hdr.{ShortId}"));
        Assert.False(Format.IsQueueFileName("1xZLdR-0003jd-0a2-H"));
        Assert.False(Format.IsQueueFileName("1xZLdR_0003jd-0a-H"));
        var split = new EximFormat(new EximQueueOptions(true, "root", []));
        Assert.Equal(Path.Combine("/in", "R", $"{LongId}-H"), split.IncomingPathFor("/in", $"{LongId}-H"));
        Assert.Equal(Path.Combine("/in", "R", $"{ShortId}-H"), split.IncomingPathFor("/in", $"{ShortId}-H"));
        Assert.Equal([$"/in/R/{ShortId}-D"], split.CompanionPathsOf($"/in/R/{ShortId}-H"));
    }

    [Fact]
    public void Should_read_recipients_with_dsn_data_a_non_recipient_tree_and_acl_variables()
    {
        var recipients = "YY done@example.org\nNN a@example.org\nNN z@example.org\n3\n" +
                         "plain@example.net\n" +
                         "dsn@example.net rfc822;Orig@Example.NET 23,6  0,-1#3\n" +
                         "err@example.net  0,0 errors@example.org 18,-1#3\n";
        var options = "-aclm 0 11\nvalue\nlines\n-aclc _x 0\n\n";
        var header = FixReceivedLength(Header(ShortId, recipients, options));
        var parsed = Assert.IsType<QueueFileParse.Parsed>(Parse(header, Data(ShortId)));
        Assert.Equal(["plain@example.net", "dsn@example.net", "err@example.net"], parsed.Envelope.Recipients);
    }

    [Fact]
    public void Should_leave_out_headers_exim_marked_deleted()
    {
        var header = FixReceivedLength(Header(ShortId)) + "012* X-Gone: yes\n";
        var parsed = Assert.IsType<QueueFileParse.Parsed>(Parse(header, Data(ShortId)));
        Assert.DoesNotContain("X-Gone", Encoding.UTF8.GetString(parsed.Message.Span), StringComparison.Ordinal);
    }

    [Fact]
    public void Should_refuse_a_pair_whose_files_do_not_name_the_same_message()
    {
        var header = FixReceivedLength(Header(ShortId));
        Assert.IsType<QueueFileParse.Malformed>(Parse(header, Data("1xZLdR-0003jd-0b")));
        Assert.IsType<QueueFileParse.Malformed>(Parse(header, "body without its name line\n"));
        Assert.IsType<QueueFileParse.Malformed>(Format.ParseEntry(QueueEntryContent.OneFile(Encoding.UTF8.GetBytes(header))));
    }

    [Fact]
    public void Should_refuse_every_truncation_of_the_envelope_or_inside_a_header_line()
    {
        var header = FixReceivedLength(Header(ShortId));
        var headersStart = header.IndexOf("\n\n", StringComparison.Ordinal) + 2;
        var lineEnds = new HashSet<int>();
        for (var i = headersStart; i < header.Length; i++)
        {
            if (header[i - 1] == '\n' && char.IsAsciiDigit(header[i])) lineEnds.Add(i); // the start of a header line: a complete -H could end here
        }
        for (var length = 0; length < header.Length; length++)
        {
            if (lineEnds.Contains(length) || length == headersStart) continue;
            Assert.IsType<QueueFileParse.Malformed>(Parse(header[..length], Data(ShortId)));
        }
    }

    [Fact]
    public void Should_refuse_wire_format_spool_files()
    {
        var header = FixReceivedLength(Header(ShortId, options: "-spool_file_wireformat\n"));
        Assert.Contains("wire format", Assert.IsType<QueueFileParse.Malformed>(Parse(header, Data(ShortId))).Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(ShortId, false)]
    [InlineData(LongId, true)]
    public void Should_write_the_delivered_message_as_a_pair_exim_reads_back_to_the_same_message(string id, bool split)
    {
        var format = new EximFormat(new EximQueueOptions(split, "root", []));
        var claimed = Assert.IsType<QueueFileParse.Parsed>(format.ParseEntry(new QueueEntryContent(
            Encoding.UTF8.GetBytes(FixReceivedLength(Header(id))), [Encoding.UTF8.GetBytes(Data(id))])));
        var delivered = "Received: from somewhere\r\n\tby here\r\nX-MailScanner-Actors: clean\r\nFrom: alice@example.org\r\nSubject: hi\r\n\r\nnew body\r\nline two\r\n";

        var outgoing = format.ComposeOutgoing(claimed, Encoding.UTF8.GetBytes(delivered));

        Assert.Equal(split ? Path.Combine("R", $"{id}-H") : $"{id}-H", outgoing.FinalName);
        Assert.Equal([split ? Path.Combine("R", $"{id}-D") : $"{id}-D"], format.CompanionNamesOf(outgoing.FinalName!));
        var header = Encoding.UTF8.GetString(outgoing.Primary.Span);
        var data = Encoding.UTF8.GetString(Assert.Single(outgoing.Companions).Span);
        Assert.Equal($"{id}-D\nnew body\nline two\n", data);
        Assert.Contains("\n-body_linecount 2\n", header, StringComparison.Ordinal);
        Assert.Contains("\n034P Received: from somewhere\n\tby here\n028  X-MailScanner-Actors: clean\n024F From: alice@example.org\n", header, StringComparison.Ordinal);
        var again = Assert.IsType<QueueFileParse.Parsed>(format.ParseEntry(new QueueEntryContent(outgoing.Primary, outgoing.Companions)));
        Assert.Equal(delivered.Replace("\r\n", "\n", StringComparison.Ordinal), Encoding.UTF8.GetString(again.Message.Span));
        Assert.Equal(claimed.Envelope.Sender, again.Envelope.Sender);
        Assert.Equal(claimed.Envelope.Recipients, again.Envelope.Recipients);
    }

    /// <summary>The Received header's length prefix, for an id of either length (Exim counts the header's bytes).</summary>
    internal static string FixReceivedLength(string header)
    {
        var start = header.IndexOf("165P ", StringComparison.Ordinal);
        var end = header.IndexOf("024F ", StringComparison.Ordinal);
        var text = header[(start + 5)..end];
        return header[..start] + $"{Encoding.UTF8.GetByteCount(text):D3}P " + header[(start + 5)..];
    }
}
