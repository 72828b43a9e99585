using MailScanner.Actors.Configuration;
using MailScanner.Actors.Queue;
using Xunit;

namespace MailScanner.Actors.Tests.Queue;

public sealed class QueueFormatsSpecs
{
    private static QueueSettings Queue(string format) =>
        new(format, "/var/spool/postfix/hold", "/var/spool/postfix/incoming", "/var/spool/postfix/mailscanner-work", "/var/spool/postfix/mailscanner-bad",
            TimeSpan.FromSeconds(1), 100);

    [Fact]
    public void Should_find_each_known_format_by_the_name_it_gives_itself()
    {
        Assert.Equal(["postfix", "zmailer"], QueueFormats.Names);
        foreach (var name in QueueFormats.Names) Assert.Equal(name, QueueFormats.For(Queue(name)).Name);
        Assert.Same(ZMailerFormat.Instance, QueueFormats.For(Queue("zmailer")));
    }

    [Fact]
    public void Should_set_postfix_up_on_the_queue_directory_that_holds_both_queues()
    {
        var postfix = Assert.IsType<MailScanner.Actors.Queue.Postfix.PostfixFormat>(QueueFormats.For(Queue("postfix")));
        Assert.Equal("/var/spool/postfix", postfix.Layout.QueueDirectory);
        Assert.Equal("/var/spool/postfix/public/qmgr", postfix.Layout.QmgrSocket);
    }

    [Fact]
    public void Should_name_the_known_formats_when_asked_for_an_unknown_one()
    {
        var error = Assert.Throws<ArgumentException>(() => QueueFormats.For(Queue("qmail")));
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
