using Akka.Configuration;

namespace MailScanner.Actors.Configuration;

/// <summary>The lowest level written; Akka's own log level follows it.</summary>
public enum LogSeverity { Debug, Info, Warning, Error }

/// <summary>How an event is written: one readable line, or Serilog's compact JSON (one object per line) for a log shipper.</summary>
public enum LogFormat { Plain, Json }

/// <summary>When the log file starts a new file (besides reaching its size limit).</summary>
public enum LogRoll { Never, Hour, Day, Month }

/// <param name="Path">The current file; Serilog puts the date (and a sequence number) before the extension when it rolls.</param>
/// <param name="RetainedFiles">How many files are kept, the current one included; older ones are deleted.</param>
/// <param name="MaxSize">A file that reaches this size rolls early, so one busy day cannot fill the disk.</param>
public sealed record LogFileSettings(string Path, LogFormat Format, LogRoll Roll, int RetainedFiles, long MaxSize);

/// <summary>
/// Where the gateway's log goes, from <c>mailscanner.logging</c>: the console (what systemd's journal collects) and, if
/// asked, a rolling file. Every event keeps its values as structured properties (queue id, identity, outcome,
/// verdict), which the JSON format writes as fields.
/// </summary>
/// <param name="Console">Null: nothing on the console.</param>
/// <param name="File">Null: no log file.</param>
public sealed record LoggingSettings(LogSeverity Level, LogFormat? Console, LogFileSettings? File)
{
    public const string Section = "mailscanner.logging";
    public const string LevelKey = Section + ".level";
    public const string ConsoleEnabledKey = Section + ".console.enabled";
    public const string ConsoleFormatKey = Section + ".console.format";
    public const string FileEnabledKey = Section + ".file.enabled";
    public const string FilePathKey = Section + ".file.path";
    public const string FileFormatKey = Section + ".file.format";
    public const string FileRollKey = Section + ".file.roll";
    public const string FileRetainedFilesKey = Section + ".file.retained-files";
    public const string FileMaxSizeKey = Section + ".file.max-size";

    /// <summary>Readable lines on the console at info: what settings built in code get.</summary>
    public static LoggingSettings ConsoleOnly { get; } = new(LogSeverity.Info, LogFormat.Plain, null);

    public static LoggingSettings FromConfig(Config config, string workingDirectory)
    {
        ArgumentNullException.ThrowIfNull(config);
        var merged = config.WithFallback(GatewaySettingsLoader.Defaults());
        var level = ConfigValues.OneOf<LogSeverity>(merged, LevelKey);
        var console = ConfigValues.Boolean(merged, ConsoleEnabledKey) ? ConfigValues.OneOf<LogFormat>(merged, ConsoleFormatKey) : (LogFormat?)null;
        var file = ConfigValues.Boolean(merged, FileEnabledKey)
            ? new LogFileSettings(
                ConfigValues.Path(merged, FilePathKey, workingDirectory),
                ConfigValues.OneOf<LogFormat>(merged, FileFormatKey),
                ConfigValues.OneOf<LogRoll>(merged, FileRollKey),
                ConfigValues.PositiveInt(merged, FileRetainedFilesKey),
                ConfigValues.PositiveSize(merged, FileMaxSizeKey))
            : null;
        return new LoggingSettings(level, console, file);
    }

    /// <summary>Akka's spelling of <see cref="Level"/>, for <c>akka.loglevel</c>.</summary>
    public string AkkaLogLevel => Level.ToString().ToUpperInvariant();
}
