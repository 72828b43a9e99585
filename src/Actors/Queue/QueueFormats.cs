using MailScanner.Actors.Configuration;
using MailScanner.Actors.Queue.Exim;
using MailScanner.Actors.Queue.Postfix;
using MailScanner.Actors.Queue.Sendmail;

namespace MailScanner.Actors.Queue;

/// <summary>
/// The queue formats the gateway can read and write, by the name <c>mailscanner.queue.format</c> gives them.
/// The one place a format is registered: configuration validation and the wiring both ask here, so a format
/// added here is known everywhere at once.
/// </summary>
public static class QueueFormats
{
    /// <summary>Each format by name, made from the queue settings (Postfix needs its main.cf settings and its queue directory).</summary>
    private static readonly IReadOnlyDictionary<string, Func<QueueSettings, IQueueFormat>> ByName =
        new Dictionary<string, Func<QueueSettings, IQueueFormat>>(StringComparer.Ordinal)
        {
            [ZMailerFormat.Instance.Name] = _ => ZMailerFormat.Instance,
            [PostfixFormat.FormatName] = queue => new PostfixFormat(queue.Postfix.LayoutFor(queue.Incoming, queue.Outgoing)),
            [EximFormat.FormatName] = queue => new EximFormat(queue.Exim),
            [SendmailFormat.FormatName] = queue => new SendmailFormat(queue.Sendmail),
        };

    /// <summary>The known names, sorted, for validation and error messages.</summary>
    public static IReadOnlyList<string> Names { get; } = ByName.Keys.Order(StringComparer.Ordinal).ToArray();

    public static bool IsKnown(string name) => ByName.ContainsKey(name);

    /// <summary>The format <paramref name="queue"/> names, set up for its directories.</summary>
    /// <exception cref="ArgumentException">The format is not a known one.</exception>
    public static IQueueFormat For(QueueSettings queue) =>
        ByName.TryGetValue(queue.Format, out var make)
            ? make(queue)
            : throw new ArgumentException($"unknown queue format '{queue.Format}' (known: {string.Join(", ", Names)})", nameof(queue));
}
