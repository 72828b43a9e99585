using Akka.Actor;
using Akka.Hosting;
using MailScanner.Actors.Delivery;
using MailScanner.Actors.Identity;
using MailScanner.Actors.Journal;
using MailScanner.Actors.Quarantine;
using MailScanner.Actors.Queue.ZMailer;
using MailScanner.Actors.Tests.TestSupport;
using Xunit;
using static MailScanner.Actors.Journal.MessageJournalProtocol;

namespace MailScanner.Actors.Tests.Pipeline;

/// <summary>
/// A power cut keeps what the last completed barrier round made durable and may keep or drop anything written since.
/// A recorder on the delivery path's one <see cref="DurabilityBarrier"/> keeps, at the start of each round, the state
/// that round makes durable: the queue files (hard links, so identities survive) and the journal's SQLite files
/// (copies; it runs in synchronous=NORMAL, durable only through these rounds). Between two rounds a cut may keep either
/// side's queues with either side's journal; the gateway is started on every such state and must end with the message
/// written exactly where an uninterrupted run wrote it, once.
/// </summary>
/// <remarks>
/// One message at a time, so each round's state is the message's alone (its cleaned copy and its original may still be
/// written side by side: see <see cref="DurableState.Keep"/>). Taking
/// out a barrier (B2 or B4 of <see cref="ExactlyOnceDelivery"/>) makes these specs find the duplicate it allows.
/// </remarks>
public sealed class PowerCutSpecs : IAsyncLifetime
{
    private static readonly TimeSpan Answer = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);
    private const string Eicar = @"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

    private readonly TempDirectory _cuts = new();
    private readonly List<GatewayTestbed> _beds = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync()
    {
        foreach (var bed in _beds) bed.Dispose();
        _cuts.Dispose();
        return Task.CompletedTask;
    }

    [Theory]
    [InlineData("clean", 1, 0)]
    [InlineData("infected", 1, 1)] // delivered cleaned, the original quarantined
    public async Task Should_neither_lose_nor_duplicate_a_message_whatever_a_power_cut_kept(string kind, int outgoingCopies, int quarantined)
    {
        var marker = $"power-cut-{kind}-{Guid.NewGuid():N}";
        var bed = new GatewayTestbed();
        _beds.Add(bed);
        // The sender is the one thing every copy keeps as it was (the cleaned copy's body is rewritten).
        bed.Enqueue(kind == "infected" ? Eicar : "an ordinary message", sender: $"{marker}@example.org");
        var cuts = new List<DurableState> { DurableState.Keep(bed, Path.Combine(_cuts.Path, "00-before-start")) };

        await using (var gateway = await HostedGateway.StartAsync(bed.Settings(coordinators: 1), adjustWorkspace: (system, workspace) =>
        {
            var barrier = new DurabilityBarrier([bed.Outgoing, bed.Quarantine, bed.Work, bed.State], beforeFlush: () =>
            {
                lock (cuts) cuts.Add(DurableState.Keep(bed, Path.Combine(_cuts.Path, $"{cuts.Count:00}-barrier")));
            });
            system.RegisterOnTermination(barrier.Dispose);
            return workspace with
            {
                Outgoing = new QueueDirectoryWriter(bed.Outgoing, barrier, workspace.Format.Outgoing),
                Quarantine = new QuarantineStore(bed.Quarantine, barrier),
            };
        }))
        {
            var journal = ActorRegistry.For(gateway.System).Get<MessageJournal>();
            await Eventually.Holds(async () => !GatewayTestbed.AllEntries(bed.Incoming).Any() && !GatewayTestbed.AllEntries(bed.Work).Any()
                                               && (await journal.Ask<Size>(GetSize.Instance, Answer)).Messages == 0,
                Patience, "the message to be delivered, its original removed and the journal to forget it");
        }
        cuts.Add(DurableState.Keep(bed, Path.Combine(_cuts.Path, $"{cuts.Count:00}-after-stop")));
        AssertWrittenOnce(bed, marker, outgoingCopies, quarantined, "the uninterrupted run");

        var states = new List<(string Name, DurableState Queues, DurableState Journal)>();
        for (var i = 0; i < cuts.Count; i++)
        {
            states.Add((cuts[i].Name, cuts[i], cuts[i]));
            if (i + 1 == cuts.Count) continue;
            states.Add(($"queues of {cuts[i + 1].Name}, journal of {cuts[i].Name}", cuts[i + 1], cuts[i]));
            states.Add(($"queues of {cuts[i].Name}, journal of {cuts[i + 1].Name}", cuts[i], cuts[i + 1]));
        }
        // Each state goes back into the same directories: the journal names its staged copies by path.
        foreach (var (name, queues, journalState) in states)
        {
            queues.RestoreQueuesInto(bed);
            journalState.RestoreJournalInto(bed);
            await using (var recovering = await HostedGateway.StartAsync(bed.Settings(coordinators: 1), hocon: "akka.loglevel = INFO"))
            {
                await Eventually.Holds(() => !GatewayTestbed.AllEntries(bed.Incoming).Any() && !GatewayTestbed.AllEntries(bed.Work).Any(),
                    Patience, () => $"the gateway started after a cut ({name}) to finish the message; its log:{Environment.NewLine}{recovering.Log.All()}");
            }
            AssertWrittenOnce(bed, marker, outgoingCopies, quarantined, $"a cut keeping {name}; states kept:{Environment.NewLine}{string.Join(Environment.NewLine, cuts.Select(c => c.Describe()))}");
        }
        // Stage, record, rename, unlink: at least one round for each barrier between them.
        Assert.True(cuts.Count >= 6, $"expected a round for each of B1-B4, kept {cuts.Count - 2}");
    }

    private static void AssertWrittenOnce(GatewayTestbed bed, string marker, int outgoingCopies, int quarantined, string after)
    {
        var outgoing = GatewayTestbed.AllEntries(bed.Outgoing).ToList();
        Assert.True(outgoing.Count == outgoingCopies && outgoing.All(f => ZMailerQueueFile.IsQueueFileName(Path.GetFileName(f)) && File.ReadAllText(f).Contains(marker)),
            $"after {after}: expected {outgoingCopies} outgoing copy, found [{string.Join(", ", outgoing.Select(Path.GetFileName))}]");
        var entries = new QuarantineStore(bed.Quarantine).List().ToList();
        Assert.True(entries.Count == quarantined, $"after {after}: expected {quarantined} quarantine entries, found {entries.Count}");
        Assert.Empty(GatewayTestbed.AllEntries(bed.Bad));
    }

    /// <summary>What a power cut at one instant keeps: the queue directories' entries (hard links) and the journal's files (copies).</summary>
    private sealed record DurableState(string Name, string Root)
    {
        private static readonly string[] QueueDirectories = ["router", "work", "outgoing", "quarantine", "bad"];

        /// <remarks>
        /// The gateway goes on renaming while a round's state is kept (the cleaned copy's delivery and the original's
        /// quarantine run side by side), and linking a tree entry by entry is not atomic: it could keep a directory
        /// under its old name and its files under the new one, a state no power cut leaves. So the queues are linked
        /// again until the trees listed before and after the linking are the same and the linked tree is that listing.
        /// </remarks>
        public static DurableState Keep(GatewayTestbed bed, string root)
        {
            var queues = QueueDirectories.Zip([bed.Incoming, bed.Work, bed.Outgoing, bed.Quarantine, bed.Bad], (name, directory) => (Name: name, Directory: directory)).ToList();
            for (var attempt = 1; ; attempt++)
            {
                var before = queues.Select(q => Listing(q.Directory)).ToList();
                foreach (var (name, directory) in queues) LinkTree(directory, Path.Combine(root, name));
                var after = queues.Select(q => Listing(q.Directory)).ToList();
                var kept = queues.Select(q => Listing(Path.Combine(root, q.Name))).ToList();
                if (before.SequenceEqual(after) && after.SequenceEqual(kept)) break;
                if (attempt == 100) throw new IOException($"the queues under {bed.Incoming}/.. kept changing while their state was kept");
                Directory.Delete(root, recursive: true);
            }
            var state = Directory.CreateDirectory(Path.Combine(root, "state")).FullName;
            // The shared-memory index is rebuilt from the log when SQLite opens the file; it is never durable state.
            foreach (var file in Directory.EnumerateFiles(bed.State).Where(f => !f.EndsWith("-shm", StringComparison.Ordinal)))
                File.Copy(file, Path.Combine(state, Path.GetFileName(file)));
            return new DurableState(Path.GetFileName(root), root);
        }

        public string Describe() => $"{Name}: " + string.Join(" ", Directory.EnumerateFiles(Root, "*", SearchOption.AllDirectories)
            .Select(f => $"{Path.GetRelativePath(Root, f)}({new FileInfo(f).Length})"));

        public void RestoreQueuesInto(GatewayTestbed bed)
        {
            foreach (var (name, directory) in QueueDirectories.Zip([bed.Incoming, bed.Work, bed.Outgoing, bed.Quarantine, bed.Bad]))
            {
                Directory.Delete(directory, recursive: true);
                LinkTree(Path.Combine(Root, name), directory);
            }
        }

        public void RestoreJournalInto(GatewayTestbed bed)
        {
            // Pooled connections of the gateway run before would go on reading the file this replaces.
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            foreach (var file in Directory.EnumerateFiles(bed.State)) File.Delete(file);
            foreach (var file in Directory.EnumerateFiles(Path.Combine(Root, "state")))
                File.Copy(file, Path.Combine(bed.State, Path.GetFileName(file)));
        }

        /// <summary>Every directory and file under <paramref name="root"/>, by relative path, with its inode (a file's identity), as one string.</summary>
        private static string Listing(string root)
        {
            if (!Directory.Exists(root)) return "";
            return string.Join("\n", Directory.EnumerateFileSystemEntries(root, "*", SearchOption.AllDirectories)
                .Select(entry => (Path: Path.GetRelativePath(root, entry), Identity: Directory.Exists(entry) ? "dir" : Inode(entry)))
                .OrderBy(e => e.Path, StringComparer.Ordinal)
                .Select(e => $"{e.Path} {e.Identity}"));

            static string Inode(string file) => NativeFile.TryLStat(file)?.Inode.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "gone";
        }

        /// <summary>Every file under <paramref name="from"/> linked at the same place under <paramref name="to"/>: the same inodes, so the same identities.</summary>
        private static void LinkTree(string from, string to)
        {
            Directory.CreateDirectory(to);
            foreach (var directory in Directory.EnumerateDirectories(from, "*", SearchOption.AllDirectories))
                Directory.CreateDirectory(Path.Combine(to, Path.GetRelativePath(from, directory)));
            foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
            {
                var target = Path.Combine(to, Path.GetRelativePath(from, file));
                if (Link(file, target) != 0)
                    throw new IOException($"link {file} -> {target}: errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}");
            }
        }

        [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "link", SetLastError = true)]
        private static extern int Link([System.Runtime.InteropServices.MarshalAs(System.Runtime.InteropServices.UnmanagedType.LPUTF8Str)] string existing,
            [System.Runtime.InteropServices.MarshalAs(System.Runtime.InteropServices.UnmanagedType.LPUTF8Str)] string created);
    }
}
