using System.Globalization;
using System.Security.Cryptography;

namespace MailScanner.Actors.Quarantine;

/// <summary>
/// The quarantine's own ids: <c>yyyyMMdd-HHmmss-</c> and 16 random hex digits, e.g.
/// <c>20250131-142501-9f86d081884c7d65</c>. Generated, never taken from the mail, and checked character by
/// character before any path is built from one, so an operator's typo (or <c>../../etc</c>) can never
/// reach outside the quarantine. The date prefix names the day directory, so a lookup needs no search.
/// </summary>
public static class QuarantineId
{
    private const int DateLength = 8, TimeLength = 6, RandomLength = 16;
    private const int Length = DateLength + 1 + TimeLength + 1 + RandomLength;

    public static string New(DateTime timeUtc)
    {
        Span<byte> random = stackalloc byte[RandomLength / 2];
        RandomNumberGenerator.Fill(random);
        return string.Create(CultureInfo.InvariantCulture,
            $"{timeUtc:yyyyMMdd}-{timeUtc:HHmmss}-{Convert.ToHexStringLower(random)}");
    }

    /// <summary>True only for the exact shape <see cref="New"/> produces: digits, two dashes, lower-case hex.</summary>
    public static bool IsValid(string? id)
    {
        if (id is null || id.Length != Length) return false;
        for (var i = 0; i < Length; i++)
        {
            var c = id[i];
            var ok = i switch
            {
                DateLength or DateLength + 1 + TimeLength => c == '-',
                < DateLength + 1 + TimeLength + 1 => char.IsAsciiDigit(c),
                _ => char.IsAsciiDigit(c) || c is >= 'a' and <= 'f',
            };
            if (!ok) return false;
        }
        return true;
    }

    /// <summary>The day directory name of a valid id.</summary>
    internal static string DayOf(string id) => id[..DateLength];

    internal static string DayOf(DateTime timeUtc) => timeUtc.ToString("yyyyMMdd", CultureInfo.InvariantCulture);

    internal static bool IsDayName(string name) => name.Length == DateLength && name.All(char.IsAsciiDigit);
}
