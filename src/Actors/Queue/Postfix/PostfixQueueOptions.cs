using Akka.Configuration;
using MailScanner.Actors.Configuration;
using ConfigurationException = MailScanner.Actors.Configuration.ConfigurationException;

namespace MailScanner.Actors.Queue.Postfix;

/// <summary>
/// <c>mailscanner.queue.postfix</c>: the settings of the Postfix whose queue the gateway works on, as its main.cf has
/// them (<c>postconf enable_long_queue_ids hash_queue_names hash_queue_depth mail_owner</c>). The queue directory is
/// the one that holds <c>mailscanner.queue.incoming</c> (its <c>hold/</c>) and <c>.outgoing</c> (its <c>incoming/</c>).
/// </summary>
public sealed record PostfixQueueOptions(bool LongQueueIds, string HashQueueNames, int HashQueueDepth, string MailOwner)
{
    public const string Section = "mailscanner.queue.postfix";

    public static readonly PostfixQueueOptions Default = new(false, PostfixQueueLayout.DefaultHashQueueNames, 1, "postfix");

    public static PostfixQueueOptions FromConfig(Config config)
    {
        var depthKey = $"{Section}.hash-queue-depth";
        var depth = ConfigValues.PositiveInt(config, depthKey);
        if (depth > 16) throw new ConfigurationException(depthKey, "must be at most 16, as Postfix's own limit");
        var owner = ConfigValues.Raw(config, $"{Section}.mail-owner");
        if (owner.Length == 0) throw new ConfigurationException($"{Section}.mail-owner", "must name the user Postfix runs as (postconf mail_owner)");
        return new PostfixQueueOptions(
            ConfigValues.Boolean(config, $"{Section}.long-queue-ids"),
            ConfigValues.Raw(config, $"{Section}.hash-queue-names"),
            depth,
            owner);
    }

    /// <summary>The queue directory is the one both queues are in: hold/ is read, incoming/ is written.</summary>
    public PostfixQueueLayout LayoutFor(string incoming, string outgoing)
    {
        var queueDirectory = Path.GetDirectoryName(Path.TrimEndingDirectorySeparator(outgoing))!;
        return new PostfixQueueLayout(queueDirectory, LongQueueIds, HashQueueNames, HashQueueDepth, MailOwner);
    }
}
