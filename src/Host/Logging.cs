using System.Globalization;
using MailScanner.Actors.Configuration;
using Serilog;
using Serilog.Events;
using Serilog.Formatting.Compact;

namespace MailScanner.Actors.Host;

/// <summary>
/// Serilog as <c>mailscanner.logging</c> asks: the console and a rolling file, each plain (one readable line per event)
/// or compact JSON (every value of the event a field). Values stay structured properties either way.
/// </summary>
internal static class Logging
{
    private const string Template = "{Timestamp:yyyy-MM-dd HH:mm:ss.fff} [{Level:u3}] {Message:lj}{NewLine}{Exception}";

    public static ILogger CreateLogger(LoggingSettings settings)
    {
        var logger = new LoggerConfiguration()
            .MinimumLevel.Is(LevelOf(settings.Level))
            .MinimumLevel.Override("Microsoft", LogEventLevel.Warning)
            .Enrich.FromLogContext();
        if (settings.Console is { } console)
        {
            logger = console == LogFormat.Json
                ? logger.WriteTo.Console(new CompactJsonFormatter())
                : logger.WriteTo.Console(outputTemplate: Template, formatProvider: CultureInfo.InvariantCulture);
        }
        if (settings.File is { } file)
        {
            CreateDirectoryFor(file.Path);
            logger = file.Format == LogFormat.Json
                ? logger.WriteTo.File(new CompactJsonFormatter(), file.Path, rollingInterval: IntervalOf(file.Roll),
                    fileSizeLimitBytes: file.MaxSize, rollOnFileSizeLimit: true, retainedFileCountLimit: file.RetainedFiles)
                : logger.WriteTo.File(file.Path, outputTemplate: Template, formatProvider: CultureInfo.InvariantCulture,
                    rollingInterval: IntervalOf(file.Roll), fileSizeLimitBytes: file.MaxSize, rollOnFileSizeLimit: true,
                    retainedFileCountLimit: file.RetainedFiles);
        }
        return logger.CreateLogger();
    }

    /// <summary>A log file that cannot be created is a configuration error at start-up, not a silent loss of the log.</summary>
    private static void CreateDirectoryFor(string path)
    {
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            using (File.Open(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite)) { }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ConfigurationException(LoggingSettings.FilePathKey, $"cannot write the log file {path}: {e.Message}", e);
        }
    }

    private static LogEventLevel LevelOf(LogSeverity level) => level switch
    {
        LogSeverity.Debug => LogEventLevel.Debug,
        LogSeverity.Warning => LogEventLevel.Warning,
        LogSeverity.Error => LogEventLevel.Error,
        _ => LogEventLevel.Information,
    };

    private static RollingInterval IntervalOf(LogRoll roll) => roll switch
    {
        LogRoll.Never => RollingInterval.Infinite,
        LogRoll.Hour => RollingInterval.Hour,
        LogRoll.Month => RollingInterval.Month,
        _ => RollingInterval.Day,
    };
}
