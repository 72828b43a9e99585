using System.Net;
using MailScanner.Actors.Configuration;
using MailScanner.Actors.Metrics;
using Xunit;

namespace MailScanner.Actors.Tests.Metrics;

/// <summary><c>mailscanner.metrics</c> in the configuration file: defaults, what an operator may change, what is refused.</summary>
public sealed class MetricsSettingsSpecs : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("mailscanner-metrics-config-");

    public void Dispose() => _dir.Delete(recursive: true);

    private GatewaySettings Load(string? hocon)
    {
        if (hocon is null) return GatewaySettingsLoader.Load(null, _dir.FullName);
        var path = Path.Combine(_dir.FullName, "operator.conf");
        File.WriteAllText(path, hocon);
        return GatewaySettingsLoader.Load(path, _dir.FullName);
    }

    [Fact]
    public void Should_serve_on_loopback_port_9464_by_default()
    {
        Assert.Equal(new MetricsSettings(true, IPAddress.Loopback, 9464), Load(null).Metrics);
    }

    [Fact]
    public void Should_take_the_operators_switch_address_and_port_and_print_them_in_check_config()
    {
        var settings = Load("mailscanner.metrics { enabled = no, host = \"::1\", port = 19464, status-page-addresses = yes }");

        Assert.Equal(new MetricsSettings(false, IPAddress.IPv6Loopback, 19464, StatusPageAddresses: true), settings.Metrics);
        var described = GatewaySettingsLoader.Describe(settings);
        Assert.Contains("metrics {", described);
        Assert.Contains("\"port\" = \"19464\"", described);
    }

    [Theory]
    [InlineData("mailscanner.metrics.port = 70000", MetricsSettings.PortKey)]
    [InlineData("mailscanner.metrics.port = -1", MetricsSettings.PortKey)]
    [InlineData("mailscanner.metrics.port = http", MetricsSettings.PortKey)]
    [InlineData("mailscanner.metrics.host = localhost", MetricsSettings.HostKey)]
    [InlineData("mailscanner.metrics.enabled = perhaps", MetricsSettings.EnabledKey)]
    [InlineData("mailscanner.metrics.status-page-addresses = maybe", MetricsSettings.StatusPageAddressesKey)]
    [InlineData("mailscanner.metrics.path = /prometheus", "mailscanner.metrics.path")]
    public void Should_refuse_a_bad_value_or_an_unknown_key_naming_it(string hocon, string key)
    {
        var e = Assert.Throws<ConfigurationException>(() => Load(hocon));

        Assert.Equal(key, e.Key);
    }
}
