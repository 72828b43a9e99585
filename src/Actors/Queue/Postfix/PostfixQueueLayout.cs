namespace MailScanner.Actors.Queue.Postfix;

/// <summary>
/// Where things are in one Postfix queue directory and how Postfix names them, from the settings of that Postfix's
/// main.cf: <c>queue_directory</c>, <c>enable_long_queue_ids</c>, <c>hash_queue_names</c>, <c>hash_queue_depth</c>
/// and <c>mail_owner</c>. Defaults are Postfix's own (mail_params.h).
/// </summary>
public sealed record PostfixQueueLayout(
    string QueueDirectory,
    bool LongQueueIds = false,
    string HashQueueNames = PostfixQueueLayout.DefaultHashQueueNames,
    int HashQueueDepth = 1,
    string MailOwner = "postfix")
{
    /// <summary>DEF_HASH_QUEUE_NAMES: only these queues use hashed subdirectories unless main.cf says otherwise.</summary>
    public const string DefaultHashQueueNames = "deferred, defer";

    public const string Hold = "hold";
    public const string Incoming = "incoming";

    public string HoldDirectory => Path.Combine(QueueDirectory, Hold);

    public string IncomingDirectory => Path.Combine(QueueDirectory, Incoming);

    /// <summary>qmgr's trigger endpoint: a UNIX stream socket for the standard master.cf line <c>qmgr unix n - n 300 1 qmgr</c>.</summary>
    public string QmgrSocket => Path.Combine(QueueDirectory, "public", "qmgr");

    /// <summary>Whether <paramref name="queueName"/> is hashed (a case-insensitive match in hash_queue_names, as mail_queue_dir() does).</summary>
    public bool IsHashed(string queueName) =>
        HashQueueNames.Split([',', ' ', '\t'], StringSplitOptions.RemoveEmptyEntries)
            .Any(name => string.Equals(name, queueName, StringComparison.OrdinalIgnoreCase));

    /// <summary>The directory that holds <paramref name="queueId"/> in <paramref name="queueName"/> (mail_queue_dir()).</summary>
    public string DirectoryOf(string queueName, string queueId)
    {
        var directory = Path.Combine(QueueDirectory, queueName);
        return IsHashed(queueName)
            ? Path.Combine(directory, PostfixQueueId.HashDirectories(queueId, HashQueueDepth).TrimEnd('/'))
            : directory;
    }

    /// <summary>The path of <paramref name="queueId"/> in <paramref name="queueName"/> (mail_queue_path()).</summary>
    public string PathOf(string queueName, string queueId) => Path.Combine(DirectoryOf(queueName, queueId), queueId);
}
