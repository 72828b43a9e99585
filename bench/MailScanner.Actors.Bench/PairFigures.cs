using System.Globalization;

namespace MailScanner.Actors.Bench;

/// <summary>
/// One figure per alternating pair, cold (from the first claim of a fresh process) and warm (the same process's second
/// backlog), reported as the median pair's with every pair's beside it: one pair alone follows whatever else the
/// shared machine is doing.
/// </summary>
internal sealed class PairFigures(string format)
{
    private readonly List<double> _cold = [];
    private readonly List<double> _warm = [];

    /// <summary>Records one pair's figures (warm null when the pair ran cold only) and returns them as printed.</summary>
    public string Add(double cold, double? warm)
    {
        _cold.Add(cold);
        if (warm is { } w) _warm.Add(w);
        return warm is { } both ? $"{Text(cold)} cold, {Text(both)} warm" : Text(cold);
    }

    /// <summary>Prints the medians and adds them to the summary with their target (if any): the cold one, then the warm one.</summary>
    public void Report(string what, string summaryName, string? target, Func<double, bool>? met, Summary summary)
    {
        foreach (var (figures, which) in new[] { (_cold, ""), (_warm, ", warm") })
        {
            if (figures.Count == 0) continue;
            var median = figures.Order().ElementAt(figures.Count / 2);
            var each = string.Join(", ", figures.Select(Text));
            Console.WriteLine($"{what}{which}, median of {figures.Count} pair(s): {Text(median)} (each: {each})");
            summary.Add($"{summaryName}, median of {figures.Count}{which}", $"{Text(median)} ({each})", target, met?.Invoke(median));
        }
    }

    private string Text(double value) => value.ToString(format, CultureInfo.InvariantCulture);
}
