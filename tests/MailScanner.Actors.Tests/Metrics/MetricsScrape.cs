using System.Globalization;
using System.Text.RegularExpressions;
using MailScanner.Actors.Tests.TestSupport;

namespace MailScanner.Actors.Tests.Metrics;

/// <summary>
/// One scrape of a gateway's <c>/metrics</c>, read as Prometheus reads it (the text exposition format): every sample
/// by its exported name and labels. Specs check the names operators' alerts and the dashboards use, not the
/// instruments' names inside the process.
/// </summary>
public sealed partial class MetricsScrape
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(10) };

    private MetricsScrape(string text, IReadOnlyList<Sample> samples)
    {
        Text = text;
        Samples = samples;
    }

    public string Text { get; }
    public IReadOnlyList<Sample> Samples { get; }

    public static async Task<MetricsScrape> TakeAsync(Uri endpoint)
    {
        var text = await Http.GetStringAsync(new Uri(endpoint, "/metrics"));
        var samples = new List<Sample>();
        foreach (var line in text.Split('\n'))
        {
            if (line.Length == 0 || line[0] == '#') continue;
            var match = SampleLine().Match(line);
            if (!match.Success) throw new FormatException($"not a sample line of the text format: {line}");
            var labels = LabelPair().Matches(match.Groups["labels"].Value)
                .ToDictionary(m => m.Groups["name"].Value, m => Regex.Unescape(m.Groups["value"].Value));
            samples.Add(new Sample(match.Groups["name"].Value, labels, ParseValue(match.Groups["value"].Value)));
        }
        return new MetricsScrape(text, samples);
    }

    /// <summary>Scrapes until <paramref name="condition"/> holds (a counter has caught up); the scrape it held on.</summary>
    public static async Task<MetricsScrape> UntilAsync(Uri endpoint, Func<MetricsScrape, bool> condition, string what, TimeSpan? within = null)
    {
        MetricsScrape? last = null;
        await Eventually.Holds(async () => condition(last = await TakeAsync(endpoint)), within ?? TimeSpan.FromSeconds(30),
            () => $"{what}; the last scrape had:\n{last?.Text}", TimeSpan.FromMilliseconds(100));
        return last!;
    }

    /// <summary>The series of one name, each with its labels.</summary>
    public IReadOnlyList<Sample> Series(string name) => Samples.Where(s => s.Name == name).ToList();

    /// <summary>The sum over the series of <paramref name="name"/> that carry every given label; 0 when there is none.</summary>
    public double Sum(string name, params (string Label, string Value)[] labels) =>
        Series(name).Where(s => labels.All(l => s.Labels.GetValueOrDefault(l.Label) == l.Value)).Sum(s => s.Value);

    public bool Has(string name, params (string Label, string Value)[] labels) =>
        Series(name).Any(s => labels.All(l => s.Labels.GetValueOrDefault(l.Label) == l.Value));

    private static double ParseValue(string value) => value switch
    {
        "+Inf" => double.PositiveInfinity,
        "-Inf" => double.NegativeInfinity,
        _ => double.Parse(value, NumberStyles.Float, CultureInfo.InvariantCulture),
    };

    [GeneratedRegex(@"^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>.*)\})?\s+(?<value>\S+)(\s+-?\d+)?$")]
    private static partial Regex SampleLine();

    [GeneratedRegex(@"(?<name>[a-zA-Z_][a-zA-Z0-9_]*)=""(?<value>(?:[^""\\]|\\.)*)""")]
    private static partial Regex LabelPair();

    public sealed record Sample(string Name, IReadOnlyDictionary<string, string> Labels, double Value);
}
