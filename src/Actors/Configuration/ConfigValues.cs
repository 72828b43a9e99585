using System.Globalization;
using Akka.Configuration;

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
        if (value <= TimeSpan.Zero) throw new ConfigurationException(key, $"must be longer than 0 (got '{raw}')");
        return value;
    }
}
