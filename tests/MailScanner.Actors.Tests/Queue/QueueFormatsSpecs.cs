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
        Assert.Equal(["exim", "postfix", "sendmail", "zmailer"], QueueFormats.Names);
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
    public void Should_read_the_exim_settings_and_refuse_an_empty_exim_user()
    {
        var defaults = GatewaySettingsLoader.Defaults();
        var config = Akka.Configuration.ConfigurationFactory.ParseString(
            "mailscanner.queue { format = exim, exim { split-spool-directory = yes, user = mail, deliver-command = \"/usr/sbin/exim4  -DOUTGOING\" } }").WithFallback(defaults);
        var exim = GatewaySettingsLoader.FromConfig(config, Path.GetTempPath()).Queue.Exim;
        Assert.True(exim.SplitSpoolDirectory);
        Assert.Equal("mail", exim.User);
        Assert.Equal(["/usr/sbin/exim4", "-DOUTGOING"], exim.DeliverCommand);
        Assert.Empty(GatewaySettingsLoader.FromConfig(defaults, Path.GetTempPath()).Queue.Exim.DeliverCommand);

        var noUser = Akka.Configuration.ConfigurationFactory.ParseString("mailscanner.queue.exim.user = \"\"").WithFallback(defaults);
        Assert.Equal("mailscanner.queue.exim.user", Assert.Throws<ConfigurationException>(() => GatewaySettingsLoader.FromConfig(noUser, Path.GetTempPath())).Key);
    }

    [Fact]
    public void Should_read_the_sendmail_settings_and_refuse_an_empty_sendmail_user()
    {
        var defaults = GatewaySettingsLoader.Defaults();
        var config = Akka.Configuration.ConfigurationFactory.ParseString(
            "mailscanner.queue { format = sendmail, sendmail { user = mail, deliver-command = \"/usr/sbin/sendmail  -C /etc/mail/out.cf\" } }").WithFallback(defaults);
        var sendmail = GatewaySettingsLoader.FromConfig(config, Path.GetTempPath()).Queue.Sendmail;
        Assert.Equal("mail", sendmail.User);
        Assert.Equal(["/usr/sbin/sendmail", "-C", "/etc/mail/out.cf"], sendmail.DeliverCommand);
        Assert.Equal("root", GatewaySettingsLoader.FromConfig(defaults, Path.GetTempPath()).Queue.Sendmail.User);
        Assert.Empty(GatewaySettingsLoader.FromConfig(defaults, Path.GetTempPath()).Queue.Sendmail.DeliverCommand);

        var noUser = Akka.Configuration.ConfigurationFactory.ParseString("mailscanner.queue.sendmail.user = \"\"").WithFallback(defaults);
        Assert.Equal("mailscanner.queue.sendmail.user", Assert.Throws<ConfigurationException>(() => GatewaySettingsLoader.FromConfig(noUser, Path.GetTempPath())).Key);
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
