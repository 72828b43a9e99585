using System.Globalization;
using Akka.Configuration;
using Akka.Configuration.Hocon;
using MailScanner.Actors.Configuration;
using MailScanner.Actors.Scanning.Mime;
using ConfigurationException = MailScanner.Actors.Configuration.ConfigurationException;

namespace MailScanner.Actors.Scanning.Rules;

/// <summary>What to do with one kind of dangerous HTML (MailScanner: "Allow Script Tags = yes | no | disarm").</summary>
public enum HtmlTagAction
{
    /// <summary>Leave it in the HTML.</summary>
    Allow,
    /// <summary>Remove it when the message is cleaned (<see cref="HtmlDisarm"/>); not a finding.</summary>
    Disarm,
    /// <summary>A <see cref="VerdictKind.DangerousContent"/> finding (and removed too if the message is cleaned).</summary>
    Deny,
}

/// <summary>Filename rules (MailScanner's filename.rules.conf).</summary>
/// <param name="DenyExtensions">Lower-case extensions without the dot; a file whose last extension is listed is denied.</param>
/// <param name="Allow">Glob patterns (<c>*</c>, <c>?</c>, case-insensitive) of whole file names that the extension
/// rules never deny (control characters are still denied).</param>
/// <param name="DenyDoubleExtensions">Report <c>invoice.pdf.exe</c> as hiding its real extension (the file is denied either way).</param>
/// <param name="DenyControlCharacters">Deny names with control characters or bidirectional overrides (U+202E turns <c>txt.exe</c> into <c>exe.txt</c> on screen).</param>
public sealed record FilenameSettings(
    IReadOnlySet<string> DenyExtensions,
    IReadOnlyList<string> Allow,
    bool DenyDoubleExtensions,
    bool DenyControlCharacters);

/// <summary>Size rules (MailScanner: "Maximum Message Size", "Maximum Attachment Size", "Maximum Attachments Per Message"); 0 = no limit.</summary>
public sealed record SizeLimits(long MaxMessageBytes, long MaxAttachmentBytes, int MaxAttachments);

/// <summary>HTML rules: what happens to each kind of active content, and whether links are checked for phishing.</summary>
/// <param name="Script"><c>&lt;script&gt;</c>, <c>on*</c> event handlers, <c>javascript:</c> URLs.</param>
/// <param name="Iframe"><c>&lt;iframe&gt;</c>, <c>&lt;frame&gt;</c>, <c>&lt;frameset&gt;</c>.</param>
/// <param name="Object"><c>&lt;object&gt;</c>, <c>&lt;embed&gt;</c>, <c>&lt;applet&gt;</c>.</param>
/// <param name="Form"><c>&lt;form&gt;</c> (its content is kept, the form is not).</param>
/// <param name="PhishingNet">Report a link whose visible text names another host than the one it goes to.</param>
public sealed record HtmlSettings(HtmlTagAction Script, HtmlTagAction Iframe, HtmlTagAction Object, HtmlTagAction Form, bool PhishingNet)
{
    public static readonly HtmlSettings Default = new(HtmlTagAction.Disarm, HtmlTagAction.Disarm, HtmlTagAction.Disarm, HtmlTagAction.Disarm, true);
}

