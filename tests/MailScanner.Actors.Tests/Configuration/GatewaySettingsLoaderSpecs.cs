using MailScanner.Actors.Configuration;
using MailScanner.Actors.Identity;
using MailScanner.Actors.Tests.TestSupport;
using Xunit;

namespace MailScanner.Actors.Tests.Configuration;

public sealed class GatewaySettingsLoaderSpecs : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("mailscanner-config-");
    private readonly List<string> _alsoDelete = [];

    public void Dispose()
    {
        foreach (var path in _alsoDelete.Append(_dir.FullName))
            if (Directory.Exists(path)) Directory.Delete(path, recursive: true);
    }

    private string Cwd => _dir.FullName;

    private string WriteConfig(string hocon, string name = "operator.conf")
    {
        var path = Path.Combine(Cwd, name);
        File.WriteAllText(path, hocon);
        return path;
    }

    private ConfigurationException LoadFails(string hocon) =>
        Assert.Throws<ConfigurationException>(() => GatewaySettingsLoader.Load(WriteConfig(hocon), Cwd));

    [Fact]
    public void Should_load_the_embedded_defaults_resolved_against_the_working_directory()
    {
        var s = GatewaySettingsLoader.Load(null, Cwd);

        Assert.Equal("zmailer", s.Queue.Format);
        Assert.Equal(Path.Combine(Cwd, "var/spool/router"), s.Queue.Incoming);
        Assert.Equal(Path.Combine(Cwd, "var/spool/outgoing"), s.Queue.Outgoing);
        Assert.Equal(Path.Combine(Cwd, "var/spool/work"), s.Queue.Work);
        Assert.Equal(Path.Combine(Cwd, "var/spool/bad"), s.Queue.Bad);
        Assert.Equal(Path.Combine(Cwd, "var/spool/quarantine"), s.Quarantine.Directory);
        Assert.Equal(Path.Combine(Cwd, "var/lib"), s.StateDirectory);
        Assert.Equal(TimeSpan.FromSeconds(1), s.Queue.ScanInterval);
        Assert.Equal(2000, s.Queue.MaxInFlight);
        Assert.Equal(new BatchSettings(5, 30, 50L * 1024 * 1024, TimeSpan.FromMilliseconds(20), 1), s.Batch);
        Assert.Equal(new ShutdownSettings(TimeSpan.FromSeconds(30)), s.Shutdown);
    }

    [Fact]
    public void Should_read_the_grace_period_and_describe_it_so_that_it_loads_back()
    {
        var s = GatewaySettingsLoader.Load(WriteConfig("mailscanner.shutdown.grace-period = 90s"), Cwd);

        Assert.Equal(TimeSpan.FromSeconds(90), s.Shutdown.GracePeriod);
        Assert.Contains("grace-period = 90s", GatewaySettingsLoader.Describe(s));
        Assert.Equal(s, GatewaySettingsLoader.Load(WriteConfig(GatewaySettingsLoader.Describe(s), "described.conf"), "/"));
    }

    [Fact]
    public void Should_describe_each_MTAs_own_keys_so_that_they_load_back()
    {
        var s = GatewaySettingsLoader.Load(WriteConfig("""
            mailscanner.queue.format = exim
            mailscanner.queue.postfix { long-queue-ids = yes, hash-queue-names = "incoming, deferred", hash-queue-depth = 2, mail-owner = pfx }
            mailscanner.queue.exim { split-spool-directory = yes, user = mailnull, deliver-command = "/usr/sbin/exim4 -odb" }
            mailscanner.queue.sendmail { user = smmsp, deliver-command = "/usr/sbin/sendmail -odb" }
            """), Cwd);

        var described = GatewaySettingsLoader.Describe(s);
        Assert.Contains("deliver-command = \"/usr/sbin/exim4 -odb\"", described);
        var loaded = GatewaySettingsLoader.Load(WriteConfig(described, "described.conf"), "/").Queue;

        Assert.Equal(s.Queue.Postfix, loaded.Postfix);
        Assert.Equal((s.Queue.Exim.SplitSpoolDirectory, s.Queue.Exim.User, string.Join(' ', s.Queue.Exim.DeliverCommand)),
            (loaded.Exim.SplitSpoolDirectory, loaded.Exim.User, string.Join(' ', loaded.Exim.DeliverCommand)));
        Assert.Equal((s.Queue.Sendmail.User, string.Join(' ', s.Queue.Sendmail.DeliverCommand)), (loaded.Sendmail.User, string.Join(' ', loaded.Sendmail.DeliverCommand)));
        Assert.Equal((true, "incoming, deferred", 2, "pfx"), (loaded.Postfix.LongQueueIds, loaded.Postfix.HashQueueNames, loaded.Postfix.HashQueueDepth, loaded.Postfix.MailOwner));
        Assert.Equal(["/usr/sbin/exim4", "-odb"], loaded.Exim.DeliverCommand);
    }

    [Fact]
    public void Should_embed_exactly_the_shipped_hocon_file()
    {
        var repo = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(repo, "MailScanner.Actors.sln"))) repo = Path.GetDirectoryName(repo)!;
        var shipped = GatewaySettingsLoader.Load(Path.Combine(repo, "hocon/mailscanner.conf"), Cwd);

        Assert.Equal(GatewaySettingsLoader.Load(null, Cwd), shipped);
    }

    [Fact]
    public void Should_override_only_the_keys_of_a_partial_operator_file()
    {
        var file = WriteConfig("""
            mailscanner.queue.incoming = "/srv/zmailer/router"
            mailscanner.batch { coordinators = 2 }
            """);

        var s = GatewaySettingsLoader.Load(file, Cwd);

        Assert.Equal("/srv/zmailer/router", s.Queue.Incoming);
        Assert.Equal(2, s.Batch.Coordinators);
        Assert.Equal(Path.Combine(Cwd, "var/spool/outgoing"), s.Queue.Outgoing);
        Assert.Equal(Path.Combine(Cwd, "var/spool/quarantine"), s.Quarantine.Directory);
        Assert.Equal(30, s.Batch.MaxMessages);
        Assert.Equal(TimeSpan.FromMilliseconds(20), s.Batch.MaxWait);
    }

    [Theory]
    [InlineData("")]
    [InlineData("# only a comment: every default stays\n// and another\n")]
    public void Should_treat_an_operator_file_without_keys_as_the_defaults(string hocon)
    {
        Assert.Equal(GatewaySettingsLoader.Load(null, Cwd), GatewaySettingsLoader.Load(WriteConfig(hocon), Cwd));
    }

    [Fact]
    public void Should_resolve_a_relative_config_file_against_the_working_directory()
    {
        WriteConfig("mailscanner.state-directory = state", "relative.conf");

        var s = GatewaySettingsLoader.Load("relative.conf", Cwd);

        Assert.Equal(Path.Combine(Cwd, "state"), s.StateDirectory);
    }

    [Fact]
    public void Should_accept_an_akka_section_for_tuning_the_actor_system()
    {
        var file = WriteConfig("akka.loglevel = DEBUG");

        Assert.Equal("DEBUG", GatewaySettingsLoader.LoadConfig(file).GetString("akka.loglevel"));
        Assert.Equal(5, GatewaySettingsLoader.Load(file, Cwd).Batch.Coordinators);
    }

    [Theory]
    [InlineData("mailscanner.batch.coordinators = 0", "mailscanner.batch.coordinators", "must be at least 1 (got 0)")]
    [InlineData("mailscanner.batch.max-messages = -3", "mailscanner.batch.max-messages", "must be at least 1 (got -3)")]
    [InlineData("mailscanner.batch.delete-repeats = 0", "mailscanner.batch.delete-repeats", "must be at least 1")]
    [InlineData("mailscanner.batch.coordinators = many", "mailscanner.batch.coordinators", "must be a whole number")]
    [InlineData("mailscanner.queue.max-in-flight = 0", "mailscanner.queue.max-in-flight", "must be at least 1")]
    [InlineData("mailscanner.batch.max-bytes = 0", "mailscanner.batch.max-bytes", "must be at least 1 byte")]
    [InlineData("mailscanner.batch.max-bytes = 5q", "mailscanner.batch.max-bytes", "must be a size")]
    [InlineData("mailscanner.batch.max-wait = 0ms", "mailscanner.batch.max-wait", "must be longer than 0")]
    [InlineData("mailscanner.queue.scan-interval = -1s", "mailscanner.queue.scan-interval", "must be a duration")]
    [InlineData("mailscanner.queue.format = qmail", "mailscanner.queue.format", "unknown format 'qmail'")]
    [InlineData("mailscanner.queue.incoming = \"\"", "mailscanner.queue.incoming", "must not be empty")]
    [InlineData("mailscanner.queue.outgoing = \"  \"", "mailscanner.queue.outgoing", "must not be empty")]
    [InlineData("mailscanner.quarantine.directory = \"\"", "mailscanner.quarantine.directory", "must not be empty")]
    [InlineData("mailscanner.state-directory = \"\"", "mailscanner.state-directory", "must not be empty")]
    [InlineData("mailscanner.queue.work = [a, b]", "mailscanner.queue.work", "not a list")]
    [InlineData("mailscanner.queue = router", "mailscanner.queue", "must be a section")]
    [InlineData("mailscanner.queue.bad { x = 1 }", "mailscanner.queue.bad", "must be a single value, not a section")]
    [InlineData("mailscanner.shutdown.grace-period = 0s", "mailscanner.shutdown.grace-period", "must be longer than 0")]
    [InlineData("mailscanner.shutdown.grace-period = soon", "mailscanner.shutdown.grace-period", "must be a duration")]
    [InlineData("mailscanner.shutdown.grace-period = 2h", "mailscanner.shutdown.grace-period", "must be at most 3600s (got '2h')")]
    [InlineData("mailscanner.logging.level = loud", "mailscanner.logging.level", "must be one of debug, info, warning, error (got 'loud')")]
    [InlineData("mailscanner.logging.console.format = xml", "mailscanner.logging.console.format", "must be one of plain, json (got 'xml')")]
    [InlineData("mailscanner.logging.file { enabled = yes, roll = weekly }", "mailscanner.logging.file.roll", "must be one of never, hour, day, month")]
    [InlineData("mailscanner.logging.file { enabled = yes, max-size = 0 }", "mailscanner.logging.file.max-size", "must be at least 1 byte")]
    [InlineData("mailscanner.logging.file { enabled = yes, path = \"\" }", "mailscanner.logging.file.path", "must not be empty")]
    public void Should_name_the_key_of_each_invalid_value(string hocon, string key, string problem)
    {
        var e = LoadFails(hocon);

        Assert.Equal(key, e.Key);
        Assert.Contains(problem, e.Problem);
        Assert.StartsWith($"{key}: ", e.Message);
    }

    [Fact]
    public void Should_say_key_and_problem_in_one_message()
    {
        var e = LoadFails("mailscanner.batch.coordinators = 0");

        Assert.Equal("mailscanner.batch.coordinators: must be at least 1 (got 0)", e.Message);
    }

    [Fact]
    public void Should_reject_the_first_unknown_key_under_mailscanner()
    {
        var e = LoadFails("""
            mailscanner {
              queue { incomming = "/srv/router", outgoin = "/srv/out" }
            }
            """);

        Assert.Equal("mailscanner.queue.incomming", e.Key);
        Assert.Equal("unknown key", e.Problem);
    }

    [Fact]
    public void Should_reject_a_misspelt_top_level_section()
    {
        var e = LoadFails("mailscaner.batch.coordinators = 3");

        Assert.Equal("mailscaner", e.Key);
        Assert.Contains("unknown key", e.Problem);
    }

    [Fact]
    public void Should_name_a_missing_config_file_by_its_path()
    {
        var missing = Path.Combine(Cwd, "nowhere.conf");

        var e = Assert.Throws<ConfigurationException>(() => GatewaySettingsLoader.Load(missing, Cwd));

        Assert.Equal(missing, e.Key);
        Assert.Contains("not found", e.Problem);
    }

    [Theory]
    [InlineData("mailscanner { batch { coordinators = 3 }", "never closed")]
    [InlineData("mailscanner.batch.coordinators = 3 }", "without a matching")]
    [InlineData("mailscanner.queue.incoming = \"/srv/router", "unterminated string")]
    [InlineData("@@@", "HOCON syntax error")]
    [InlineData("include \"other.conf\"", "include")]
    public void Should_report_a_syntax_error_with_the_file_name(string hocon, string problem)
    {
        var file = WriteConfig(hocon, "broken.conf");

        var e = Assert.Throws<ConfigurationException>(() => GatewaySettingsLoader.Load(file, Cwd));

        Assert.Equal(file, e.Key);
        Assert.Contains(problem, e.Problem);
    }

    [Fact]
    public void Should_read_the_logging_section_with_the_log_file_resolved_against_the_working_directory()
    {
        var s = GatewaySettingsLoader.Load(WriteConfig("""
            mailscanner.logging {
              level = debug
              console.format = json
              file { enabled = yes, path = "log/gateway.log", format = json, roll = hour, retained-files = 48, max-size = 10m }
            }
            """), Cwd);

        Assert.Equal(new LoggingSettings(LogSeverity.Debug, LogFormat.Json,
            new LogFileSettings(Path.Combine(Cwd, "log/gateway.log"), LogFormat.Json, LogRoll.Hour, 48, 10 * 1024 * 1024)), s.Logging);
        Assert.Equal("DEBUG", s.Logging.AkkaLogLevel);
        Assert.Equal(s, GatewaySettingsLoader.Load(WriteConfig(GatewaySettingsLoader.Describe(s), "described.conf"), "/"));
    }

    [Fact]
    public void Should_log_readable_lines_to_the_console_only_by_default()
    {
        var s = GatewaySettingsLoader.Load(null, Cwd);

        Assert.Equal(new LoggingSettings(LogSeverity.Info, LogFormat.Plain, null), s.Logging);
    }

    [Fact]
    public void Should_describe_the_effective_configuration_as_hocon_that_loads_back_identically()
    {
        var s = GatewaySettingsLoader.Load(WriteConfig("mailscanner.batch { max-bytes = 1000, max-wait = 1500ms }"), Cwd);

        var description = GatewaySettingsLoader.Describe(s);
        var reloaded = GatewaySettingsLoader.Load(WriteConfig(description, "described.conf"), "/");

        Assert.Contains($"incoming = \"{Path.Combine(Cwd, "var/spool/router")}\"", description);
        Assert.Equal(s, reloaded);
    }

    [Fact]
    public void Should_create_missing_directories_with_owner_only_where_mail_is_kept()
    {
        if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException("queue directories are Linux-only");
        var s = GatewaySettingsLoader.Load(null, Cwd);

        GatewaySettingsLoader.PrepareDirectories(s);
        GatewaySettingsLoader.PrepareDirectories(s); // idempotent

        const UnixFileMode ownerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        foreach (var dir in new[] { s.Queue.Incoming, s.Queue.Outgoing })
            Assert.True(Directory.Exists(dir), dir);
        foreach (var dir in new[] { s.Queue.Work, s.Queue.Bad, s.Quarantine.Directory, s.StateDirectory })
            Assert.Equal(ownerOnly, File.GetUnixFileMode(dir));
    }

    [Fact]
    public void Should_not_touch_the_disk_while_only_loading()
    {
        GatewaySettingsLoader.Load(null, Cwd);

        Assert.False(Directory.Exists(Path.Combine(Cwd, "var")));
    }

    [Theory]
    [InlineData("work", "mailscanner.queue.work")]
    [InlineData("bad", "mailscanner.queue.bad")]
    public void Should_refuse_a_claim_directory_on_another_file_system_than_incoming(string which, string key)
    {
        // A tmpfs is another file system than the one the working directory is on: a rename between them fails with EXDEV.
        var elsewhere = Path.Combine(TempDirectory.On(TempDirectory.Tmpfs), $"mailscanner-{which}-{Guid.NewGuid():N}");
        _alsoDelete.Add(elsewhere);
        Directory.CreateDirectory(elsewhere);
        Assert.NotEqual(NativeFile.DeviceOf(Cwd), NativeFile.DeviceOf(elsewhere)); // precondition of this machine

        var s = GatewaySettingsLoader.Load(WriteConfig($"mailscanner.queue.{which} = \"{elsewhere}\""), Cwd);
        var e = Assert.Throws<ConfigurationException>(() => GatewaySettingsLoader.PrepareDirectories(s));

        Assert.Equal(key, e.Key);
        Assert.Contains("must be on the same file system as mailscanner.queue.incoming", e.Problem);
        Assert.Contains("claiming is a rename", e.Problem);
    }

    [Fact]
    public void Should_name_the_key_of_a_directory_that_cannot_be_created()
    {
        File.WriteAllText(Path.Combine(Cwd, "occupied"), "a file, not a directory");
        var s = GatewaySettingsLoader.Load(WriteConfig("mailscanner.quarantine.directory = occupied/quarantine"), Cwd);

        var e = Assert.Throws<ConfigurationException>(() => GatewaySettingsLoader.PrepareDirectories(s));

        Assert.Equal("mailscanner.quarantine.directory", e.Key);
        Assert.Contains("cannot create directory", e.Problem);
    }
}
