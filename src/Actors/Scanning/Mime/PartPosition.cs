using System.Globalization;
using MimeKit;

namespace MailScanner.Actors.Scanning.Mime;

/// <summary>
/// Where a part sits in a message, in IMAP numbering (RFC 3501 6.4.5): <c>1.2</c> is the second child of the first
/// child of the top-level multipart. The analyzer names the parts it reports this way and the cleaner finds the part to
/// replace from it, so both compute it here and can never disagree.
/// </summary>
/// <remarks>
/// The top-level message's own position is "" (shown as <c>1</c>). A message's multipart body has the message's own
/// position (the children of an attached message at 2 are 2.1, 2.2); a single-part body is child 1 of it.
/// </remarks>
public static class PartPosition
{
    /// <summary>The position of the top-level message.</summary>
    public const string TopLevel = "";

    /// <summary>The position of the <paramref name="index"/>-th child (from 1) of the entity at <paramref name="position"/>.</summary>
    public static string Child(string position, int index) =>
        position.Length == 0 ? index.ToString(CultureInfo.InvariantCulture) : $"{position}.{index.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>The position of <paramref name="body"/>, the body of the message at <paramref name="messagePosition"/>.</summary>
    public static string OfBody(MimeEntity body, string messagePosition) =>
        body is Multipart ? messagePosition : Child(messagePosition, 1);

    /// <summary>The position as people and findings see it: the top-level message's body is <c>1</c>.</summary>
    public static string Shown(string position) => position.Length == 0 ? "1" : position;

    /// <summary>The child indexes (from 1) a shown position is made of; null when it is not a position.</summary>
    public static int[]? Indexes(string shownPosition)
    {
        var segments = shownPosition.Split('.');
        var indexes = new int[segments.Length];
        for (var i = 0; i < segments.Length; i++)
        {
            if (!int.TryParse(segments[i], NumberStyles.None, CultureInfo.InvariantCulture, out indexes[i]) || indexes[i] < 1) return null;
        }
        return indexes;
    }
}
