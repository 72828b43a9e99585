using MailScanner.Actors.Queue;

namespace MailScanner.Actors.Hosting;

/// <summary>What the gateway's parts share about the queue they work on.</summary>
public static class Gateway
{
    public static IQueueFormat FormatFor(string name) => name switch
    {
        "zmailer" => ZMailerFormat.Instance,
        _ => throw new ArgumentException($"unknown queue format '{name}'", nameof(name)),
    };
}
