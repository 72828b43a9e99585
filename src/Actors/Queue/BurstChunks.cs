namespace MailScanner.Actors.Queue;

/// <summary>
/// Cuts what a burst message carries (admissions, answers, hand-overs) into pieces small enough for one remote
/// message: Akka.Remote drops, rather than splits, a message over its frame size, and a backlog's first burst admits
/// up to <c>max-in-flight</c> messages at once (2,000 admissions of about 130 bytes each were 260 KB).
/// </summary>
internal static class BurstChunks
{
    /// <summary>Items per message: with the largest of them (an admission's path) about 32 KB.</summary>
    public const int Size = 256;

    /// <summary>The items themselves when they fit one message, otherwise pieces of <see cref="Size"/>.</summary>
    public static IEnumerable<IReadOnlyList<T>> Of<T>(IReadOnlyList<T> items) =>
        items.Count <= Size ? [items] : items.Chunk(Size);
}
