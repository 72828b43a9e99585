using Akka.Configuration;
using MailScanner.Actors.Configuration;
using MailScanner.Actors.Scanning;
using MailScanner.Actors.Tests.TestSupport;
using Xunit;
using ConfigurationException = MailScanner.Actors.Configuration.ConfigurationException;

namespace MailScanner.Actors.Tests.Scanning;

public sealed class ScannerSettingsSpecs
{
    [Fact]
    public void Should_ship_both_scanners_disabled_with_the_usual_Debian_addresses()
    {
        var settings = ScannerSettings.FromConfig(GatewaySettingsLoader.Defaults());

        Assert.False(settings.Clamd.Enabled);
        Assert.Equal(new ScannerAddress.Unix("/run/clamav/clamd.ctl"), settings.Clamd.Address);
        Assert.Equal(TimeSpan.FromSeconds(30), settings.Clamd.Engine.Timeout);
        Assert.Equal(4, settings.Clamd.Engine.MaxConcurrent);
        Assert.False(settings.Spamd.Enabled);
        Assert.Equal(new ScannerAddress.Tcp("127.0.0.1", 783), settings.Spamd.Address);
        Assert.Equal(20.0, settings.Spamd.HighSpamScore);
        Assert.Equal(TimeSpan.FromMilliseconds(500), settings.Spamd.Engine.ProbeMinBackoff);
        Assert.Equal(500 * 1024, settings.Spamd.MaxSize);
    }

    [Theory]
    [InlineData("2m", 2 * 1024 * 1024)]
    [InlineData("64k", 64 * 1024)]
    public void Should_read_spamds_max_size(string value, long expected) =>
        Assert.Equal(expected, ScannerSettings.FromConfig(ConfigurationFactory.ParseString($"mailscanner.scanners.spamd.max-size = {value}")).Spamd.MaxSize);

    [Fact]
    public void Should_refuse_a_max_size_that_is_not_a_size() =>
        Assert.Equal("mailscanner.scanners.spamd.max-size", Assert.Throws<ConfigurationException>(() =>
            ScannerSettings.FromConfig(ConfigurationFactory.ParseString("mailscanner.scanners.spamd.max-size = 0"))).Key);

    [Fact]
    public void Should_read_an_operator_file_through_the_gateway_loader()
    {
        using var dir = new TempDirectory(TempDirectory.Tmpfs);
        var file = dir.File("gateway.conf");
        File.WriteAllText(file, """
            mailscanner.scanners {
              clamd { enabled = true, address = "127.0.0.1:3310", max-concurrent = 8 }
              spamd { enabled = yes, address = "/run/spamd.sock", timeout = 2m, high-spam-score = 12.5 }
            }
            """);

        var settings = ScannerSettings.FromConfig(GatewaySettingsLoader.LoadConfig(file));

        Assert.True(settings.Clamd.Enabled);
        Assert.Equal(new ScannerAddress.Tcp("127.0.0.1", 3310), settings.Clamd.Address);
        Assert.Equal(8, settings.Clamd.Engine.MaxConcurrent);
        Assert.True(settings.Spamd.Enabled);
        Assert.Equal(new ScannerAddress.Unix("/run/spamd.sock"), settings.Spamd.Address);
        Assert.Equal(TimeSpan.FromMinutes(2), settings.Spamd.Engine.Timeout);
        Assert.Equal(12.5, settings.Spamd.HighSpamScore);
    }

    [Fact]
    public void Should_reject_an_unknown_scanner_key()
    {
        using var dir = new TempDirectory(TempDirectory.Tmpfs);
        var file = dir.File("gateway.conf");
        File.WriteAllText(file, "mailscanner.scanners.clamd.adress = \"/run/clamav/clamd.ctl\"\n");
        var e = Assert.Throws<ConfigurationException>(() => GatewaySettingsLoader.LoadConfig(file));
        Assert.Equal("mailscanner.scanners.clamd.adress", e.Key);
    }

    [Theory]
    [InlineData("mailscanner.scanners.clamd.address = \"clamd.ctl\"", "mailscanner.scanners.clamd.address", "neither an absolute unix socket path")]
    [InlineData("mailscanner.scanners.spamd.address = \"127.0.0.1:99999\"", "mailscanner.scanners.spamd.address", "no valid port")]
    [InlineData("mailscanner.scanners.clamd.enabled = maybe", "mailscanner.scanners.clamd.enabled", "true or false")]
    [InlineData("mailscanner.scanners.clamd.timeout = 0s", "mailscanner.scanners.clamd.timeout", "longer than 0")]
    [InlineData("mailscanner.scanners.spamd.timeout = soon", "mailscanner.scanners.spamd.timeout", "duration")]
    [InlineData("mailscanner.scanners.spamd.max-concurrent = 0", "mailscanner.scanners.spamd.max-concurrent", "at least 1")]
    [InlineData("mailscanner.scanners.spamd.high-spam-score = lots", "mailscanner.scanners.spamd.high-spam-score", "a number")]
    [InlineData("mailscanner.scanners.clamd.probe-backoff-max = 100ms", "mailscanner.scanners.clamd.probe-backoff-max", "not be shorter")]
    public void Should_name_the_key_and_the_problem(string hocon, string key, string problem)
    {
        var e = Assert.Throws<ConfigurationException>(() => ScannerSettings.FromConfig(ConfigurationFactory.ParseString(hocon)));
        Assert.Equal(key, e.Key);
        Assert.Contains(problem, e.Problem);
    }
}
