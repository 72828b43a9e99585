using Akka.Configuration;
using MailScanner.Actors.Configuration;
using ConfigurationException = MailScanner.Actors.Configuration.ConfigurationException;

namespace MailScanner.Actors.Queue.Exim;

/// <summary>
/// <c>mailscanner.queue.exim</c>: how the two Exims of MailScanner's setup keep their spools. The gateway reads the
/// receiving Exim's <c>input/</c> (<c>mailscanner.queue.incoming</c>) and writes the delivering Exim's
/// (<c>.outgoing</c>).
/// </summary>
/// <param name="SplitSpoolDirectory">Exim's <c>split_spool_directory</c> (both Exims alike).</param>
/// <param name="User">Exim's <c>exim_user</c>: files the gateway writes are given to it (Exim opens <c>-D</c> for writing to lock it).</param>
/// <param name="DeliverCommand">
/// The delivering Exim, run as <c>&lt;command&gt; -Mc &lt;id&gt;...</c> for the messages just written (e.g.
/// <c>/usr/sbin/exim4 -DOUTGOING</c>); empty: its own queue runner (<c>-q</c>) picks them up.
/// </param>
public sealed record EximQueueOptions(bool SplitSpoolDirectory, string User, IReadOnlyList<string> DeliverCommand)
{
    public const string Section = "mailscanner.queue.exim";

    public static readonly EximQueueOptions Default = new(false, "Debian-exim", []);

    public static EximQueueOptions FromConfig(Config config)
    {
        var user = ConfigValues.Raw(config, $"{Section}.user");
        if (user.Length == 0) throw new ConfigurationException($"{Section}.user", "must name Exim's exim_user, the owner of its spool files");
        return new EximQueueOptions(
            ConfigValues.Boolean(config, $"{Section}.split-spool-directory"),
            user,
            ConfigValues.Raw(config, $"{Section}.deliver-command").Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
    }
}
