using System.Globalization;
using System.Net;
using Akka.Configuration;
using MailScanner.Actors.Configuration;
using ConfigurationException = MailScanner.Actors.Configuration.ConfigurationException;

namespace MailScanner.Actors.Metrics;

/// <summary>
/// The observability endpoint, from <c>mailscanner.metrics</c>: one HTTP listener serving <c>/metrics</c> (Prometheus),
/// <c>/health/live</c>, <c>/health/ready</c> and the status page at <c>/</c>.
/// </summary>
/// <param name="Enabled">Off: no listener, no instruments are collected and the actor system runs uninstrumented.</param>
/// <param name="Host">The address to bind; loopback unless the operator decides otherwise.</param>
/// <param name="Port">The TCP port; 0 takes a free one (specs).</param>
/// <param name="StatusPageAddresses">
/// Whether the status page's last outcomes show the sender and recipients. Off by default: whoever can reach the page
/// then learns who writes to whom, which is the operator's decision.
/// </param>
public sealed record MetricsSettings(bool Enabled, IPAddress Host, int Port, bool StatusPageAddresses = false)
{
    public const string Section = "mailscanner.metrics";
    public const string EnabledKey = Section + ".enabled";
    public const string HostKey = Section + ".host";
    public const string PortKey = Section + ".port";
    public const string StatusPageAddressesKey = Section + ".status-page-addresses";

    /// <summary>
    /// What settings built in code (specs, the bench) get unless they ask: no endpoint, so that the many gateways a test
    /// run starts in one process never compete for a port. The shipped HOCON default is on.
    /// </summary>
    public static MetricsSettings Disabled { get; } = new(false, IPAddress.Loopback, 9464);

    /// <summary>On, loopback, a free port: what a spec that reads the endpoint asks for.</summary>
    public static MetricsSettings OnFreeLoopbackPort { get; } = new(true, IPAddress.Loopback, 0);

    public static MetricsSettings FromConfig(Config config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var merged = config.WithFallback(GatewaySettingsLoader.Defaults());
        var host = ConfigValues.Raw(merged, HostKey);
        if (!IPAddress.TryParse(host, out var address))
            throw new ConfigurationException(HostKey, $"must be an IP address such as 127.0.0.1, 0.0.0.0 or ::1 (got '{host}')");
        var port = ConfigValues.Raw(merged, PortKey);
        if (!int.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out var number) || number > IPEndPoint.MaxPort)
            throw new ConfigurationException(PortKey, $"must be a TCP port from 0 to 65535 (got '{port}')");
        return new MetricsSettings(ConfigValues.Boolean(merged, EnabledKey), address, number, ConfigValues.Boolean(merged, StatusPageAddressesKey));
    }
}
