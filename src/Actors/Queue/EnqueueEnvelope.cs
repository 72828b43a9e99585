using MimeKit;

namespace MailScanner.Actors.Queue;

/// <summary>
/// The envelope <c>mailscanner-actors enqueue</c> queues a message with: the sender and recipients given, or else the
/// message's own headers, as <c>sendmail -t</c> reads them (sender: the first address of <c>From:</c>; recipients:
/// every address of <c>To:</c>, <c>Cc:</c> and <c>Bcc:</c>, in order, each once).
/// </summary>
public static class EnqueueEnvelope
{
    /// <param name="from">The envelope sender; empty for a bounce's null sender; null: from the headers.</param>
    /// <param name="to">The envelope recipients; none: from the headers.</param>
    /// <exception cref="FormatException">No sender or no recipient can be found, or a given address is not one.</exception>
    public static QueueEnvelope For(ReadOnlySpan<byte> message, string? from, IReadOnlyList<string> to)
    {
        foreach (var address in from is { Length: > 0 } ? to.Append(from) : to)
        {
            if (!IsBareAddress(address)) throw new FormatException($"'{address}' is not a bare address (local@domain, no spaces or angle brackets)");
        }
        if (from is not null && to.Count > 0) return new QueueEnvelope(from, to);

        var headers = Headers(message);
        var sender = from ?? Addresses(headers, HeaderId.From).FirstOrDefault()
            ?? throw new FormatException("no sender: give --from, or the message a From: header");
        var recipients = to.Count > 0
            ? to
            : Addresses(headers, HeaderId.To, HeaderId.Cc, HeaderId.Bcc).Distinct(StringComparer.OrdinalIgnoreCase).ToList();
        if (recipients.Count == 0) throw new FormatException("no recipients: give --to, or the message To:, Cc: or Bcc: headers");
        return new QueueEnvelope(sender, recipients);
    }

    private static bool IsBareAddress(string address) =>
        address.Length is > 0 and <= 998 && !address.Any(c => char.IsWhiteSpace(c) || char.IsControl(c) || c is '<' or '>');

    private static HeaderList Headers(ReadOnlySpan<byte> message)
    {
        using var stream = new MemoryStream(message.ToArray(), writable: false);
        try
        {
            return HeaderList.Load(stream);
        }
        catch (ParseException e)
        {
            throw new FormatException($"the message's headers cannot be read: {e.Message}", e);
        }
    }

    private static IEnumerable<string> Addresses(HeaderList headers, params HeaderId[] ids) =>
        headers.Where(header => ids.Contains(header.Id))
            .SelectMany(header => InternetAddressList.TryParse(header.Value, out var list) ? list.Mailboxes : [])
            .Select(mailbox => mailbox.Address)
            .Where(IsBareAddress);
}