/// <summary>
/// Everything the built-in rules are configured with: the <c>mailscanner.rules</c> section of the HOCON
/// configuration (see <c>hocon/mailscanner.conf</c> for the meaning and defaults of each key).
/// </summary>
public sealed record RuleSettings(
    FilenameSettings Filenames,
    bool DenyExecutableFiletypes,
    AnalysisLimits Limits,
    bool AllowEncryptedArchives,
    SizeLimits Sizes,
    HtmlSettings Html)
{
    /// <summary>
    /// MailScanner's "Dangerous Content Scanning": when off, only the EICAR test string is looked for (in the raw
    /// message and its encoded parts); filename, filetype, archive, size and HTML rules are skipped.
    /// </summary>
    public bool Enabled { get; init; } = true;

    public const string Section = "mailscanner.rules";

    private static readonly Lazy<RuleSettings> Defaults = new(() => FromConfig(GatewaySettingsLoader.Defaults()));

    /// <summary>The shipped defaults, read from the embedded <c>hocon/mailscanner.conf</c>.</summary>
    public static RuleSettings Default => Defaults.Value;

    /// <summary>
    /// Reads <c>mailscanner.rules</c> from an already merged configuration (operator file over the defaults, as
    /// <see cref="GatewaySettingsLoader.LoadConfig"/> returns). Every bad or missing value is a
    /// <see cref="ConfigurationException"/> naming its key.
    /// </summary>
    public static RuleSettings FromConfig(Config config)
    {
        var filenames = new FilenameSettings(
            DenyExtensions: ReadExtensions(config, Key("filenames.deny-extensions")),
            Allow: ReadPatterns(config, Key("filenames.allow")),
            DenyDoubleExtensions: ConfigValues.Boolean(config, Key("filenames.deny-double-extensions")),
            DenyControlCharacters: ConfigValues.Boolean(config, Key("filenames.deny-control-characters")));
        var limits = new AnalysisLimits(
            MaxMimeParts: ReadInt(config, LimitKey("max-mime-parts"), min: 1),
            MaxMimeDepth: ReadInt(config, LimitKey("max-mime-depth"), min: 1, max: 200),
            MaxArchiveDepth: ReadInt(config, LimitKey("max-archive-depth"), min: 0, max: 50),
            MaxArchiveMembers: ReadInt(config, LimitKey("max-archive-members"), min: 1),
            MaxUnpackedBytes: ReadSize(config, LimitKey("max-unpacked-bytes"), min: 1),
            MaxCompressionRatio: ReadRatio(config, Key("archives.max-compression-ratio")))
        {
            UnpackMemory = ReadSize(config, LimitKey("unpack-memory"), min: 1024 * 1024),
        };
        if (limits.MaxUnpackedBytes > limits.UnpackMemory)
            throw new ConfigurationException(LimitKey("max-unpacked-bytes"),
                $"must not be larger than {LimitKey("unpack-memory")} ({limits.MaxUnpackedBytes} > {limits.UnpackMemory}): one message could never have it");
        var sizes = new SizeLimits(
            MaxMessageBytes: ReadSize(config, Key("sizes.max-message-bytes"), min: 0),
            MaxAttachmentBytes: ReadSize(config, Key("sizes.max-attachment-bytes"), min: 0),
            MaxAttachments: ReadInt(config, Key("sizes.max-attachments"), min: 0));
        var html = new HtmlSettings(
            Script: ReadAction(config, Key("html.script")),
            Iframe: ReadAction(config, Key("html.iframe")),
            Object: ReadAction(config, Key("html.object")),
            Form: ReadAction(config, Key("html.form")),
            PhishingNet: ConfigValues.Boolean(config, Key("html.phishing-net")));
        return new RuleSettings(filenames, ConfigValues.Boolean(config, Key("filetypes.deny-executables")), limits,
            ConfigValues.Boolean(config, Key("archives.allow-encrypted")), sizes, html)
        {
            Enabled = ConfigValues.Boolean(config, Key("enabled")),
        };
    }

    private static string Key(string relative) => $"{Section}.{relative}";

    /// <summary>The analysis limits have their own section: they bound the gateway, not one rule.</summary>
    public const string LimitsSection = "mailscanner.limits";

    private static string LimitKey(string relative) => $"{LimitsSection}.{relative}";

    private static HoconValue Value(Config config, string key)
    {
        if (!config.HasPath(key)) throw new ConfigurationException(key, "is missing");
        var value = config.GetValue(key);
        if (value.IsObject()) throw new ConfigurationException(key, "must not be a section { ... }");
        return value;
    }

    private static string ReadRaw(Config config, string key)
    {
        var value = Value(config, key);
        if (value.IsArray()) throw new ConfigurationException(key, "must be a single value, not a list [ ... ]");
        return (value.GetString() ?? "").Trim();
    }

    private static IReadOnlyList<string> ReadList(Config config, string key)
    {
        var value = Value(config, key);
        // An empty list [] is neither IsArray() nor IsString() to Akka's HOCON; a single word or string is IsString().
        if (value.IsString() && !value.IsArray()) throw new ConfigurationException(key, "must be a list [ ... ]");
        try
        {
            return config.GetStringList(key).Select(s => (s ?? "").Trim()).ToList();
        }
        catch (Exception e) when (e is InvalidOperationException or NotSupportedException or FormatException)
        {
            throw new ConfigurationException(key, "must be a list of words or quoted strings", e);
        }
    }

    private static IReadOnlySet<string> ReadExtensions(Config config, string key)
    {
        var set = new HashSet<string>(StringComparer.Ordinal);
        foreach (var raw in ReadList(config, key))
        {
            var ext = raw.TrimStart('.').ToLowerInvariant();
            if (ext.Length == 0 || !ext.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
                throw new ConfigurationException(key, $"'{raw}' is not a file extension (letters, digits, - and _ only, e.g. exe)");
            set.Add(ext);
        }
        return set;
    }

    private static IReadOnlyList<string> ReadPatterns(Config config, string key)
    {
        var patterns = ReadList(config, key);
        foreach (var p in patterns)
        {
            if (p.Length == 0) throw new ConfigurationException(key, "an empty pattern would match nothing; remove it");
            if (p.IndexOfAny(['/', '\\']) >= 0)
                throw new ConfigurationException(key, $"'{p}' must be a file name pattern without a path");
        }
        return patterns;
    }

    private static HtmlTagAction ReadAction(Config config, string key) => ReadRaw(config, key).ToLowerInvariant() switch
    {
        "allow" or "yes" => HtmlTagAction.Allow,
        "disarm" => HtmlTagAction.Disarm,
        "deny" or "no" => HtmlTagAction.Deny,
        var raw => throw new ConfigurationException(key, $"must be allow, disarm or deny (got '{raw}')"),
    };

    private static int ReadInt(Config config, string key, int min, int max = int.MaxValue)
    {
        var raw = ReadRaw(config, key);
        if (!int.TryParse(raw, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
            throw new ConfigurationException(key, $"must be a whole number (got '{raw}')");
        if (value < min || value > max)
            throw new ConfigurationException(key, max == int.MaxValue
                ? $"must be at least {min} (got {value})"
                : $"must be between {min} and {max} (got {value})");
        return value;
    }

    private static long ReadSize(Config config, string key, long min)
    {
        var raw = ReadRaw(config, key);
        long? value;
        try
        {
            value = config.GetByteSize(key);
        }
        catch (Exception e) when (e is FormatException or OverflowException or ArgumentException)
        {
            throw new ConfigurationException(key, $"must be a size such as 10m or 1048576 (got '{raw}')", e);
        }
        if (value is null || value < min)
            throw new ConfigurationException(key, $"must be a size of at least {min} bytes (got '{raw}')");
        return value.Value;
    }

    private static double ReadRatio(Config config, string key)
    {
        var raw = ReadRaw(config, key);
        if (!double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !double.IsFinite(value))
            throw new ConfigurationException(key, $"must be a number such as 100 (got '{raw}')");
        if (value < 1) throw new ConfigurationException(key, $"must be at least 1 (got {raw})");
        return value;
    }
}
