using System.Globalization;
using System.Text;

namespace MailScanner.Actors.Queue.Postfix;

/// <summary>
/// Postfix queue ids and the hashed subdirectories they live in (src/global/mail_queue.c, mail_queue.h, file_id.c,
/// safe_ultostr.c, src/util/dir_forest.c).
/// <list type="bullet">
/// <item>Short ids: the microseconds as exactly five upper-case hex digits, then the inode number in hex. The same
/// inode within the same microsecond value gives the same id again: the seed's hazard.</item>
/// <item>Long ids (<c>enable_long_queue_ids</c>): the seconds in base 52 (at least six characters), the microseconds
/// in base 52 (exactly four), <c>z</c>, the inode number in base 51 (an alphabet without <c>z</c>).</item>
/// </list>
/// </summary>
public static class PostfixQueueId
{
    /// <summary>safe_ultostr()'s alphabet: digits and letters without vowels, so an id never spells a word.</summary>
    private const string SafeAlphabet = "0123456789BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz";

    private const int LongSecondsBase = 52, LongSecondsPad = 6;
    private const int LongMicrosecondsBase = 52, LongMicrosecondsPad = 4;
    private const int LongInodeBase = 51;
    private const char LongInodeSeparator = 'z';
    private const int ShortMicrosecondsDigits = 5;

    /// <summary>VALID_HOSTNAME_LEN (valid_hostname.h): mail_queue_id_ok() refuses longer names.</summary>
    private const int MaxIdLength = 255;

    public static string Short(long microseconds, ulong inode) =>
        string.Create(CultureInfo.InvariantCulture, $"{microseconds:X5}{inode:X}");

    public static string Long(long seconds, long microseconds, ulong inode) =>
        Encode((ulong)seconds, LongSecondsBase, LongSecondsPad)
        + Encode((ulong)microseconds, LongMicrosecondsBase, LongMicrosecondsPad)
        + LongInodeSeparator
        + Encode(inode, LongInodeBase, 0);

    /// <summary>The id mail_queue_enter() gives a file with <paramref name="inode"/> at <paramref name="time"/>.</summary>
    public static string For(PostfixArrivalTime time, ulong inode, bool longIds) =>
        longIds ? Long(time.Seconds, time.Microseconds, inode) : Short(time.Microseconds, inode);

    /// <summary>
    /// mail_queue_id_ok(): letters, digits and '_' only, 1 to 255 characters. Postfix ignores every other name in a
    /// queue directory, which is why a temp name with '.' or '-' is safe while it is written.
    /// </summary>
    public static bool IsValid(string name)
    {
        if (name.Length is 0 or > MaxIdLength) return false;
        foreach (var c in name)
            if (!(char.IsAsciiLetterOrDigit(c) || c == '_')) return false;
        return true;
    }

    /// <summary>Whether <paramref name="id"/> has the long form: a 'z' with at least ten time characters before it (MQID_FIND_LG_INUM_SEPARATOR).</summary>
    public static bool IsLong(string id)
    {
        var separator = id.LastIndexOf(LongInodeSeparator);
        return separator >= LongSecondsPad + LongMicrosecondsPad;
    }

    /// <summary>The inode number an id embeds (MQID_GET_INUM); false when it embeds none Postfix could read.</summary>
    public static bool TryGetInode(string id, out ulong inode)
    {
        inode = 0;
        if (IsLong(id)) return TryDecode(id.AsSpan(id.LastIndexOf(LongInodeSeparator) + 1), LongInodeBase, out inode);
        return id.Length > ShortMicrosecondsDigits
               && ulong.TryParse(id.AsSpan(ShortMicrosecondsDigits), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out inode);
    }

    /// <summary>
    /// The hashed subdirectories of <paramref name="id"/>, <paramref name="depth"/> levels deep, as "A/B/"
    /// (mail_queue_dir() and dir_forest()): one character of the id per level, '_' past its end. A long id hashes by
    /// its microseconds re-encoded as five hex digits (MQID_LG_GET_HEX_USEC), so both forms spread alike.
    /// </summary>
    public static string HashDirectories(string id, int depth)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(depth, 1);
        var hashed = id;
        if (IsLong(id))
        {
            var separator = id.LastIndexOf(LongInodeSeparator);
            var microseconds = TryDecode(id.AsSpan(separator - LongMicrosecondsPad, LongMicrosecondsPad), LongMicrosecondsBase, out var value) ? value : 0;
            hashed = string.Create(CultureInfo.InvariantCulture, $"{(int)microseconds:X5}");
        }
        var forest = new StringBuilder(depth * 2);
        for (var level = 0; level < depth; level++) forest.Append(level < hashed.Length ? hashed[level] : '_').Append('/');
        return forest.ToString();
    }

    private static string Encode(ulong value, int numberBase, int pad)
    {
        var digits = new StringBuilder();
        for (; value != 0; value /= (ulong)numberBase) digits.Insert(0, SafeAlphabet[(int)(value % (ulong)numberBase)]);
        while (digits.Length < pad) digits.Insert(0, '0');
        return digits.ToString();
    }

    private static bool TryDecode(ReadOnlySpan<char> text, int numberBase, out ulong value)
    {
        value = 0;
        if (text.IsEmpty) return false;
        foreach (var c in text)
        {
            var digit = SafeAlphabet.IndexOf(c);
            if (digit < 0 || digit >= numberBase) return false;
            if (value > (ulong.MaxValue - (ulong)digit) / (ulong)numberBase) return false; // safe_strtoul() says ERANGE
            value = (value * (ulong)numberBase) + (ulong)digit;
        }
        return true;
    }
}
