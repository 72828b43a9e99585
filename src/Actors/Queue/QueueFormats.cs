namespace MailScanner.Actors.Queue;

/// <summary>
/// The queue formats the gateway can read and write, by the name <c>mailscanner.queue.format</c> gives them.
/// The one place a format is registered: configuration validation and the wiring both ask here, so a format
/// added here is known everywhere at once.
/// </summary>
public static class QueueFormats
{
    private static readonly IReadOnlyDictionary<string, IQueueFormat> ByName =
        new IQueueFormat[] { ZMailerFormat.Instance }.ToDictionary(format => format.Name, StringComparer.Ordinal);

    /// <summary>The known names, sorted, for validation and error messages.</summary>
    public static IReadOnlyList<string> Names { get; } = ByName.Keys.Order(StringComparer.Ordinal).ToArray();

    public static bool IsKnown(string name) => ByName.ContainsKey(name);

    /// <exception cref="ArgumentException"><paramref name="name"/> is not a known format.</exception>
    public static IQueueFormat Get(string name) =>
        ByName.TryGetValue(name, out var format)
            ? format
            : throw new ArgumentException($"unknown queue format '{name}' (known: {string.Join(", ", Names)})", nameof(name));
}
