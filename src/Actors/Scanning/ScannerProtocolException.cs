namespace MailScanner.Actors.Scanning;

/// <summary>
/// A scanner daemon answered something the client cannot use (a malformed or unexpected reply, an error
/// status). The scan did not complete: the message has no verdict from that scanner.
/// </summary>
public sealed class ScannerProtocolException : Exception
{
    public ScannerProtocolException(string scanner, string problem, Exception? inner = null)
        : base($"{scanner}: {problem}", inner)
    {
        Scanner = scanner;
        Problem = problem;
    }

    public string Scanner { get; }
    public string Problem { get; }
}
