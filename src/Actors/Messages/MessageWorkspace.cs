using Akka.Actor;
using MailScanner.Actors.Delivery;
using MailScanner.Actors.Journal;
using MailScanner.Actors.Metrics;
using MailScanner.Actors.Policy;
using MailScanner.Actors.Quarantine;
using MailScanner.Actors.Queue;
using MailScanner.Actors.Scanning;
using MailScanner.Actors.Scanning.Limits;
using MailScanner.Actors.Scanning.Rules;

namespace MailScanner.Actors.Messages;

/// <summary>The directories, writers, scanners and counters every MessageActor of one gateway works with.</summary>
/// <param name="ScannerEngines">The enabled daemon engines (clamd, spamd); every one must answer before a verdict.</param>
public sealed record MessageWorkspace(
    IQueueFormat Format,
    string WorkDirectory,
    string BadDirectory,
    QueueDirectoryWriter Outgoing,
    QuarantineStore Quarantine,
    RuleSettings Rules,
    Rulesets Policy,
    IReadOnlyList<IActorRef> ScannerEngines,
    DeferredCloser Closer,
    PipelineCounters Counters)
{
    /// <summary>Where each message's attempts and recorded deliveries are kept; none (at-least-once) unless given.</summary>
    public MessageJournalClient Journal { get; init; } = MessageJournalClient.Disabled();

    /// <summary>Reports disk-full, I/O and journal failures once per episode instead of once per message.</summary>
    public WriteFailureEpisodes WriteFailures { get; init; } = WriteFailureEpisodes.Silent();

    /// <summary>
    /// The memory all of this gateway's MessageActors decode and unpack within (<c>limits.unpack-memory</c>): one per
    /// gateway, shared by every message in flight.
    /// </summary>
    public UnpackBudget UnpackBudget { get; init; } = new(Rules.Limits.UnpackMemory);

    /// <summary>Which messages a scanner timed out on: those that run out of attempts that way are unscannable.</summary>
    public ScannerTimeouts ScannerTimeouts { get; init; } = new();

    /// <summary>The built-in rules; replaceable so that specs can make scanning throw, as a poison message would.</summary>
    public Func<ReadOnlyMemory<byte>, RuleSettings, UnpackBudget, ScanReport> ScanWithBuiltInRules { get; init; } = BuiltInRules.Scan;

    /// <summary>The exactly-once write of a message's copies, over this workspace's queues and journal.</summary>
    public ExactlyOnceDelivery Delivery => new(Outgoing, Quarantine, Journal);
}
