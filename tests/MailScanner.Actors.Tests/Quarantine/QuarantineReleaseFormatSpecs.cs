using System.Text;
using MailScanner.Actors.Delivery;
using MailScanner.Actors.Identity;
using MailScanner.Actors.Quarantine;
using MailScanner.Actors.Queue;
using MailScanner.Actors.Queue.Exim;
using MailScanner.Actors.Queue.Postfix;
using MailScanner.Actors.Queue.Sendmail;
using MailScanner.Actors.Tests.TestSupport;
using Xunit;

namespace MailScanner.Actors.Tests.Quarantine;

/// <summary>
/// Release through each MTA's queue format: a message the gateway claimed from the MTA's incoming queue and quarantined
/// goes back into the outgoing queue exactly as the format's delivery writes it (names, subdirectories, companion files,
/// mode), once, also when a crash stops the release after any of its steps.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class QuarantineReleaseFormatSpecs : IDisposable
{
    private static readonly DateTime Noon = new(2025, 1, 31, 12, 0, 0, DateTimeKind.Utc);
    private static readonly QueueEnvelope Envelope = new("alice@example.org", ["bob@example.net", "carol@example.com"]);
    private static readonly byte[] Message = Encoding.ASCII.GetBytes(
        "From: alice@example.org\r\nSubject: invoice\r\n\r\nX5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*\r\n");

    private readonly TempDirectory _temp = new();
    private readonly QuarantineStore _store;

    public QuarantineReleaseFormatSpecs() => _store = new QuarantineStore(_temp.File("quarantine"));

    public void Dispose() => _temp.Dispose();

    public static TheoryData<string> Formats => ["postfix", "postfix-hashed", "exim", "exim-split", "sendmail"];

    /// <summary>A release that crashes after the first step <paramref name="crashAfter"/> holds for.</summary>
    private async Task ReleaseCrashingAfterAsync(string id, Queues queues, Func<QuarantineStore.ReleaseStep, bool> crashAfter)
    {
        _store.AfterReleaseStep = step =>
        {
            if (crashAfter(step)) throw new SimulatedCrash();
        };
        await Assert.ThrowsAsync<SimulatedCrash>(() => _store.ReleaseAsync(id, queues.Outgoing, queues.Format));
        _store.AfterReleaseStep = null;
    }

    [Theory]
    [MemberData(nameof(Formats))]
    public async Task Should_release_what_the_formats_delivery_writes_for_the_original_once(string name)
    {
        var queues = Queues.For(name, _temp);
        var (stored, expected) = await QuarantineAsync(queues);

        var released = Assert.IsType<ReleaseOutcome.Released>(await _store.ReleaseAsync(stored.Id, queues.Outgoing, queues.Format));

        Assert.False(released.Recovered);
        AssertReleasedOnce(queues, released, expected);
        var again = Assert.IsType<ReleaseOutcome.Refused>(await _store.ReleaseAsync(stored.Id, queues.Outgoing, queues.Format));
        Assert.Contains("already released", again.Reason);
        AssertReleasedOnce(queues, released, expected);
        Assert.Equal(released.OutgoingPath, _store.TryGet(stored.Id)!.Release!.OutgoingPath);
    }

    public static TheoryData<string, QuarantineStore.ReleaseStep> FormatsAndSteps()
    {
        var data = new TheoryData<string, QuarantineStore.ReleaseStep>();
        foreach (var format in new[] { "zmailer", "postfix-hashed", "exim-split", "sendmail" })
        foreach (var step in Enum.GetValues<QuarantineStore.ReleaseStep>())
            data.Add(format, step);
        return data;
    }

    [Theory]
    [MemberData(nameof(FormatsAndSteps))]
    public async Task Should_complete_a_release_that_crashed_after_a_step_exactly_once(string name, QuarantineStore.ReleaseStep crashedAfter)
    {
        var queues = Queues.For(name, _temp);
        var (stored, expected) = await QuarantineAsync(queues);
        await ReleaseCrashingAfterAsync(stored.Id, queues, step => step == crashedAfter);

        var outcome = await ReleaseAfterCrashAsync(stored.Id, queues);

        if (crashedAfter == QuarantineStore.ReleaseStep.Recorded)
        {
            Assert.Contains("already released", Assert.IsType<ReleaseOutcome.Refused>(outcome).Reason);
            Assert.False(File.Exists(Path.Combine(stored.Directory, "release-intent.json")));
            var recorded = _store.TryGet(stored.Id)!.Release!;
            AssertReleasedOnce(queues, new ReleaseOutcome.Released(recorded.OutgoingPath, recorded.OutgoingIdentity, recorded.Recovered), expected);
            return;
        }
        var released = Assert.IsType<ReleaseOutcome.Released>(outcome is ReleaseOutcome.Refused refused ? throw new Xunit.Sdk.XunitException($"refused: {refused.Reason}") : outcome);
        Assert.Equal(crashedAfter == QuarantineStore.ReleaseStep.Published, released.Recovered);
        AssertReleasedOnce(queues, released, expected);
        Assert.False(File.Exists(Path.Combine(stored.Directory, "release-intent.json")));
        Assert.IsType<ReleaseOutcome.Refused>(await _store.ReleaseAsync(stored.Id, queues.Outgoing, queues.Format));
        AssertReleasedOnce(queues, released, expected);
    }

    [Theory]
    [InlineData("exim-split")]
    [InlineData("sendmail")]
    public async Task Should_publish_the_primary_of_a_release_that_crashed_after_renaming_its_companions(string name)
    {
        var queues = Queues.For(name, _temp);
        var (stored, expected) = await QuarantineAsync(queues);
        await ReleaseCrashingAfterAsync(stored.Id, queues, step => step == QuarantineStore.ReleaseStep.IntentRecorded);
        // What a crash inside step 3 leaves: the companion renamed into place, the primary still under its temp name.
        using var intent = System.Text.Json.JsonDocument.Parse(File.ReadAllBytes(Path.Combine(stored.Directory, "release-intent.json")));
        var finalName = intent.RootElement.GetProperty("finalName").GetString()!;
        var companion = Assert.Single(queues.Format.Outgoing.CompanionNamesOf(finalName));
        queues.Format.Outgoing.PrepareToPublish(queues.Outgoing, companion);
        File.Move(Path.Combine(queues.Outgoing, $"tf-quarantine-{stored.Id}+1"), Path.Combine(queues.Outgoing, companion));

        var released = Assert.IsType<ReleaseOutcome.Released>(await ReleaseAfterCrashAsync(stored.Id, queues));

        Assert.False(released.Recovered);
        AssertReleasedOnce(queues, released, expected);
    }

    [Theory]
    [InlineData("postfix")]
    [InlineData("exim")]
    [InlineData("sendmail")]
    public async Task Should_not_write_again_when_the_mta_took_a_release_that_crashed_before_being_recorded(string name)
    {
        var queues = Queues.For(name, _temp);
        var (stored, _) = await QuarantineAsync(queues);
        await ReleaseCrashingAfterAsync(stored.Id, queues, step => step == QuarantineStore.ReleaseStep.Published);
        foreach (var file in QueueFiles(queues.Outgoing)) File.Delete(file); // delivered and removed by the MTA

        var released = Assert.IsType<ReleaseOutcome.Released>(await ReleaseAfterCrashAsync(stored.Id, queues));

        Assert.True(released.Recovered);
        Assert.Empty(QueueFiles(queues.Outgoing));
        Assert.NotNull(_store.TryGet(stored.Id)!.Release);
    }

    [Theory]
    [InlineData("exim")]
    [InlineData("sendmail")]
    public async Task Should_refuse_an_entry_stored_without_the_lengths_of_its_files_and_write_nothing(string name)
    {
        var queues = Queues.For(name, _temp);
        var parsed = ClaimIncoming(queues);
        // As the quarantine stored such entries before it recorded the format and the files' lengths.
        var stored = await _store.StoreAsync(parsed.Original, QuarantineStoreSpecs.Metadata(Noon));

        var refused = Assert.IsType<ReleaseOutcome.Refused>(await _store.ReleaseAsync(stored.Id, queues.Outgoing, queues.Format));

        Assert.Contains("partLengths", refused.Reason);
        Assert.Contains("nothing was written", refused.Reason);
        Assert.Empty(Directory.GetFileSystemEntries(queues.Outgoing, "*", SearchOption.AllDirectories));
        Assert.Null(_store.TryGet(stored.Id)!.Release);
    }

    [Fact]
    public async Task Should_refuse_to_release_an_entry_quarantined_from_another_mtas_queue()
    {
        var exim = Queues.For("exim", _temp);
        var (stored, _) = await QuarantineAsync(exim);
        var postfix = Queues.For("postfix", _temp);

        var refused = Assert.IsType<ReleaseOutcome.Refused>(await _store.ReleaseAsync(stored.Id, postfix.Outgoing, postfix.Format));

        Assert.Contains("quarantined from a exim queue, and mailscanner.queue.format is postfix", refused.Reason);
        Assert.Empty(Directory.GetFileSystemEntries(postfix.Outgoing, "*", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task Should_record_the_format_and_the_lengths_of_the_entrys_files_at_quarantine_time()
    {
        var queues = Queues.For("exim", _temp);
        var parsed = ClaimIncoming(queues);

        var (stored, _) = await QuarantineAsync(queues);

        var metadata = _store.TryGet(stored.Id)!.Metadata;
        Assert.Equal("exim", metadata.QueueFormat);
        Assert.Equal(parsed.OriginalPartLengths, metadata.PartLengths);
        Assert.Equal(2, metadata.PartLengths!.Count);
        Assert.Equal(parsed.Original.ToArray(), await File.ReadAllBytesAsync(stored.QueueFilePath)); // -H then -D, as claimed
    }

    /// <summary>
    /// The release after a simulated crash. The crashed attempt closed its flock on the entry, but a process another spec
    /// forks meanwhile (an MTA's delivery run, the command line) holds a copy of every open descriptor from its fork to its
    /// exec, that lock among them: a real crash's process is gone, so only that passing "busy" is waited out, nothing else.
    /// </summary>
    private async Task<ReleaseOutcome> ReleaseAfterCrashAsync(string id, Queues queues)
    {
        ReleaseOutcome? outcome = null;
        await Eventually.Holds(async () =>
        {
            outcome = await _store.ReleaseAsync(id, queues.Outgoing, queues.Format);
            return outcome is not ReleaseOutcome.Refused { Reason: var reason } || !reason.Contains("is busy", StringComparison.Ordinal);
        }, TimeSpan.FromSeconds(10), () => $"the entry to be free again after the crash (last: {outcome})");
        return outcome!;
    }

    /// <summary>
    /// Queues a message as the MTA does, claims it as the gateway does, and quarantines the original as the delivery
    /// does (with the format and the lengths of its files); returns the entry and what the format's delivery would write.
    /// </summary>
    private async Task<(QuarantineEntry Stored, Released Expected)> QuarantineAsync(Queues queues)
    {
        var parsed = ClaimIncoming(queues);
        var stored = await _store.StoreAsync(parsed.Original,
            QuarantineStoreSpecs.Metadata(Noon) with { QueueFormat = queues.Format.Name, PartLengths = parsed.OriginalPartLengths });
        return (stored, new Released(queues.Format.ComposeOutgoing(parsed, parsed.Message.Span), parsed.Message.ToArray()));
    }

    private static QueueFileParse.Parsed ClaimIncoming(Queues queues)
    {
        if (!Directory.EnumerateFileSystemEntries(queues.Incoming, "*", SearchOption.AllDirectories).Any())
            queues.Format.WriteIncomingEntry(queues.Incoming, Envelope, Message);
        var primary = Assert.Single(queues.Format.CandidateEntries(queues.Incoming), path => queues.Format.IsQueueFileName(Path.GetFileName(path)));
        return ReadEntry(queues.Format, primary);
    }

    private static QueueFileParse.Parsed ReadEntry(IQueueFormat format, string primary) =>
        Assert.IsType<QueueFileParse.Parsed>(format.ParseEntry(new QueueEntryContent(File.ReadAllBytes(primary),
            format.CompanionPathsOf(primary).Select(path => (ReadOnlyMemory<byte>)File.ReadAllBytes(path)).ToList())));

    /// <summary>
    /// The outgoing queue holds the released entry and nothing else: under the format's names, each file what the
    /// delivery composes for the claimed message (where the format names an entry by an id written in it, Exim and
    /// Sendmail, under a new id of its own, not the one the cleaned copy was delivered under), at the format's mode,
    /// read back by the format's reader as the original's envelope and message.
    /// </summary>
    private static void AssertReleasedOnce(Queues queues, ReleaseOutcome.Released released, Released expected)
    {
        var relative = Path.GetRelativePath(queues.Outgoing, released.OutgoingPath);
        var (newId, claimedId) = ("", "");
        if (expected.Entry.FinalName is { } claimedName)
        {
            (newId, claimedId) = (IdOf(relative), IdOf(claimedName));
            Assert.NotEqual(claimedId, newId);
            Assert.Equal(Path.GetFileName(claimedName).Replace(claimedId, newId, StringComparison.Ordinal), Path.GetFileName(relative));
            // With Exim's split spool, in the new id's subdirectory.
            if (Path.GetDirectoryName(claimedName) is { Length: > 0 }) Assert.Equal(EximMessageId.SplitDirectory(newId).ToString(), Path.GetDirectoryName(relative));
        }
        byte[] WithClaimedId(string path) => newId.Length == 0 ? File.ReadAllBytes(path) : Encoding.Latin1.GetBytes(File.ReadAllText(path, Encoding.Latin1).Replace(newId, claimedId, StringComparison.Ordinal));
        var companions = queues.Format.Outgoing.CompanionNamesOf(relative).Select(name => Path.Combine(queues.Outgoing, name)).ToList();
        Assert.Equal([released.OutgoingPath, .. companions], QueueFiles(queues.Outgoing).OrderBy(path => path == released.OutgoingPath ? 0 : 1));

        Assert.True(queues.Format.IsQueueFileName(Path.GetFileName(released.OutgoingPath)), released.OutgoingPath);
        var identity = NativeFile.TryGetIdentity(released.OutgoingPath)!.Value;
        Assert.True(queues.Format.NameMatches(Path.GetFileName(released.OutgoingPath), identity));
        Assert.Equal(identity.Key, released.OutgoingIdentity);
        Assert.Equal(expected.Entry.Primary.ToArray(), WithClaimedId(released.OutgoingPath));
        Assert.Equal(expected.Entry.Companions.Select(c => c.ToArray()), companions.Select(WithClaimedId));
        Assert.All([released.OutgoingPath, .. companions], path => Assert.Equal(queues.Mode, File.GetUnixFileMode(path)));

        var readBack = ReadEntry(queues.Format, released.OutgoingPath);
        Assert.Equal(Envelope.Sender, readBack.Envelope.Sender);
        Assert.Equal(Envelope.Recipients, readBack.Envelope.Recipients);
        Assert.Equal(expected.Message, readBack.Message.ToArray());
        var recomposed = queues.Format.ComposeOutgoing(readBack, readBack.Message.Span);
        Assert.Equal(recomposed.Primary.ToArray(), File.ReadAllBytes(released.OutgoingPath));
        Assert.Equal(recomposed.Companions.Select(c => c.ToArray()), companions.Select(File.ReadAllBytes));
    }

    /// <summary>The id in an Exim <c>&lt;id&gt;-H</c> or a Sendmail <c>qf&lt;id&gt;</c> name.</summary>
    private static string IdOf(string primaryName)
    {
        var name = Path.GetFileName(primaryName);
        return name.EndsWith("-H", StringComparison.Ordinal) ? name[..^2] : name[2..];
    }

    /// <summary>What the format's delivery writes for the claimed message, and that message as the MTA queued it.</summary>
    private sealed record Released(OutgoingEntry Entry, byte[] Message);

    private static List<string> QueueFiles(string directory) => Directory.GetFiles(directory, "*", SearchOption.AllDirectories).ToList();

    private sealed class SimulatedCrash : Exception;

    /// <summary>A format with the incoming queue it is claimed from and the outgoing queue it writes, and the mode it gives its files there.</summary>
    private sealed record Queues(IQueueFormat Format, string Incoming, string Outgoing, UnixFileMode Mode)
    {
        private const UnixFileMode Rwx = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        private const UnixFileMode Rw = UnixFileMode.UserRead | UnixFileMode.UserWrite;

        public static Queues For(string name, TempDirectory temp)
        {
            var root = Directory.CreateDirectory(temp.File(name)).FullName;
            string Made(string relative) => Directory.CreateDirectory(Path.Combine(root, relative)).FullName;
            switch (name)
            {
                case "zmailer":
                    return new Queues(ZMailerFormat.Instance, Made("router"), Made("outgoing"), Rw);
                case "postfix":
                case "postfix-hashed":
                {
                    var hashed = name == "postfix-hashed";
                    var layout = new PostfixQueueLayout(root, LongQueueIds: hashed, HashQueueNames: hashed ? "hold, incoming" : PostfixQueueLayout.DefaultHashQueueNames,
                        HashQueueDepth: hashed ? 2 : 1, MailOwner: "nobody");
                    Made("public");
                    return new Queues(new PostfixFormat(layout), Made("hold"), Made("incoming"), Rwx);
                }
                case "exim":
                case "exim-split":
                    return new Queues(new EximFormat(new EximQueueOptions(name == "exim-split", "root", [])), Made("receiving/input"), Made("delivering/input"),
                        Rw | UnixFileMode.GroupRead);
                case "sendmail":
                    return new Queues(new SendmailFormat(new SendmailQueueOptions("root", [])), Made("receiving"), Made("delivering"), Rw);
                default:
                    throw new ArgumentException($"no queues for {name}", nameof(name));
            }
        }
    }
}
