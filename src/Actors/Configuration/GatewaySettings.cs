using MailScanner.Actors.Journal;
using MailScanner.Actors.Metrics;
using MailScanner.Actors.Policy;
using MailScanner.Actors.Scanning;
using MailScanner.Actors.Scanning.Rules;

namespace MailScanner.Actors.Configuration;

/// <summary>
/// The effective configuration of one gateway node, read from HOCON (<c>mailscanner.*</c>) by
/// <see cref="GatewaySettingsLoader"/>. Paths are absolute once loaded.
/// </summary>
public sealed record GatewaySettings(
    QueueSettings Queue,
    QuarantineSettings Quarantine,
    BatchSettings Batch,
    string StateDirectory)
{
    /// <summary>The message journal (<c>mailscanner.journal</c>, <c>mailscanner.max-processing-attempts</c>).</summary>
    public JournalSettings Journal { get; init; } = JournalSettings.For(StateDirectory);

    /// <summary>The built-in content rules (<c>mailscanner.rules</c>).</summary>
    public RuleSettings Rules { get; init; } = RuleSettings.Default;

    /// <summary>What is done with each verdict, per recipient domain, address or sender (<c>mailscanner.policy</c>).</summary>
    public Rulesets Policy { get; init; } = Rulesets.Default;

    /// <summary>How the gateway stops on SIGTERM or SIGINT (<c>mailscanner.shutdown</c>).</summary>
    public ShutdownSettings Shutdown { get; init; } = new(TimeSpan.FromSeconds(30));

    /// <summary>The external scanner daemons (<c>mailscanner.scanners</c>); both are off unless enabled.</summary>
    public ScannerSettings Scanners { get; init; } = ScannerSettings.FromConfig(Akka.Configuration.Config.Empty);

    /// <summary>The observability endpoint (<c>mailscanner.metrics</c>); settings built in code serve none unless they ask.</summary>
    public MetricsSettings Metrics { get; init; } = MetricsSettings.Disabled;

    /// <summary>Where the log goes (<c>mailscanner.logging</c>): read by the host before anything else starts.</summary>
    public LoggingSettings Logging { get; init; } = LoggingSettings.ConsoleOnly;

    /// <summary>Several nodes on one shared queue (<c>mailscanner.cluster</c>); off: one node.</summary>
    public MailScanner.Actors.Cluster.ClusterSettings Cluster { get; init; } = MailScanner.Actors.Cluster.ClusterSettings.Disabled;

    /// <summary>
    /// The effective HOCON of the content sections (rules, policy, scanners) that <see cref="Rules"/>,
    /// <see cref="Policy"/> and <see cref="Scanners"/> were read from: what check-config prints for them, and what
    /// equality compares, since those settings hold sets, lists and matchers without value equality.
    /// </summary>
    public string ContentSections { get; init; } = "";

    public bool Equals(GatewaySettings? other) =>
        other is not null && Queue == other.Queue && Quarantine == other.Quarantine && Batch == other.Batch &&
        StateDirectory == other.StateDirectory && Journal == other.Journal && Shutdown == other.Shutdown && Scanners == other.Scanners && Metrics == other.Metrics && Logging == other.Logging && Cluster == other.Cluster && ContentSections == other.ContentSections;

    public override int GetHashCode() => HashCode.Combine(Queue, Quarantine, Batch, StateDirectory, ContentSections);
}

/// <param name="Format">Queue file format of the incoming and outgoing queues; <c>zmailer</c> only, for now.</param>
/// <param name="Incoming">The MTA's incoming queue directory that we scan (ZMailer: <c>router/</c>).</param>
/// <param name="Outgoing">The queue directory where scanned messages are delivered.</param>
/// <param name="Work">Where claimed files wait while they are processed; must share the incoming file system.</param>
/// <param name="Bad">Where malformed entries are moved aside; must share the incoming file system.</param>
/// <param name="ScanInterval">How often the incoming directory is listed even when no change notification came.</param>
/// <param name="MaxInFlight">How many messages may be claimed and in process at once (a backlog stays on disk).</param>
/// <param name="RetryBackoffMin">The wait before a message whose processing failed is admitted again; doubled each time ...</param>
/// <param name="RetryBackoffMax">... up to this.</param>
public sealed record QueueSettings(
    string Format,
    string Incoming,
    string Outgoing,
    string Work,
    string Bad,
    TimeSpan ScanInterval,
    int MaxInFlight,
    TimeSpan RetryBackoffMin = default,
    TimeSpan RetryBackoffMax = default)
{
    public TimeSpan RetryBackoffMin { get; init; } = RetryBackoffMin == default ? TimeSpan.FromSeconds(1) : RetryBackoffMin;
    public TimeSpan RetryBackoffMax { get; init; } = RetryBackoffMax == default ? TimeSpan.FromMinutes(5) : RetryBackoffMax;

    /// <summary>
    /// The most queue files one listing of the incoming directory hands the watcher (not a configuration key): what it
    /// holds of a backlog stays bounded, so a million-file backlog is ten listings of a shrinking directory rather
    /// than a million paths in memory, while each listing, which reads the whole directory, still finds enough to be
    /// worth its cost.
    /// </summary>
    public int ListingWindow { get; init; } = 100_000;

    /// <summary><c>mailscanner.queue.postfix</c>: used when <see cref="Format"/> is <c>postfix</c>.</summary>
    public MailScanner.Actors.Queue.Postfix.PostfixQueueOptions Postfix { get; init; } = MailScanner.Actors.Queue.Postfix.PostfixQueueOptions.Default;

    /// <summary><c>mailscanner.queue.exim</c>: used when <see cref="Format"/> is <c>exim</c>.</summary>
    public MailScanner.Actors.Queue.Exim.EximQueueOptions Exim { get; init; } = MailScanner.Actors.Queue.Exim.EximQueueOptions.Default;

    /// <summary><c>mailscanner.queue.sendmail</c>: used when <see cref="Format"/> is <c>sendmail</c>.</summary>
    public MailScanner.Actors.Queue.Sendmail.SendmailQueueOptions Sendmail { get; init; } = MailScanner.Actors.Queue.Sendmail.SendmailQueueOptions.Default;
}

public sealed record QuarantineSettings(string Directory);

/// <param name="GracePeriod">
/// On the first SIGTERM or SIGINT no new message is admitted and the messages in flight get this long to finish;
/// those still unfinished then go back to the incoming queue untouched (or, already written, are finished).
/// </param>
public sealed record ShutdownSettings(TimeSpan GracePeriod);

/// <param name="Coordinators">How many batch coordinators run at once (MailScanner's children).</param>
/// <param name="MaxMessages">A batch is sent on when it holds this many messages ...</param>
/// <param name="MaxBytes">... or this many bytes ...</param>
/// <param name="MaxWait">... or when its first message has waited this long.</param>
/// <param name="DeleteRepeats">How many times each Delete is sent (MailScanner repeats it after every stage).</param>
/// <param name="StageJitter">Test aid: a random pause of up to this long between stages, to shuffle interleavings.</param>
public sealed record BatchSettings(
    int Coordinators,
    int MaxMessages,
    long MaxBytes,
    TimeSpan MaxWait,
    int DeleteRepeats,
    TimeSpan StageJitter = default);
