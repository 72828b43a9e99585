using System.Globalization;
using System.Text;
using Akka.Configuration;
using Akka.Configuration.Hocon;
using MailScanner.Actors.Identity;
using MailScanner.Actors.Journal;

using MailScanner.Actors.Policy;
using MailScanner.Actors.Queue;
using MailScanner.Actors.Scanning;
using MailScanner.Actors.Scanning.Rules;

namespace MailScanner.Actors.Configuration;

/// <summary>
/// Reads the gateway's configuration: the operator's HOCON file (optional) on top of the defaults embedded
/// from <c>hocon/mailscanner.conf</c>, validated and with every path made absolute. Every problem becomes a
/// <see cref="ConfigurationException"/> that names the key, so a bad configuration stops the gateway at
/// start-up with one clear line instead of surprising it at run time.
/// </summary>
public static class GatewaySettingsLoader
{
    public const string Root = "mailscanner";
    public const string DefaultsResourceName = "MailScanner.Actors.mailscanner.conf";

    private const string StateDirectoryKey = "mailscanner.state-directory";
    private const string FormatKey = "mailscanner.queue.format";
    private const string IncomingKey = "mailscanner.queue.incoming";
    private const string OutgoingKey = "mailscanner.queue.outgoing";
    private const string WorkKey = "mailscanner.queue.work";
    private const string BadKey = "mailscanner.queue.bad";
    private const string ScanIntervalKey = "mailscanner.queue.scan-interval";
    private const string MaxInFlightKey = "mailscanner.queue.max-in-flight";
    private const string QuarantineKey = "mailscanner.quarantine.directory";
    private const string CoordinatorsKey = "mailscanner.batch.coordinators";
    private const string MaxMessagesKey = "mailscanner.batch.max-messages";
    private const string MaxBytesKey = "mailscanner.batch.max-bytes";
    private const string MaxWaitKey = "mailscanner.batch.max-wait";
    private const string DeleteRepeatsKey = "mailscanner.batch.delete-repeats";
    private const string RetryBackoffMinKey = "mailscanner.queue.retry-backoff-min";
    private const string RetryBackoffMaxKey = "mailscanner.queue.retry-backoff-max";
    private const string JournalEnabledKey = "mailscanner.journal.enabled";
    private const string JournalSnapshotEveryKey = "mailscanner.journal.snapshot-every";
    private const string MaxProcessingAttemptsKey = "mailscanner.max-processing-attempts";
    private const string GracePeriodKey = "mailscanner.shutdown.grace-period";

    /// <summary>A stop that waits longer than this is almost certainly a typo (30m for 30s), and a supervisor kills it first.</summary>
    private static readonly TimeSpan MaxGracePeriod = TimeSpan.FromHours(1);

    /// <summary>
    /// Top-level sections an operator file may hold besides <c>mailscanner</c>: <c>akka</c> tunes the actor
    /// system. Anything else at the top is almost certainly a misspelt <c>mailscanner</c>.
    /// </summary>
    private static readonly string[] AllowedTopLevel = [Root, "akka"];

    /// <summary>Loads, merges and validates; relative paths (and <paramref name="configFile"/>) resolve against <paramref name="workingDirectory"/>.</summary>
    public static GatewaySettings Load(string? configFile, string workingDirectory)
    {
        var config = LoadConfig(configFile is null ? null : Path.GetFullPath(configFile, workingDirectory));
        return FromConfig(config, workingDirectory);
    }

    /// <summary>
    /// The merged HOCON: the operator file (if any) with fallback to the embedded defaults. The operator file
    /// is checked for syntax and for keys under <c>mailscanner</c> that the defaults do not know.
    /// A relative <paramref name="configFile"/> resolves against the current directory.
    /// </summary>
    public static Config LoadConfig(string? configFile)
    {
        var defaults = Defaults();
        if (configFile is null) return defaults;

        var path = Path.GetFullPath(configFile);
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            var why = e switch
            {
                FileNotFoundException or DirectoryNotFoundException => "configuration file not found",
                UnauthorizedAccessException => "configuration file is not readable (permission denied)",
                _ => $"configuration file cannot be read: {e.Message}",
            };
            throw new ConfigurationException(path, why, e);
        }

