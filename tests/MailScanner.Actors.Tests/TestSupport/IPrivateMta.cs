namespace MailScanner.Actors.Tests.TestSupport;

/// <summary>
/// A private real MTA set up with the gateway in its path (<see cref="PostfixInstance"/>, <see cref="EximInstance"/>,
/// <see cref="SendmailInstance"/>), as the end-to-end runs of <see cref="MtaGatewayRun"/> see it: SMTP in on loopback,
/// an smtp-sink out, its queues and its log.
/// </summary>
public interface IPrivateMta
{
    string Name { get; }

    /// <summary>Where it takes mail over SMTP (127.0.0.1).</summary>
    int SmtpPort { get; }

    /// <summary>The files smtp-sink wrote, one per delivered message (the newest may still be being written).</summary>
    IReadOnlyList<string> SinkFiles();

    /// <summary>Every file left in the queues a message passes through; none once everything is delivered.</summary>
    IReadOnlyList<string> QueuedFiles();

    /// <summary>The log lines in which the MTA reports a queue file it cannot read, a panic or a message it gave up on.</summary>
    IReadOnlyList<string> QueueFileErrors();

    /// <summary>How many messages its log reports delivered to the sink (each once, however many recipients it had).</summary>
    int DeliveriesLogged();

    /// <summary>The end of its log, for a failure's message.</summary>
    string LogTail();
}
