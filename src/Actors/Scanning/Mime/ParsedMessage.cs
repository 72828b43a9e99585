using MimeKit;

namespace MailScanner.Actors.Scanning.Mime;

/// <summary>
/// A message's MIME tree as <see cref="MessageAnalyzer"/> parsed it, handed on to the cleaner so that a message that
/// is rewritten is parsed once, not twice. The cleaner changes the tree as it rewrites it, so the tree can be taken
/// only once: whoever asks later (a second decision on the same reports) parses the bytes again and gets what a
/// fresh parse gives.
/// </summary>
public sealed class ParsedMessage(MimeMessage tree, ReadOnlyMemory<byte> source, int maxMimeDepth)
{
    private MimeMessage? _tree = tree;

    /// <summary>
    /// The tree, when it was parsed from these very <paramref name="bytes"/> (the same memory, not a copy) with
    /// <see cref="MessageAnalyzer.ParserOptionsFor"/>(<paramref name="maxMimeDepth"/>) and not taken yet; otherwise
    /// null, and the caller parses the message itself.
    /// </summary>
    public MimeMessage? Take(ReadOnlyMemory<byte> bytes, int maxMimeDepth) =>
        maxMimeDepth == maxMimeDepthParsed && bytes.Equals(source) ? Interlocked.Exchange(ref _tree, null) : null;

    private readonly int maxMimeDepthParsed = maxMimeDepth;
}
