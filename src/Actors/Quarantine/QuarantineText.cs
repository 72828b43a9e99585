using System.Globalization;
using System.Text;
using MailScanner.Actors.Scanning;

namespace MailScanner.Actors.Quarantine;

/// <summary>How the quarantine is shown to an operator (the <c>quarantine</c> commands) and how their arguments are read.</summary>
public static class QuarantineText
{
    /// <summary>
    /// One line per entry, tab-separated so that scripts can cut it: id, time (UTC), verdict, sender (<c>&lt;&gt;</c> for
    /// a bounce), number of recipients, queue id, and <c>released</c> once it has been.
    /// </summary>
    public static string ListLine(QuarantineEntry entry)
    {
        var m = entry.Metadata;
        var line = string.Join('\t',
            entry.Id,
            Time(m.TimeUtc),
            Verdict.Name(m.Verdict),
            Sender(m.Sender),
            m.Recipients.Count == 1 ? "1 recipient" : $"{m.Recipients.Count.ToString(CultureInfo.InvariantCulture)} recipients",
            Shown(m.QueueId));
        return entry.IsReleased ? line + "\treleased" : line;
    }

    /// <summary>Everything recorded about an entry, one field per line.</summary>
    public static string Describe(QuarantineEntry entry)
    {
        var m = entry.Metadata;
        var b = new StringBuilder();
        b.AppendLine($"id:          {entry.Id}");
        b.AppendLine($"time:        {Time(m.TimeUtc)}");
        b.AppendLine($"queue id:    {Shown(m.QueueId)}");
        b.AppendLine($"identity:    {m.OriginalIdentity}");
        // What `quarantine release` reads the stored queue file back with: an entry of another format is refused there.
        b.AppendLine($"format:      {m.QueueFormat ?? "not recorded (stored before the format was)"}");
        if (m.PartLengths is { Count: > 1 } parts)
            b.AppendLine($"files:       {parts.Count.ToString(CultureInfo.InvariantCulture)}, primary first: {string.Join(" + ", parts.Select(p => p.ToString(CultureInfo.InvariantCulture)))} bytes");
        b.AppendLine($"sender:      {Sender(m.Sender)}");
        b.AppendLine($"recipients:  {m.Recipients.Count.ToString(CultureInfo.InvariantCulture)}");
        foreach (var recipient in m.Recipients) b.AppendLine($"  {Shown(recipient)}");
        b.AppendLine($"verdict:     {Verdict.Name(m.Verdict)}");
        b.AppendLine($"reasons:     {m.Reasons.Count.ToString(CultureInfo.InvariantCulture)}");
        foreach (var reason in m.Reasons) b.AppendLine($"  {Shown(reason)}");
        if (entry.Release is { } r)
        {
            b.AppendLine($"released:    {Time(r.TimeUtc)} to {r.OutgoingPath} (identity {r.OutgoingIdentity}{(r.Recovered ? ", completed after an interruption" : "")})");
        }
        else
        {
            b.AppendLine("released:    no");
        }
        b.AppendLine($"stored in:   {entry.Directory}");
        return b.ToString();
    }

    /// <summary>
    /// Reads a verdict as an operator writes it: the log's spelling (<c>high spam</c>, <c>dangerous content</c>),
    /// with dashes or underscores, or the enum name, in any case.
    /// </summary>
    public static bool TryParseVerdict(string text, out VerdictKind verdict)
    {
        var wanted = Squash(text);
        foreach (var kind in Enum.GetValues<VerdictKind>())
        {
            if (Squash(kind.ToString()) == wanted || Squash(Verdict.Name(kind)) == wanted)
            {
                verdict = kind;
                return true;
            }
        }
        verdict = default;
        return false;

        static string Squash(string s) => new(s.Where(char.IsAsciiLetterOrDigit).Select(char.ToLowerInvariant).ToArray());
    }

    /// <summary>The spellings <see cref="TryParseVerdict"/> accepts, for an error message.</summary>
    public static string VerdictChoices => string.Join(", ", Enum.GetValues<VerdictKind>().Select(k => Verdict.Name(k).Replace(' ', '-')));

    /// <summary>A date (<c>2025-01-31</c>, midnight UTC) or a time (<c>2025-01-31T14:00:00Z</c>); without a zone, UTC.</summary>
    public static bool TryParseSince(string text, out DateTime sinceUtc) =>
        DateTime.TryParse(text, CultureInfo.InvariantCulture,
            DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal | DateTimeStyles.AllowWhiteSpaces, out sinceUtc);

    private static string Time(DateTime utc) => utc.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    private static string Sender(string sender) => sender.Length == 0 ? "<>" : Shown(sender);

    /// <summary>What came with the message, shown whole (an operator reads it all) but with nothing hidden: no tab breaks a column.</summary>
    private static string Shown(string fromMessage) => PrintableText.Of(fromMessage, maxLength: int.MaxValue);
}
