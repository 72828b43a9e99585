using MailScanner.Actors.Delivery;
using MailScanner.Actors.Metrics;
using MailScanner.Actors.Queue;

namespace MailScanner.Actors.Messages;

/// <summary>The directories, writers and counters every MessageActor of one gateway works with.</summary>
public sealed record MessageWorkspace(
    IQueueFormat Format,
    string WorkDirectory,
    string BadDirectory,
    QueueDirectoryWriter Outgoing,
    QueueDirectoryWriter Quarantine,
    DeferredCloser Closer,
    PipelineCounters Counters);