        var operatorConfig = Parse(text, path);
        CheckKnownKeys(operatorConfig, defaults);
        return operatorConfig.WithFallback(defaults);
    }

    /// <summary>The embedded defaults (identical to <c>hocon/mailscanner.conf</c>).</summary>
    public static Config Defaults()
    {
        using var stream = typeof(GatewaySettingsLoader).Assembly.GetManifestResourceStream(DefaultsResourceName)
            ?? throw new InvalidOperationException($"embedded resource {DefaultsResourceName} is missing from the build");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return Parse(reader.ReadToEnd(), DefaultsResourceName);
    }

    /// <summary>Reads and validates the <c>mailscanner</c> section of an already merged configuration.</summary>
    public static GatewaySettings FromConfig(Config config, string workingDirectory)
    {
        var queue = new QueueSettings(
            Format: ReadFormat(config),
            Incoming: ReadPath(config, IncomingKey, workingDirectory),
            Outgoing: ReadPath(config, OutgoingKey, workingDirectory),
            Work: ReadPath(config, WorkKey, workingDirectory),
            Bad: ReadPath(config, BadKey, workingDirectory),
            ScanInterval: ConfigValues.PositiveDuration(config, ScanIntervalKey),
            MaxInFlight: ConfigValues.PositiveInt(config, MaxInFlightKey),
            RetryBackoffMin: ConfigValues.PositiveDuration(config, RetryBackoffMinKey),
            RetryBackoffMax: ConfigValues.PositiveDuration(config, RetryBackoffMaxKey));
        if (queue.RetryBackoffMax < queue.RetryBackoffMin)
            throw new ConfigurationException(RetryBackoffMaxKey, $"must not be shorter than {RetryBackoffMinKey}");
        var quarantine = new QuarantineSettings(ReadPath(config, QuarantineKey, workingDirectory));
        var batch = new BatchSettings(
            Coordinators: ConfigValues.PositiveInt(config, CoordinatorsKey),
            MaxMessages: ConfigValues.PositiveInt(config, MaxMessagesKey),
            MaxBytes: ReadPositiveSize(config, MaxBytesKey),
            MaxWait: ConfigValues.PositiveDuration(config, MaxWaitKey),
            DeleteRepeats: ConfigValues.PositiveInt(config, DeleteRepeatsKey));
        var stateDirectory = ReadPath(config, StateDirectoryKey, workingDirectory);
        return new GatewaySettings(queue, quarantine, batch, stateDirectory)
        {
            Journal = JournalSettings.For(stateDirectory,
                enabled: ConfigValues.Boolean(config, JournalEnabledKey),
                maxProcessingAttempts: ConfigValues.PositiveInt(config, MaxProcessingAttemptsKey),
                snapshotEvery: ConfigValues.PositiveInt(config, JournalSnapshotEveryKey)),
            Shutdown = new ShutdownSettings(ReadGracePeriod(config)),
            Rules = RuleSettings.FromConfig(config),
            Scanners = ScannerSettings.FromConfig(config),
            Policy = Rulesets.FromConfig(config),
            ContentSections = RenderContentSections(config),
        };
    }

    /// <summary>
    /// Creates the directories that are missing (work, bad, quarantine and state owner-only, 0700: they hold
    /// mail or the record of it) and checks that work and bad share the incoming file system, because a
    /// message is claimed by renaming it there and a rename cannot cross file systems.
    /// </summary>
    public static void PrepareDirectories(GatewaySettings s)
    {
        if (!OperatingSystem.IsLinux())
            throw new PlatformNotSupportedException("the gateway identifies queue files with Linux system calls");
        const UnixFileMode ownerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

        // The MTA's directories first with the default mode, so that a parent created on the way to an
        // owner-only directory is never left owner-only where the MTA needs to reach through it.
        Create(IncomingKey, s.Queue.Incoming, mode: null);
        Create(OutgoingKey, s.Queue.Outgoing, mode: null);
        Create(WorkKey, s.Queue.Work, ownerOnly);
        Create(BadKey, s.Queue.Bad, ownerOnly);
        Create(QuarantineKey, s.Quarantine.Directory, ownerOnly);
        Create(StateDirectoryKey, s.StateDirectory, ownerOnly);

        var incomingDevice = NativeFile.DeviceOf(s.Queue.Incoming);
        foreach (var (key, path) in new[] { (WorkKey, s.Queue.Work), (BadKey, s.Queue.Bad) })
        {
            if (NativeFile.DeviceOf(path) != incomingDevice)
                throw new ConfigurationException(key,
                    $"{path} must be on the same file system as {IncomingKey} ({s.Queue.Incoming}) (claiming is a rename)");
        }

        static void Create(string key, string path, UnixFileMode? mode)
        {
            try
            {
                if (mode is { } m) Directory.CreateDirectory(path, m);
                else Directory.CreateDirectory(path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new ConfigurationException(key, $"cannot create directory {path}: {e.Message}", e);
            }
        }
    }

    /// <summary>The effective configuration as HOCON, with absolute paths: what <c>check-config</c> prints.</summary>
    public static string Describe(GatewaySettings s)
    {
        var b = new StringBuilder();
        b.AppendLine("mailscanner {");
        b.AppendLine($"  state-directory = {Quote(s.StateDirectory)}");
        b.AppendLine($"  max-processing-attempts = {s.Journal.MaxProcessingAttempts.ToString(CultureInfo.InvariantCulture)}");
        b.AppendLine("  journal {");
        b.AppendLine($"    enabled = {(s.Journal.Enabled ? "yes" : "no")}");
        b.AppendLine($"    snapshot-every = {s.Journal.SnapshotEvery.ToString(CultureInfo.InvariantCulture)}");
        b.AppendLine($"    # the database: {s.Journal.DatabasePath}");
        b.AppendLine("  }");
        b.AppendLine("  queue {");
        b.AppendLine($"    format = {s.Queue.Format}");
        b.AppendLine($"    incoming = {Quote(s.Queue.Incoming)}");
        b.AppendLine($"    outgoing = {Quote(s.Queue.Outgoing)}");
        b.AppendLine($"    work = {Quote(s.Queue.Work)}");
        b.AppendLine($"    bad = {Quote(s.Queue.Bad)}");
        b.AppendLine($"    scan-interval = {Duration(s.Queue.ScanInterval)}");
        b.AppendLine($"    max-in-flight = {s.Queue.MaxInFlight.ToString(CultureInfo.InvariantCulture)}");
        b.AppendLine($"    retry-backoff-min = {Duration(s.Queue.RetryBackoffMin)}");
        b.AppendLine($"    retry-backoff-max = {Duration(s.Queue.RetryBackoffMax)}");
        b.AppendLine("  }");
        b.AppendLine("  quarantine {");
        b.AppendLine($"    directory = {Quote(s.Quarantine.Directory)}");
        b.AppendLine("  }");
        b.AppendLine("  shutdown {");
        b.AppendLine($"    grace-period = {Duration(s.Shutdown.GracePeriod)}");
        b.AppendLine("  }");
        b.AppendLine("  batch {");
        b.AppendLine($"    coordinators = {s.Batch.Coordinators.ToString(CultureInfo.InvariantCulture)}");
        b.AppendLine($"    max-messages = {s.Batch.MaxMessages.ToString(CultureInfo.InvariantCulture)}");
        b.AppendLine($"    max-bytes = {Size(s.Batch.MaxBytes)}");
        b.AppendLine($"    max-wait = {Duration(s.Batch.MaxWait)}");
        b.AppendLine($"    delete-repeats = {s.Batch.DeleteRepeats.ToString(CultureInfo.InvariantCulture)}");
        b.AppendLine("  }");
        b.Append(s.ContentSections);
        b.AppendLine("}");
        return b.ToString();
    }

    private static readonly string[] ContentSectionNames = ["rules", "policy", "scanners"];

    private static string RenderContentSections(Config config)
    {
        var b = new StringBuilder();
        foreach (var name in ContentSectionNames)
        {
            var section = config.GetConfig($"mailscanner.{name}");
            if (section is null || section.IsEmpty) continue;
            b.Append($"  {name} ");
            RenderHocon(section.Root, b, "  ");
            b.AppendLine();
        }
        return b.ToString();
    }

    /// <summary>HOCON that reads back as the same values: every leaf quoted (HOCON reads "30s", "yes" and "5" as before).</summary>
    private static void RenderHocon(Akka.Configuration.Hocon.HoconValue value, StringBuilder b, string indent)
    {
        if (value.IsObject())
        {
            b.AppendLine("{");
            foreach (var (key, child) in value.GetObject().Items)
            {
                b.Append(indent).Append("  ").Append(Quote(key)).Append(" = ");
                RenderHocon(child, b, indent + "  ");
                b.AppendLine();
            }
            b.Append(indent).Append('}');
        }
        else if (value.IsArray() || value.Values.Any(element => element is Akka.Configuration.Hocon.HoconArray))
        {
            b.Append('[');
            var first = true;
            foreach (var item in value.GetArray())
            {
                if (!first) b.Append(", ");
                first = false;
                RenderHocon(item, b, indent + "  ");
            }
            b.Append(']');
        }
        else
        {
            b.Append(Quote(value.GetString() ?? ""));
        }
    }

    private static Config Parse(string text, string source)
    {
        CheckBalanced(text, source);
        try
        {
            return ConfigurationFactory.ParseString(text, include =>
                throw new ConfigurationException(source, $"include \"{include}\" is not supported; put the keys in this file"));
        }
        catch (ConfigurationException) { throw; }
        catch (Exception e)
        {
            throw new ConfigurationException(source, $"HOCON syntax error: {OneLine(e.Message)}", e);
        }
    }

    /// <summary>
    /// Akka's HOCON parser forgives an unclosed or extra brace, bracket or quote, which would silently move
    /// keys somewhere else; this catches that before parsing.
    /// </summary>
    private static void CheckBalanced(string text, string source)
    {
        var open = new Stack<(char Bracket, int Line)>();
        var line = 1;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '\n') { line++; continue; }
            if (c == '#' || (c == '/' && i + 1 < text.Length && text[i + 1] == '/'))
            {
                while (i + 1 < text.Length && text[i + 1] != '\n') i++;
                continue;
            }
            if (c == '"')
            {
                var start = line;
                var triple = i + 2 < text.Length && text[i + 1] == '"' && text[i + 2] == '"';
                if (triple)
                {
                    var end = text.IndexOf("\"\"\"", i + 3, StringComparison.Ordinal);
                    if (end < 0) throw Syntax(start, "unterminated \"\"\" string");
                    line += text.AsSpan(i, end - i).Count('\n');
                    i = end + 2;
                    continue;
                }
                i++;
                while (i < text.Length && text[i] != '"' && text[i] != '\n')
                {
                    if (text[i] == '\\') i++;
                    i++;
                }
                if (i >= text.Length || text[i] != '"') throw Syntax(start, "unterminated string");
                continue;
            }
            switch (c)
            {
                case '{' or '[':
                    open.Push((c, line));
                    break;
                case '}' or ']':
                    var expected = c == '}' ? '{' : '[';
                    if (open.Count == 0) throw Syntax(line, $"'{c}' without a matching '{expected}'");
                    var (bracket, at) = open.Pop();
                    if (bracket != expected) throw Syntax(line, $"'{c}' closes the '{bracket}' opened on line {at}");
                    break;
            }
        }
        if (open.Count > 0)
        {
            var (bracket, at) = open.Peek();
            throw Syntax(at, $"'{bracket}' is never closed");
        }

        ConfigurationException Syntax(int atLine, string what) =>
            new(source, $"HOCON syntax error on line {atLine}: {what}");
    }

    /// <summary>
    /// Every key under <c>mailscanner</c> in the operator file must exist in the defaults: a misspelt key would
    /// otherwise be ignored and its default silently used. A list (such as <c>mailscanner.policy.rulesets</c>, a
    /// list of sections) is not looked into: its entries have no counterpart in the defaults, so the reader of
    /// that key checks them (<see cref="Policy.Rulesets.FromConfig"/> rejects an unknown key inside a ruleset).
    /// </summary>
    private static void CheckKnownKeys(Config operatorConfig, Config defaults)
    {
        if (operatorConfig.IsEmpty) return;
        var top = operatorConfig.Root.GetObject();
        foreach (var (key, value) in top.Items)
        {
            if (!AllowedTopLevel.Contains(key))
                throw new ConfigurationException(key, $"unknown key (top-level sections are: {string.Join(", ", AllowedTopLevel)})");
            if (key == Root) Compare(Root, value, defaults.Root.GetObject().Items[Root]);
        }

        static void Compare(string path, HoconValue given, HoconValue known)
        {
            if (known.IsObject())
            {
                if (!given.IsObject())
                    throw new ConfigurationException(path, "must be a section { ... } of settings, not a single value");
                var knownItems = known.GetObject().Items;
                foreach (var (key, value) in given.GetObject().Items)
                {
                    var child = $"{path}.{key}";
                    if (!knownItems.TryGetValue(key, out var knownChild))
                        throw new ConfigurationException(child, "unknown key");
                    Compare(child, value, knownChild);
                }
                return;
            }
            if (given.IsObject())
                throw new ConfigurationException(path, "must be a single value, not a section { ... }");
            if (given.IsEmpty)
                throw new ConfigurationException(path, "has no value (HOCON syntax error?)");
        }
    }

    private static string ReadFormat(Config config)
    {
        var format = ConfigValues.Raw(config, FormatKey);
        if (format.Length == 0) throw new ConfigurationException(FormatKey, "must not be empty");
        if (!QueueFormats.IsKnown(format))
            throw new ConfigurationException(FormatKey, $"unknown format '{format}' (supported: {string.Join(", ", QueueFormats.Names)})");
        return format;
    }

    private static string ReadPath(Config config, string key, string workingDirectory)
    {
        var raw = ConfigValues.Raw(config, key);
        if (string.IsNullOrWhiteSpace(raw)) throw new ConfigurationException(key, "must not be empty");
        try
        {
            return Path.TrimEndingDirectorySeparator(Path.GetFullPath(raw, workingDirectory));
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            throw new ConfigurationException(key, $"is not a usable path ({e.Message})", e);
        }
    }

    private static TimeSpan ReadGracePeriod(Config config)
    {
        var grace = ConfigValues.PositiveDuration(config, GracePeriodKey);
        if (grace > MaxGracePeriod)
            throw new ConfigurationException(GracePeriodKey, $"must be at most {Duration(MaxGracePeriod)} (got '{ConfigValues.Raw(config, GracePeriodKey)}')");
        return grace;
    }

    private static long ReadPositiveSize(Config config, string key)
    {
        var raw = ConfigValues.Raw(config, key);
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

    private static string Quote(string s)
    {
        var b = new StringBuilder(s.Length + 2).Append('"');
        foreach (var c in s)
        {
            switch (c)
            {
                case '"': b.Append("\\\""); break;
                case '\\': b.Append("\\\\"); break;
                case '\n': b.Append("\\n"); break;
                case '\t': b.Append("\\t"); break;
                default: b.Append(c); break;
            }
        }
        return b.Append('"').ToString();
    }

    private static string Duration(TimeSpan t)
    {
        if (t.Ticks % TimeSpan.TicksPerSecond == 0) return $"{t.Ticks / TimeSpan.TicksPerSecond}s";
        if (t.Ticks % TimeSpan.TicksPerMillisecond == 0) return $"{t.Ticks / TimeSpan.TicksPerMillisecond}ms";
        return $"{t.Ticks * 100}ns";
    }

    private static string Size(long bytes)
    {
        if (bytes % (1L << 30) == 0) return $"{bytes >> 30}g";
        if (bytes % (1L << 20) == 0) return $"{bytes >> 20}m";
        if (bytes % (1L << 10) == 0) return $"{bytes >> 10}k";
        return bytes.ToString(CultureInfo.InvariantCulture);
    }

    private static string OneLine(string message) =>
        string.Join(' ', message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
}
