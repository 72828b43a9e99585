using Akka.Configuration;
using MailScanner.Actors.Configuration;
using ConfigurationException = MailScanner.Actors.Configuration.ConfigurationException;

namespace MailScanner.Actors.Queue.Sendmail;

/// <summary>
/// <c>mailscanner.queue.sendmail</c>: MailScanner's two sendmails. The gateway reads the receiving sendmail's
/// QueueDirectory (<c>mailscanner.queue.incoming</c>; it runs with <c>DeliveryMode=q</c>) and writes the delivering
/// one's (<c>.outgoing</c>).
/// </summary>
/// <param name="User">The owner of the files the gateway writes: sendmail reads only queue files owned by its own user.</param>
/// <param name="DeliverCommand">
/// The delivering sendmail, run as <c>&lt;command&gt; -qI&lt;id&gt;...</c> for the messages just written (e.g.
/// <c>/usr/sbin/sendmail -C /etc/mail/sendmail-outgoing.cf</c>); empty: its own queue runner picks them up.
/// </param>
public sealed record SendmailQueueOptions(string User, IReadOnlyList<string> DeliverCommand)
{
    public const string Section = "mailscanner.queue.sendmail";

    public static readonly SendmailQueueOptions Default = new("root", []);

    public static SendmailQueueOptions FromConfig(Config config)
    {
        var user = ConfigValues.Raw(config, $"{Section}.user");
        if (user.Length == 0) throw new ConfigurationException($"{Section}.user", "must name the user sendmail runs as, the owner of its queue files");
        return new SendmailQueueOptions(
            user,
            ConfigValues.Raw(config, $"{Section}.deliver-command").Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
    }
}
