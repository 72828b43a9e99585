namespace MailScanner.Actors.Queue.Exim;

/// <summary>
/// Exim's message ids: up to 4.96 <c>tttttt-pppppp-ss</c> (16 characters), from 4.97 on <c>tttttt-ppppppppppp-ssss</c>
/// (23): base-62 time, process id and sub-second parts. Both are read. The pipeline never makes one up: it gives the
/// delivering Exim the receiving Exim's own id (as MailScanner does), two spools, so no clash. Only <c>enqueue</c>,
/// which plays the receiving Exim, makes one (<see cref="New"/>).
/// </summary>
public static class EximMessageId
{
    private const int TimeLength = 6;

    public static bool IsValid(ReadOnlySpan<char> id) => id.Length switch
    {
        16 => Shaped(id, 6, 2),
        23 => Shaped(id, 11, 4),
        _ => false,
    };

    /// <summary>The subdirectory of <c>input/</c> a message lives in with <c>split_spool_directory</c>: the last character of the time part.</summary>
    public static char SplitDirectory(ReadOnlySpan<char> id) => id[TimeLength - 1];

    /// <summary>The id of a spool file name <c>&lt;id&gt;-H</c> or <c>&lt;id&gt;-D</c> with <paramref name="suffix"/>; false for any other name.</summary>
    public static bool TryFromFileName(string name, char suffix, out string id)
    {
        id = "";
        if (name.Length < 3 || name[^2] != '-' || name[^1] != suffix || !IsValid(name.AsSpan(0, name.Length - 2))) return false;
        id = name[..^2];
        return true;
    }

    private const string Base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

    /// <summary>The resolution of the sub-second part: 1/2000 s.</summary>
    public static readonly TimeSpan TickLength = TimeSpan.FromTicks(TimeSpan.TicksPerMillisecond / 2);

    /// <summary>
    /// A short id as Exim 4.96 makes one: the time in seconds, the process id and the 1/2000 s within the second, in
    /// base 62. Two calls of one process must be at least <see cref="TickLength"/> apart to differ, as in Exim.
    /// </summary>
    public static string New(DateTimeOffset now, int processId)
    {
        var tick = (int)(now.Ticks % TimeSpan.TicksPerSecond / TickLength.Ticks);
        return $"{Encode(now.ToUnixTimeSeconds(), 6)}-{Encode(processId, 6)}-{Encode(tick, 2)}";
    }

    private static string Encode(long value, int length)
    {
        var chars = new char[length];
        for (var i = length - 1; i >= 0; i--)
        {
            chars[i] = Base62[(int)(value % 62)];
            value /= 62;
        }
        return new string(chars);
    }

    private static bool Shaped(ReadOnlySpan<char> id, int pidLength, int subsecondLength) =>
        id[TimeLength] == '-' && id[TimeLength + 1 + pidLength] == '-' &&
        IsBase62(id[..TimeLength]) && IsBase62(id.Slice(TimeLength + 1, pidLength)) && IsBase62(id[^subsecondLength..]);

    private static bool IsBase62(ReadOnlySpan<char> part)
    {
        foreach (var c in part)
        {
            if (!char.IsAsciiLetterOrDigit(c)) return false;
        }
        return true;
    }
}
