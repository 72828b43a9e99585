using System.Globalization;
using System.Text;

namespace MailScanner.Actors.Bench;

/// <summary>
/// A message as the bench queues it. Its first header is <c>X-Bench-Seq: N</c>, unique per message in a run,
/// so the outgoing queue can be checked for exactly-once delivery by counting sequence numbers.
/// </summary>
internal sealed record QueueMessage(int Seq, string Sender, IReadOnlyList<string> Recipients, ReadOnlyMemory<byte> Content)
{
    public const string SeqHeader = "X-Bench-Seq";

    public static QueueMessage FromCorpus(Corpus corpus, int seq)
    {
        var message = corpus.ForSequence(seq);
        return new QueueMessage(seq, message.Sender, [message.Recipient], message.Content);
    }

    /// <summary>
    /// For runs shorter than the corpus: <paramref name="count"/> messages picked evenly across the whole corpus (every
    /// group, ham and spam alike, rather than its first, all-ham, files), numbered 0..count-1.
    /// </summary>
    public static QueueMessage FromCorpusSpread(Corpus corpus, int seq, int count)
    {
        var message = corpus.ForSequence((int)((long)seq * corpus.Count / Math.Max(count, 1)));
        return new QueueMessage(seq, message.Sender, [message.Recipient], message.Content);
    }

    /// <summary>A few hundred bytes of plain mail, for the runs that are about file counts rather than content.</summary>
    public static QueueMessage Small(int seq)
    {
        var text = string.Create(CultureInfo.InvariantCulture, $"""
            From: Bench Sender <sender@bench.example>
            To: rcpt{seq % 100}@bench.example
            Subject: bench message {seq}
            Message-ID: <{seq}.bench@bench.example>
            Date: Mon, 30 Nov 2026 08:00:00 +0000
            MIME-Version: 1.0
            Content-Type: text/plain; charset=us-ascii

            This is a small bench message, number {seq}.

            """).ReplaceLineEndings("\n");
        return new QueueMessage(seq, "sender@bench.example", [$"rcpt{seq % 100}@bench.example"], Encoding.ASCII.GetBytes(text));
    }

    /// <summary>The RFC 5322 message as queued (the bench's header, then the content): what the gateway hands its scanners.</summary>
    public byte[] Rfc5322()
    {
        var header = Encoding.ASCII.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{SeqHeader}: {Seq}\n"));
        return [.. header, .. Content.Span];
    }

    /// <summary>
    /// The ZMailer envelope (DESIGN.md §3) up to and including <c>env-end</c>, followed by the bench's own
    /// header, which starts the RFC 5322 part.
    /// </summary>
    public byte[] EnvelopeAndSeqHeader()
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"from <{Sender}>\n");
        foreach (var recipient in Recipients) text.Append(CultureInfo.InvariantCulture, $"to <{recipient}>\n");
        text.Append("rcvdfrom bench.example [192.0.2.25]\n");
        text.Append("env-end\n");
        text.Append(CultureInfo.InvariantCulture, $"{SeqHeader}: {Seq}\n");
        return Encoding.ASCII.GetBytes(text.ToString());
    }
}
