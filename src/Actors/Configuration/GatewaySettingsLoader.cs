using System.Text;
using Akka.Configuration;
using MailScanner.Actors.Cluster;
using MailScanner.Actors.Identity;
using MailScanner.Actors.Journal;
using MailScanner.Actors.Metrics;

using MailScanner.Actors.Policy;
using MailScanner.Actors.Queue;
using MailScanner.Actors.Queue.Postfix;
using MailScanner.Actors.Scanning;
using MailScanner.Actors.Scanning.Rules;

namespace MailScanner.Actors.Configuration;

/// <summary>
/// Reads the gateway's configuration: the operator's HOCON file (optional) on top of the defaults embedded
/// from <c>hocon/mailscanner.conf</c>, validated and with every path made absolute. Every problem becomes a
/// <see cref="ConfigurationException"/> that names the key, so a bad configuration stops the gateway at
/// start-up with one clear line instead of surprising it at run time.
/// </summary>
/// <remarks>
/// Beside it: <see cref="StrictHoconParser"/> (HOCON text to <see cref="Config"/>, refusing what Akka's parser forgives),
/// <see cref="UnknownKeyCheck"/> (no key the defaults do not know) and <see cref="EffectiveSettingsRenderer"/> (what
/// <c>check-config</c> prints).
/// </remarks>
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
    private const string GracePeriodKey = "mailscanner.shutdown.grace-period";

    /// <summary>A stop that waits longer than this is almost certainly a typo (30m for 30s), and a supervisor kills it first.</summary>
    private static readonly TimeSpan MaxGracePeriod = TimeSpan.FromHours(1);

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

        var operatorConfig = StrictHoconParser.Parse(text, path);
        UnknownKeyCheck.Check(operatorConfig, defaults);
        return operatorConfig.WithFallback(defaults);
    }

    /// <summary>The embedded defaults (identical to <c>hocon/mailscanner.conf</c>).</summary>
    public static Config Defaults()
    {
        using var stream = typeof(GatewaySettingsLoader).Assembly.GetManifestResourceStream(DefaultsResourceName)
            ?? throw new InvalidOperationException($"embedded resource {DefaultsResourceName} is missing from the build");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return StrictHoconParser.Parse(reader.ReadToEnd(), DefaultsResourceName);
    }

    /// <summary>Reads and validates the <c>mailscanner</c> section of an already merged configuration.</summary>
    public static GatewaySettings FromConfig(Config config, string workingDirectory)
    {
        var queue = new QueueSettings(
            Format: ReadFormat(config),
            Incoming: ConfigValues.Path(config, IncomingKey, workingDirectory),
            Outgoing: ConfigValues.Path(config, OutgoingKey, workingDirectory),
            Work: ConfigValues.Path(config, WorkKey, workingDirectory),
            Bad: ConfigValues.Path(config, BadKey, workingDirectory),
            ScanInterval: ConfigValues.PositiveDuration(config, ScanIntervalKey),
            MaxInFlight: ConfigValues.PositiveInt(config, MaxInFlightKey),
            RetryBackoffMin: ConfigValues.PositiveDuration(config, RetryBackoffMinKey),
            RetryBackoffMax: ConfigValues.PositiveDuration(config, RetryBackoffMaxKey));
        if (queue.RetryBackoffMax < queue.RetryBackoffMin)
            throw new ConfigurationException(RetryBackoffMaxKey, $"must not be shorter than {RetryBackoffMinKey}");
        queue = queue with { Postfix = PostfixQueueOptions.FromConfig(config), Exim = Queue.Exim.EximQueueOptions.FromConfig(config),
            Sendmail = Queue.Sendmail.SendmailQueueOptions.FromConfig(config) };
        if (queue.Format == PostfixFormat.FormatName &&
            Path.GetDirectoryName(Path.TrimEndingDirectorySeparator(queue.Incoming)) != Path.GetDirectoryName(Path.TrimEndingDirectorySeparator(queue.Outgoing)))
            throw new ConfigurationException(OutgoingKey,
                $"with format = postfix, incoming ({queue.Incoming}, Postfix's hold/) and outgoing ({queue.Outgoing}, its incoming/) must be in the same Postfix queue directory");
        var quarantine = new QuarantineSettings(ConfigValues.Path(config, QuarantineKey, workingDirectory));
        var batch = new BatchSettings(
            Coordinators: ConfigValues.PositiveInt(config, CoordinatorsKey),
            MaxMessages: ConfigValues.PositiveInt(config, MaxMessagesKey),
            MaxBytes: ConfigValues.PositiveSize(config, MaxBytesKey),
            MaxWait: ConfigValues.PositiveDuration(config, MaxWaitKey),
            DeleteRepeats: ConfigValues.PositiveInt(config, DeleteRepeatsKey));
        var stateDirectory = ConfigValues.Path(config, StateDirectoryKey, workingDirectory);
        var journal = JournalSettings.FromConfig(config, stateDirectory);
        var cluster = ClusterSettings.FromConfig(config);
        if (cluster.Enabled) RequireSharedJournal(journal);
        return new GatewaySettings(queue, quarantine, batch, stateDirectory)
        {
            Journal = journal,
            Cluster = cluster,
            Shutdown = new ShutdownSettings(ReadGracePeriod(config)),
            Rules = RuleSettings.FromConfig(config),
            Scanners = ScannerSettings.FromConfig(config),
            Policy = Rulesets.FromConfig(config),
            Metrics = MetricsSettings.FromConfig(config),
            Logging = LoggingSettings.FromConfig(config, workingDirectory),
            ContentSections = EffectiveSettingsRenderer.RenderContentSections(config),
        };
    }

    /// <summary>The effective configuration as HOCON, with absolute paths: what <c>check-config</c> prints.</summary>
    public static string Describe(GatewaySettings s) => EffectiveSettingsRenderer.Render(s);

    /// <summary>
    /// Creates the directories that are missing (work, bad, quarantine and state owner-only, 0700: they hold
    /// mail or the record of it) and checks that work and bad share the incoming file system, because a
    /// message is claimed by renaming it there and a rename cannot cross file systems. Clustered, it also names the
    /// shared queue's file system by its id (<see cref="SharedQueueVolume"/>).
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

        // Clustered, files are named by the shared queue's own id rather than this machine's device number.
        if (s.Cluster.Enabled) SharedQueueVolume.Establish(s.Queue.Work);

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

    /// <summary>Nodes of one cluster take over each other's messages: what was done to them must be in one journal they all share.</summary>
    private static void RequireSharedJournal(JournalSettings journal)
    {
        if (!journal.Enabled)
            throw new ConfigurationException("mailscanner.journal.enabled",
                $"must be yes when {ClusterSettings.EnabledKey} = yes: a node that takes over another's messages resumes them from the journal");
        if (journal.Provider != JournalProvider.PostgreSql)
            throw new ConfigurationException("mailscanner.journal.provider",
                $"must be postgresql when {ClusterSettings.EnabledKey} = yes: every node must share one journal (got {JournalSettings.ProviderName(journal.Provider)})");
    }

    private static string ReadFormat(Config config)
    {
        var format = ConfigValues.Raw(config, FormatKey);
        if (format.Length == 0) throw new ConfigurationException(FormatKey, "must not be empty");
        if (!QueueFormats.IsKnown(format))
            throw new ConfigurationException(FormatKey, $"unknown format '{format}' (supported: {string.Join(", ", QueueFormats.Names)})");
        return format;
    }


    private static TimeSpan ReadGracePeriod(Config config)
    {
        var grace = ConfigValues.PositiveDuration(config, GracePeriodKey);
        if (grace > MaxGracePeriod)
            throw new ConfigurationException(GracePeriodKey, $"must be at most {EffectiveSettingsRenderer.Duration(MaxGracePeriod)} (got '{ConfigValues.Raw(config, GracePeriodKey)}')");
        return grace;
    }
}
