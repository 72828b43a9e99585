namespace MailScanner.Actors.Bench;

/// <summary>Where the defaults live: found by walking up from the bench binary to the solution file.</summary>
internal static class RepositoryLayout
{
    public static string? Root { get; } = FindRoot();

    public static string? DefaultCorpus =>
        Root is null ? null : Path.Combine(Root, "bench", "node_modules", "@stdlib", "datasets-spam-assassin", "data");

    /// <summary>The Release build first (what bench/run.sh builds), then Debug.</summary>
    public static string? DefaultGateway =>
        Root is null
            ? null
            : new[] { "Release", "Debug" }
                .Select(configuration => Path.Combine(Root, "src", "Host", "bin", configuration, "net10.0", "mailscanner-actors.dll"))
                .FirstOrDefault(File.Exists);

    private static string? FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "MailScanner.Actors.sln"))) return dir.FullName;
        }
        return null;
    }
}
