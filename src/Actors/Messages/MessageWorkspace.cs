using Akka.Actor;
using MailScanner.Actors.Delivery;
using MailScanner.Actors.Metrics;
using MailScanner.Actors.Policy;
using MailScanner.Actors.Quarantine;
using MailScanner.Actors.Queue;
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
    PipelineCounters Counters);
