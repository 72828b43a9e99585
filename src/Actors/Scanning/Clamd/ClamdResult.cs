namespace MailScanner.Actors.Scanning.Clamd;

/// <summary>What clamd said about one stream.</summary>
public abstract record ClamdResult
{
    private ClamdResult() { }

    /// <summary><c>stream: OK</c>: no signature matched.</summary>
    public sealed record Clean : ClamdResult
    {
        public static readonly Clean Instance = new();
    }

    /// <summary><c>stream: &lt;signature&gt; FOUND</c>.</summary>
    public sealed record Found(string Signature) : ClamdResult;

    /// <summary>
    /// The stream was longer than clamd's <c>StreamMaxLength</c>: clamd refused to scan the rest, so the content
    /// is <em>not</em> known to be clean. Callers must treat it as dangerous content.
    /// </summary>
    public sealed record TooLarge(string Detail) : ClamdResult;

    /// <summary>clamd answered <c>... ERROR</c>: it could not scan the stream (the scan did not complete).</summary>
    public sealed record Error(string Message) : ClamdResult;
}
