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
                Enabled: ConfigValues.Boolean(merged, $"{clamd}.enabled"),
                Address: ReadAddress(merged, $"{clamd}.address"),
                Engine: ReadEngine(merged, clamd))
            {
                MaxSize = ConfigValues.PositiveSize(merged, $"{clamd}.max-size"),
            },
            new SpamdScannerSettings(
                Enabled: ConfigValues.Boolean(merged, $"{spamd}.enabled"),
                Address: ReadAddress(merged, $"{spamd}.address"),
                Engine: ReadEngine(merged, spamd),
                HighSpamScore: ReadScore(merged, $"{spamd}.high-spam-score"))
            {
                MaxSize = ConfigValues.PositiveSize(merged, $"{spamd}.max-size"),
            });
    }

    private static ScannerEngineSettings ReadEngine(Config config, string path)
    {
        var minKey = $"{path}.probe-backoff-min";
        var maxKey = $"{path}.probe-backoff-max";
        var min = ConfigValues.PositiveDuration(config, minKey);
        var max = ConfigValues.PositiveDuration(config, maxKey);
        if (max < min) throw new ConfigurationException(maxKey, $"must not be shorter than {minKey}");
        return new ScannerEngineSettings(
            Timeout: ConfigValues.PositiveDuration(config, $"{path}.timeout"),
            MaxConcurrent: ConfigValues.PositiveInt(config, $"{path}.max-concurrent"),
            UnhealthyAfterFailures: ConfigValues.PositiveInt(config, $"{path}.unhealthy-after-failures"),
            ProbeMinBackoff: min,
            ProbeMaxBackoff: max);
    }

    private static ScannerAddress ReadAddress(Config config, string key) =>
        ScannerAddress.TryParse(ConfigValues.Raw(config, key), out var address, out var problem)
            ? address
            : throw new ConfigurationException(key, problem);


    private static double ReadScore(Config config, string key)
    {
        var raw = ConfigValues.Raw(config, key);
        if (!double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !double.IsFinite(value))
            throw new ConfigurationException(key, $"must be a number such as 20 or 12.5 (got '{raw}')");
        return value;
    }

}

/// <summary><c>mailscanner.scanners.clamd</c>.</summary>
public sealed record ClamdScannerSettings(bool Enabled, ScannerAddress Address, ScannerEngineSettings Engine)
{
    /// <summary>clamd's StreamMaxLength: a larger message is scanned part by part, and a larger part is not scanned (a finding).</summary>
    public long MaxSize { get; init; } = ClamdBackend.DefaultMaxSize;
}

/// <summary><c>mailscanner.scanners.spamd</c>; <paramref name="HighSpamScore"/> is MailScanner's "High SpamAssassin Score".</summary>
public sealed record SpamdScannerSettings(bool Enabled, ScannerAddress Address, ScannerEngineSettings Engine, double HighSpamScore)
{
    /// <summary>A larger message is scored on its first this many bytes (cut at a line end), as spamc and MailScanner do.</summary>
    public long MaxSize { get; init; } = SpamdBackend.DefaultMaxSize;
}
