namespace MailScanner.Actors.Tests.TestSupport;

/// <summary>
/// smtp-sink creates its file before it has written all of the message; a complete one ends with the empty line it
/// writes for the end of data. Each file is read until it is complete, then only counted. Wait on this, never on
/// <see cref="IPrivateMta.SinkFiles"/> alone, before reading what the sink received.
/// </summary>
public sealed class CompleteSinkFiles(IPrivateMta mta)
{
    private readonly HashSet<string> _complete = [];

    public int Count()
    {
        foreach (var file in mta.SinkFiles())
        {
            if (!_complete.Contains(file) && File.ReadAllBytes(file).AsSpan().EndsWith("\n\n"u8)) _complete.Add(file);
        }
        return _complete.Count;
    }
}
