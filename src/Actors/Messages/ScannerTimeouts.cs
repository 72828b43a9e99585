using System.Collections.Concurrent;

namespace MailScanner.Actors.Messages;

/// <summary>
/// The messages a scanner daemon timed out on while it answered others, by identity key: when such a message has used
/// up its attempts it is <c>unscannable</c> (never fully scanned; the policy decides) rather than <c>unprocessable</c>
/// (it crashed the gateway). Shared by the MessageActors of one gateway, since each attempt is a new actor. Kept in
/// memory only: after a restart a message that runs out of attempts is unprocessable, which is quarantined too.
/// </summary>
public sealed class ScannerTimeouts
{
    private readonly ConcurrentDictionary<string, int> _timeouts = new(StringComparer.Ordinal);

    /// <summary>A scanner timed out on the message with this identity key.</summary>
    public void Record(string messageKey) => _timeouts.AddOrUpdate(messageKey, 1, (_, count) => count + 1);

    /// <summary>How many of the message's attempts ended in a scanner timeout.</summary>
    public int Count(string messageKey) => _timeouts.GetValueOrDefault(messageKey);

    /// <summary>The message is finished (delivered, quarantined or deleted): nothing more to remember.</summary>
    public void Forget(string messageKey) => _timeouts.TryRemove(messageKey, out _);
}
