using System.Globalization;
using Akka.Configuration;
using MailScanner.Actors.Configuration;
using MailScanner.Actors.Scanning.Engines;
using ConfigurationException = MailScanner.Actors.Configuration.ConfigurationException;

namespace MailScanner.Actors.Scanning;

/// <summary>The external scanner daemons, from <c>mailscanner.scanners</c>.</summary>
public sealed record ScannerSettings(ClamdScannerSettings Clamd, SpamdScannerSettings Spamd)
{
    public const string Section = "mailscanner.scanners";

    /// <summary>
    /// Reads and validates <c>mailscanner.scanners</c>; keys missing from <paramref name="config"/> take the shipped
    /// defaults. Every problem is a <see cref="ConfigurationException"/> naming the key.
    /// </summary>
    public static ScannerSettings FromConfig(Config config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var merged = config.WithFallback(GatewaySettingsLoader.Defaults());
        var clamd = $"{Section}.clamd";
        var spamd = $"{Section}.spamd";
        return new ScannerSettings(
            new ClamdScannerSettings(
                Enabled: ReadBoolean(merged, $"{clamd}.enabled"),
                Address: ReadAddress(merged, $"{clamd}.address"),
                Engine: ReadEngine(merged, clamd)),
            new SpamdScannerSettings(
                Enabled: ReadBoolean(merged, $"{spamd}.enabled"),
                Address: ReadAddress(merged, $"{spamd}.address"),
                Engine: ReadEngine(merged, spamd),
                HighSpamScore: ReadScore(merged, $"{spamd}.high-spam-score")));
    }

    private static ScannerEngineSettings ReadEngine(Config config, string path)
    {
        var minKey = $"{path}.probe-backoff-min";
        var maxKey = $"{path}.probe-backoff-max";
        var min = ReadPositiveDuration(config, minKey);
        var max = ReadPositiveDuration(config, maxKey);
        if (max < min) throw new ConfigurationException(maxKey, $"must not be shorter than {minKey}");
        return new ScannerEngineSettings(
            Timeout: ReadPositiveDuration(config, $"{path}.timeout"),
            MaxConcurrent: ReadPositiveInt(config, $"{path}.max-concurrent"),
            UnhealthyAfterFailures: ReadPositiveInt(config, $"{path}.unhealthy-after-failures"),
            ProbeMinBackoff: min,
            ProbeMaxBackoff: max);
    }

    private static bool ReadBoolean(Config config, string key) => ReadRaw(config, key).ToLowerInvariant() switch
    {
        "true" or "yes" or "on" => true,
        "false" or "no" or "off" => false,
        var raw => throw new ConfigurationException(key, $"must be true or false (got '{raw}')"),
    };

    private static ScannerAddress ReadAddress(Config config, string key) =>
        ScannerAddress.TryParse(ReadRaw(config, key), out var address, out var problem)
            ? address
            : throw new ConfigurationException(key, problem);

    private static double ReadScore(Config config, string key)
    {
        var raw = ReadRaw(config, key);
        if (!double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !double.IsFinite(value))
            throw new ConfigurationException(key, $"must be a number such as 20 or 12.5 (got '{raw}')");
        return value;
    }

    private static int ReadPositiveInt(Config config, string key)
    {
        var raw = ReadRaw(config, key);
        if (!int.TryParse(raw, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
            throw new ConfigurationException(key, $"must be a whole number (got '{raw}')");
        if (value < 1) throw new ConfigurationException(key, $"must be at least 1 (got {value})");
        return value;
    }

    private static TimeSpan ReadPositiveDuration(Config config, string key)
    {
        var raw = ReadRaw(config, key);
        TimeSpan value;
        try
        {
            value = config.GetTimeSpan(key, allowInfinite: false);
        }
        catch (Exception e) when (e is FormatException or OverflowException or ArgumentException)
        {
            throw new ConfigurationException(key, $"must be a duration such as 30s or 500ms (got '{raw}')", e);
        }
        if (value <= TimeSpan.Zero) throw new ConfigurationException(key, $"must be longer than 0 (got '{raw}')");
        return value;
    }

    private static string ReadRaw(Config config, string key)
    {
        if (!config.HasPath(key)) throw new ConfigurationException(key, "is missing");
        var value = config.GetValue(key);
        if (value.IsObject()) throw new ConfigurationException(key, "must be a single value, not a section { ... }");
        if (value.IsArray()) throw new ConfigurationException(key, "must be a single value, not a list [ ... ]");
        return (value.GetString() ?? "").Trim();
    }
}

/// <summary><c>mailscanner.scanners.clamd</c>.</summary>
public sealed record ClamdScannerSettings(bool Enabled, ScannerAddress Address, ScannerEngineSettings Engine);

/// <summary><c>mailscanner.scanners.spamd</c>; <paramref name="HighSpamScore"/> is MailScanner's "High SpamAssassin Score".</summary>
public sealed record SpamdScannerSettings(bool Enabled, ScannerAddress Address, ScannerEngineSettings Engine, double HighSpamScore);
