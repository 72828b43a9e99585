using MailScanner.Actors.Configuration;
using MailScanner.Actors.Queue;
using Xunit;

namespace MailScanner.Actors.Tests.Queue;

public sealed class QueueFormatsSpecs
{
    [Fact]
    public void Should_find_each_known_format_by_the_name_it_gives_itself()
    {
        Assert.NotEmpty(QueueFormats.Names);
        foreach (var name in QueueFormats.Names) Assert.Equal(name, QueueFormats.Get(name).Name);
        Assert.Same(ZMailerFormat.Instance, QueueFormats.Get("zmailer"));
    }

    [Fact]
    public void Should_name_the_known_formats_when_asked_for_an_unknown_one()
    {
        var error = Assert.Throws<ArgumentException>(() => QueueFormats.Get("qmail"));
        Assert.Contains("unknown queue format 'qmail'", error.Message);
        Assert.Contains("zmailer", error.Message);
    }

    [Fact]
    public void Should_accept_in_the_configuration_exactly_the_registered_formats()
    {
        var defaults = GatewaySettingsLoader.Defaults();
        foreach (var name in QueueFormats.Names)
        {
            var config = Akka.Configuration.ConfigurationFactory.ParseString($"mailscanner.queue.format = {name}").WithFallback(defaults);
            Assert.Equal(name, GatewaySettingsLoader.FromConfig(config, Path.GetTempPath()).Queue.Format);
        }
        var unknown = Akka.Configuration.ConfigurationFactory.ParseString("mailscanner.queue.format = qmail").WithFallback(defaults);
        var error = Assert.Throws<ConfigurationException>(() => GatewaySettingsLoader.FromConfig(unknown, Path.GetTempPath()));
        Assert.Contains(string.Join(", ", QueueFormats.Names), error.Message);
    }
}
