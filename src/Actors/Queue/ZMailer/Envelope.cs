namespace MailScanner.Actors.Queue.ZMailer;

/// <summary>
/// The envelope of a ZMailer queue file: who sent it, who gets it, where it came from, and every other
/// envelope line verbatim, so that rewriting a file (after cleaning) loses nothing the router relies on.
/// </summary>
/// <param name="Sender">The bare address of the <c>from</c> line; empty for a bounce (<c>from &lt;&gt;</c>).</param>
/// <param name="Recipients">One bare address per <c>to</c> line, in file order.</param>
/// <param name="ReceivedFrom">The text of the <c>rcvdfrom</c> line (<c>host [ip]</c>), if there was one.</param>
/// <param name="OtherLines">Every other envelope line (<c>env</c>, <c>via</c>, <c>identinfo</c>, ...), verbatim and in order.</param>
public sealed record Envelope(
    string Sender,
    IReadOnlyList<string> Recipients,
    string? ReceivedFrom,
    IReadOnlyList<string> OtherLines)
{
    // Records compare lists by reference; an envelope is a value, so compare the lines themselves.
    public bool Equals(Envelope? other) =>
        other is not null
        && Sender == other.Sender
        && ReceivedFrom == other.ReceivedFrom
        && Recipients.SequenceEqual(other.Recipients)
        && OtherLines.SequenceEqual(other.OtherLines);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.Add(Sender);
        hash.Add(ReceivedFrom);
        foreach (var recipient in Recipients) hash.Add(recipient);
        foreach (var line in OtherLines) hash.Add(line);
        return hash.ToHashCode();
    }
}
