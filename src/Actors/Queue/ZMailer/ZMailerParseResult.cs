namespace MailScanner.Actors.Queue.ZMailer;

/// <summary>What reading a ZMailer queue file gave: an envelope and where the message starts, or why not.</summary>
public abstract record ZMailerParseResult
{
    private ZMailerParseResult() { }

    /// <param name="Envelope">The envelope lines before <c>env-end</c>.</param>
    /// <param name="MessageOffset">Index of the first byte of the RFC 5322 message, just after the <c>env-end</c> line.</param>
    public sealed record Parsed(Envelope Envelope, int MessageOffset) : ZMailerParseResult;

    /// <param name="Reason">Why the file is not a queue file we can process, worded for an operator's log.</param>
    public sealed record Malformed(string Reason) : ZMailerParseResult;
}
