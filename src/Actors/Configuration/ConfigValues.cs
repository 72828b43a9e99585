using System.Globalization;
using Akka.Configuration;
using Akka.Configuration.Hocon;

namespace MailScanner.Actors.Configuration;

/// <summary>
/// Reading one HOCON value for the settings loaders, with the operator-readable error every loader gives:
/// a <see cref="ConfigurationException"/> naming the key and saying what was expected.
/// </summary>
internal static class ConfigValues
{
    /// <summary>The value as text; missing keys, sections and lists are errors.</summary>
    public static string Raw(Config config, string key)
    {
        if (!config.HasPath(key)) throw new ConfigurationException(key, "is missing");
        var value = config.GetValue(key);
        if (value.IsObject()) throw new ConfigurationException(key, "must be a single value, not a section { ... }");
        if (value.IsArray()) throw new ConfigurationException(key, "must be a single value, not a list [ ... ]");
        return (value.GetString() ?? "").Trim();
    }

    public static bool Boolean(Config config, string key) => Raw(config, key).ToLowerInvariant() switch
    {
        "yes" or "on" or "true" => true,
        "no" or "off" or "false" => false,
        var raw => throw new ConfigurationException(key, $"must be true or false (or yes or no; got '{raw}')"),
    };

    public static int PositiveInt(Config config, string key)
    {
        var raw = Raw(config, key);
        if (!int.TryParse(raw, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
            throw new ConfigurationException(key, $"must be a whole number (got '{raw}')");
        if (value < 1) throw new ConfigurationException(key, $"must be at least 1 (got {value})");
        return value;
    }

    public static TimeSpan PositiveDuration(Config config, string key)
    {
        var value = Duration(config, key);
        if (value == TimeSpan.Zero) throw new ConfigurationException(key, $"must be longer than 0 (got '{Raw(config, key)}')");
        return value;
    }

    /// <summary>A duration of zero or more.</summary>
    public static TimeSpan Duration(Config config, string key)
    {
        var raw = Raw(config, key);
        TimeSpan value;
        try
        {
            value = config.GetTimeSpan(key, allowInfinite: false);
        }
        catch (Exception e) when (e is FormatException or OverflowException or ArgumentException)
        {
            throw new ConfigurationException(key, $"must be a duration such as 1s or 500ms (got '{raw}')", e);
        }
        if (value < TimeSpan.Zero) throw new ConfigurationException(key, $"must not be negative (got '{raw}')");
        return value;
    }

    /// <summary>A path, absolute (relative ones are taken from <paramref name="workingDirectory"/>).</summary>
    public static string Path(Config config, string key, string workingDirectory)
    {
        var raw = Raw(config, key);
        if (string.IsNullOrWhiteSpace(raw)) throw new ConfigurationException(key, "must not be empty");
        try
        {
            return System.IO.Path.TrimEndingDirectorySeparator(System.IO.Path.GetFullPath(raw, workingDirectory));
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            throw new ConfigurationException(key, $"is not a usable path ({e.Message})", e);
        }
    }

    /// <summary>A size in bytes of at least one byte, written as HOCON sizes are (<c>50m</c>, <c>500k</c>, <c>1048576</c>).</summary>
    public static long PositiveSize(Config config, string key)
    {
        var raw = Raw(config, key);
        long? value;
        try
        {
            value = config.GetByteSize(key);
        }
        catch (Exception e) when (e is FormatException or OverflowException)
        {
            throw new ConfigurationException(key, $"must be a size such as 50m or 1048576 (got '{raw}')", e);
        }
        if (value is not > 0) throw new ConfigurationException(key, $"must be at least 1 byte (got '{raw}')");
        return value.Value;
    }

    /// <summary>A list of words or quoted strings (<c>[]</c> is an empty list; a single value is an error, not a list of one).</summary>
    public static IReadOnlyList<string> StringList(Config config, string key)
    {
        if (!config.HasPath(key)) throw new ConfigurationException(key, "is missing");
        return StringList(config.GetValue(key), key);
    }

    /// <summary>A list read from a value already found (a ruleset's own keys), errors naming <paramref name="key"/>.</summary>
    /// <param name="example">One item of a list that would do, for the error messages.</param>
    public static IReadOnlyList<string> StringList(HoconValue value, string key, string? example = null)
    {
        if (value.IsObject()) throw new ConfigurationException(key, "must be a list [ ... ], not a section { ... }");
        // An empty list [] is neither IsArray() nor IsString() to Akka's HOCON; a single word or string is IsString().
        if (value.IsString() && !value.IsArray())
            throw new ConfigurationException(key, example is null ? "must be a list [ ... ]" : $"must be a list [ ... ], e.g. [\"{example}\"]");
        if (!value.IsArray()) return [];
        try
        {
            return value.GetStringList().Select(s => (s ?? "").Trim()).ToList();
        }
        catch (Exception e) when (e is InvalidOperationException or NotSupportedException or FormatException)
        {
            throw new ConfigurationException(key,
                example is null ? "must be a list of words or quoted strings" : $"must be a list of quoted strings such as \"{example}\"", e);
        }
    }

    /// <summary>One of the names of <typeparamref name="TEnum"/>, in lower case with dashes (<c>high-spam</c>), any case accepted.</summary>
    public static TEnum OneOf<TEnum>(Config config, string key) where TEnum : struct, Enum
    {
        var raw = Raw(config, key);
        foreach (var value in Enum.GetValues<TEnum>())
        {
            if (string.Equals(SpelledForConfig(value), raw, StringComparison.OrdinalIgnoreCase)) return value;
        }
        throw new ConfigurationException(key, $"must be one of {string.Join(", ", Enum.GetValues<TEnum>().Select(SpelledForConfig))} (got '{raw}')");
    }

    /// <summary>How an enum value is written in the configuration: <c>HighSpam</c> as <c>high-spam</c>.</summary>
    public static string SpelledForConfig<TEnum>(TEnum value) where TEnum : struct, Enum =>
        string.Concat(value.ToString().Select((c, i) => char.IsUpper(c) && i > 0 ? "-" + char.ToLowerInvariant(c) : char.ToLowerInvariant(c).ToString()));
}
