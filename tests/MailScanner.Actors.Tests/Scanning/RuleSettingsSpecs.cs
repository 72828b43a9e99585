using Akka.Configuration;
using MailScanner.Actors.Configuration;
using MailScanner.Actors.Scanning.Mime;
using MailScanner.Actors.Scanning.Rules;
using Xunit;
using ConfigurationException = MailScanner.Actors.Configuration.ConfigurationException;

namespace MailScanner.Actors.Tests.Scanning;

public sealed class RuleSettingsSpecs : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("mailscanner-rules-");

    public void Dispose() => _dir.Delete(recursive: true);

    private static RuleSettings With(string hocon) =>
        RuleSettings.FromConfig(ConfigurationFactory.ParseString(hocon).WithFallback(GatewaySettingsLoader.Defaults()));

    [Fact]
    public void Should_ship_mailscanner_like_defaults()
    {
        var s = RuleSettings.Default;

        foreach (var ext in new[] { "exe", "scr", "pif", "bat", "com", "cmd", "cpl", "js", "jse", "vbs", "vbe", "wsf", "wsh", "lnk", "hta", "msi", "reg" })
            Assert.Contains(ext, s.Filenames.DenyExtensions);
        Assert.DoesNotContain("pdf", s.Filenames.DenyExtensions);
        Assert.Empty(s.Filenames.Allow);
        Assert.True(s.Filenames.DenyDoubleExtensions);
        Assert.True(s.Filenames.DenyControlCharacters);
        Assert.True(s.DenyExecutableFiletypes);
        Assert.False(s.AllowEncryptedArchives);
        Assert.Equal(AnalysisLimits.Default, s.Limits);
        Assert.Equal(new SizeLimits(0, 0, 200), s.Sizes);
        Assert.Equal(HtmlSettings.Default, s.Html);
    }

    [Fact]
    public void Should_read_every_key_of_an_operator_file()
    {
        var file = Path.Combine(_dir.FullName, "operator.conf");
        File.WriteAllText(file, """
            mailscanner.rules {
              filenames { deny-extensions = [".EXE", zip], allow = ["ok-*.exe"], deny-double-extensions = no, deny-control-characters = off }
              filetypes.deny-executables = false
              archives { max-compression-ratio = 12.5, allow-encrypted = yes }
              sizes { max-message-bytes = 10m, max-attachment-bytes = 512k, max-attachments = 3 }
              html { script = deny, iframe = allow, object = disarm, form = no, phishing-net = no }
            }
            mailscanner.limits { unpack-memory = 64m, max-unpacked-bytes = 1m, max-archive-depth = 2, max-archive-members = 10, max-mime-depth = 7, max-mime-parts = 50 }
            """);

        var s = RuleSettings.FromConfig(GatewaySettingsLoader.LoadConfig(file));

        Assert.Equal(["exe", "zip"], s.Filenames.DenyExtensions.Order());
        Assert.Equal(["ok-*.exe"], s.Filenames.Allow);
        Assert.False(s.Filenames.DenyDoubleExtensions || s.Filenames.DenyControlCharacters || s.DenyExecutableFiletypes);
        Assert.True(s.AllowEncryptedArchives);
        Assert.Equal(new AnalysisLimits(50, 7, 2, 10, 1024 * 1024, 12.5) { UnpackMemory = 64 * 1024 * 1024 }, s.Limits);
        Assert.Equal(new SizeLimits(10 * 1024 * 1024, 512 * 1024, 3), s.Sizes);
        Assert.Equal(new HtmlSettings(HtmlTagAction.Deny, HtmlTagAction.Allow, HtmlTagAction.Disarm, HtmlTagAction.Deny, false), s.Html);
    }

    [Fact]
    public void Should_accept_an_empty_deny_list_from_an_operator_file()
    {
        var file = Path.Combine(_dir.FullName, "empty.conf");
        File.WriteAllText(file, "mailscanner.rules.filenames.deny-extensions = []\n");

        Assert.Empty(RuleSettings.FromConfig(GatewaySettingsLoader.LoadConfig(file)).Filenames.DenyExtensions);
    }

    [Fact]
    public void Should_reject_an_unknown_key_under_rules()
    {
        var file = Path.Combine(_dir.FullName, "typo.conf");
        File.WriteAllText(file, "mailscanner.rules.filenames.deny-extension = [exe]\n");

        var e = Assert.Throws<ConfigurationException>(() => GatewaySettingsLoader.LoadConfig(file));
        Assert.Equal("mailscanner.rules.filenames.deny-extension", e.Key);
    }

    [Theory]
    [InlineData("mailscanner.rules.filenames.deny-extensions = exe", "mailscanner.rules.filenames.deny-extensions")]
    [InlineData("mailscanner.rules.filenames.deny-extensions = [\"ex e\"]", "mailscanner.rules.filenames.deny-extensions")]
    [InlineData("mailscanner.rules.filenames.allow = [\"dir/x.exe\"]", "mailscanner.rules.filenames.allow")]
    [InlineData("mailscanner.rules.filenames.deny-double-extensions = maybe", "mailscanner.rules.filenames.deny-double-extensions")]
    [InlineData("mailscanner.limits.max-archive-depth = -1", "mailscanner.limits.max-archive-depth")]
    [InlineData("mailscanner.limits.max-archive-members = 0", "mailscanner.limits.max-archive-members")]
    [InlineData("mailscanner.limits.max-unpacked-bytes = lots", "mailscanner.limits.max-unpacked-bytes")]
    [InlineData("mailscanner.limits.max-unpacked-bytes = 300m", "mailscanner.limits.max-unpacked-bytes")]
    [InlineData("mailscanner.limits.unpack-memory = 1k", "mailscanner.limits.unpack-memory")]
    [InlineData("mailscanner.limits.max-mime-parts = 0", "mailscanner.limits.max-mime-parts")]
    [InlineData("mailscanner.rules.archives.max-compression-ratio = 0.5", "mailscanner.rules.archives.max-compression-ratio")]
    [InlineData("mailscanner.limits.max-mime-depth = 1000", "mailscanner.limits.max-mime-depth")]
    [InlineData("mailscanner.rules.sizes.max-attachments = many", "mailscanner.rules.sizes.max-attachments")]
    [InlineData("mailscanner.rules.html.script = remove", "mailscanner.rules.html.script")]
    [InlineData("mailscanner.rules.html { phishing-net { on = yes } }", "mailscanner.rules.html.phishing-net")]
    public void Should_name_the_key_of_a_bad_value(string hocon, string key)
    {
        var e = Assert.Throws<ConfigurationException>(() => With(hocon));

        Assert.Equal(key, e.Key);
    }

    [Fact]
    public void Should_name_a_missing_key()
    {
        var e = Assert.Throws<ConfigurationException>(() => RuleSettings.FromConfig(ConfigurationFactory.ParseString("mailscanner.rules {}")));

        Assert.StartsWith("mailscanner.rules.", e.Key);
        Assert.Equal("is missing", e.Problem);
    }
}
