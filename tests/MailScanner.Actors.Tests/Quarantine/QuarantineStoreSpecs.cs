using System.Globalization;
using MailScanner.Actors.Identity;
using MailScanner.Actors.Quarantine;
using MailScanner.Actors.Queue.ZMailer;
using MailScanner.Actors.Scanning;
using MailScanner.Actors.Tests.TestSupport;
using Xunit;

namespace MailScanner.Actors.Tests.Quarantine;

public sealed class QuarantineStoreSpecs : IDisposable
{
    private const UnixFileMode OwnerOnlyDirectory = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode OwnerOnlyFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private static readonly DateTime Noon = new(2025, 1, 31, 12, 0, 0, DateTimeKind.Utc);

    private readonly TempDirectory _temp = new();
    private readonly string _outgoing;
    private readonly QuarantineStore _store;

    public QuarantineStoreSpecs()
    {
        _outgoing = _temp.File("outgoing");
        Directory.CreateDirectory(_outgoing);
        _store = new QuarantineStore(_temp.File("quarantine"));
    }

    public void Dispose() => _temp.Dispose();

    internal static byte[] QueueFile(string subject = "hello") => ZMailerQueueFile.Format(
        new Envelope("alice@example.org", ["bob@example.net", "carol@example.com"], "mail.example.org [192.0.2.7]", ["via smtp"]),
        System.Text.Encoding.UTF8.GetBytes($"From: alice@example.org\r\nSubject: {subject}\r\n\r\nX5O!P%@AP[4\\PZX54(P^)7CC)7}}$EICAR\r\n"));

    internal static QuarantineMetadata Metadata(DateTime time, VerdictKind verdict = VerdictKind.Infected, string queueId = "12345") =>
        new(time, queueId, "803-12345-5eed", "alice@example.org", ["bob@example.net", "carol@example.com"], verdict, ["EICAR test file in part 1"]);

    [Fact]
    public async Task Should_store_the_original_untouched_and_find_it_by_list_and_by_id()
    {
        var original = QueueFile();

        var stored = await _store.StoreAsync(original, Metadata(Noon));

        Assert.True(QuarantineId.IsValid(stored.Id), stored.Id);
        Assert.Equal(Path.Combine(_store.Directory, "20250131", stored.Id), stored.Directory);
        Assert.Equal(original, await File.ReadAllBytesAsync(stored.QueueFilePath));
        Assert.Equal(["metadata.json", "queue-file"], Directory.GetFiles(stored.Directory).Select(Path.GetFileName).Order());

        var listed = Assert.Single(_store.List());
        var got = _store.TryGet(stored.Id);
        foreach (var entry in new[] { listed, got! })
        {
            Assert.Equal(stored.Id, entry.Id);
            Assert.Equal(Noon, entry.Metadata.TimeUtc);
            Assert.Equal(DateTimeKind.Utc, entry.Metadata.TimeUtc.Kind);
            Assert.Equal("12345", entry.Metadata.QueueId);
            Assert.Equal("803-12345-5eed", entry.Metadata.OriginalIdentity);
            Assert.Equal("alice@example.org", entry.Metadata.Sender);
            Assert.Equal(["bob@example.net", "carol@example.com"], entry.Metadata.Recipients);
            Assert.Equal(VerdictKind.Infected, entry.Metadata.Verdict);
            Assert.Equal(["EICAR test file in part 1"], entry.Metadata.Reasons);
            Assert.Null(entry.Release);
        }
        var json = await File.ReadAllTextAsync(stored.MetadataPath);
        Assert.Contains($"\"id\": \"{stored.Id}\"", json);
        Assert.Contains("\"verdict\": \"Infected\"", json);
    }

    [Fact]
    public async Task Should_filter_by_since_and_by_verdict()
    {
        var old = await _store.StoreAsync(QueueFile(), Metadata(Noon.AddDays(-3), VerdictKind.Spam));
        var morning = await _store.StoreAsync(QueueFile(), Metadata(Noon.AddHours(-3), VerdictKind.Infected));
        var afternoon = await _store.StoreAsync(QueueFile(), Metadata(Noon.AddHours(3), VerdictKind.Spam));

        Assert.Equal([old.Id, morning.Id, afternoon.Id], _store.List().Select(e => e.Id));
        Assert.Equal([morning.Id, afternoon.Id], _store.List(sinceUtc: Noon.Date).Select(e => e.Id));
        Assert.Equal([afternoon.Id], _store.List(sinceUtc: Noon).Select(e => e.Id));
        Assert.Equal([old.Id, afternoon.Id], _store.List(verdict: VerdictKind.Spam).Select(e => e.Id));
        Assert.Equal([afternoon.Id], _store.List(Noon.Date, VerdictKind.Spam).Select(e => e.Id));
        Assert.Empty(_store.List(verdict: VerdictKind.HighSpam));
    }

    [Fact]
    public async Task Should_keep_the_quarantine_owner_only()
    {
        if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException("the quarantine is Linux-only");
        var stored = await _store.StoreAsync(QueueFile(), Metadata(Noon));

        foreach (var directory in new[] { _store.Directory, Path.GetDirectoryName(stored.Directory)!, stored.Directory })
            Assert.Equal(OwnerOnlyDirectory, File.GetUnixFileMode(directory));
        Assert.Equal(OwnerOnlyFile, File.GetUnixFileMode(stored.QueueFilePath));
        Assert.Equal(OwnerOnlyFile, File.GetUnixFileMode(stored.MetadataPath));

        await _store.ReleaseAsync(stored.Id, _outgoing);
        Assert.Equal(OwnerOnlyFile, File.GetUnixFileMode(stored.MetadataPath)); // also after the release rewrote it
    }

    [Fact]
    public async Task Should_release_exactly_one_outgoing_file_named_by_its_inode_holding_the_original()
    {
        var original = QueueFile();
        var stored = await _store.StoreAsync(original, Metadata(Noon));

        var released = Assert.IsType<ReleaseOutcome.Released>(await _store.ReleaseAsync(stored.Id, _outgoing));

        var file = Assert.Single(Directory.GetFiles(_outgoing));
        Assert.Equal(file, released.OutgoingPath);
        Assert.Equal(original, await File.ReadAllBytesAsync(file));
        var identity = NativeFile.TryGetIdentity(file)!.Value;
        Assert.Equal(identity.Inode.ToString(CultureInfo.InvariantCulture), Path.GetFileName(file));
        Assert.Equal(identity.Key, released.OutgoingIdentity);
        Assert.False(released.Recovered);

        var entry = _store.TryGet(stored.Id)!;
        Assert.Equal(file, entry.Release!.OutgoingPath);
        Assert.Equal(identity.Key, entry.Release.OutgoingIdentity);
        Assert.Equal(original, await File.ReadAllBytesAsync(entry.QueueFilePath)); // the quarantine keeps its copy
        Assert.False(File.Exists(Path.Combine(stored.Directory, "release-intent.json")));
    }

    [Fact]
    public async Task Should_refuse_a_second_release_and_write_nothing()
    {
        var stored = await _store.StoreAsync(QueueFile(), Metadata(Noon));
        var first = Assert.IsType<ReleaseOutcome.Released>(await _store.ReleaseAsync(stored.Id, _outgoing));
        var mtaTookIt = Path.Combine(_temp.Path, "delivered");
        File.Move(first.OutgoingPath, mtaTookIt); // the MTA may have consumed it already: that must not matter

        var second = Assert.IsType<ReleaseOutcome.Refused>(await _store.ReleaseAsync(stored.Id, _outgoing));

        Assert.Contains("already released", second.Reason);
        Assert.Contains(first.OutgoingPath, second.Reason);
        Assert.Empty(Directory.GetFileSystemEntries(_outgoing));
    }

    [Fact]
    public async Task Should_only_record_a_release_that_crashed_after_publishing_its_file()
    {
        var original = QueueFile();
        var stored = await _store.StoreAsync(original, Metadata(Noon));
        // The state a crash between step 3 (rename to the inode) and step 4 (record) leaves: the file is in the
        // outgoing queue, the intent names its temp (gone now) and identity, the metadata knows nothing.
        var (published, identity) = ZMailerQueueWriter.WriteDurably(_outgoing, original);
        WriteIntent(stored, identity);

        var outcome = Assert.IsType<ReleaseOutcome.Released>(await _store.ReleaseAsync(stored.Id, _outgoing));

        Assert.Equal(published, Assert.Single(Directory.GetFiles(_outgoing)));
        Assert.Equal(published, outcome.OutgoingPath);
        Assert.True(outcome.Recovered);
        Assert.True(_store.TryGet(stored.Id)!.Release!.Recovered);
        Assert.False(File.Exists(Path.Combine(stored.Directory, "release-intent.json")));
        Assert.IsType<ReleaseOutcome.Refused>(await _store.ReleaseAsync(stored.Id, _outgoing));
        Assert.Single(Directory.GetFiles(_outgoing));
    }

    [Fact]
    public async Task Should_not_write_again_when_the_mta_already_took_a_release_that_crashed_before_being_recorded()
    {
        var stored = await _store.StoreAsync(QueueFile(), Metadata(Noon));
        var (published, identity) = ZMailerQueueWriter.WriteDurably(_outgoing, QueueFile());
        WriteIntent(stored, identity);
        File.Delete(published); // delivered and removed by the MTA before anyone retried

        Assert.IsType<ReleaseOutcome.Released>(await _store.ReleaseAsync(stored.Id, _outgoing));

        Assert.Empty(Directory.GetFileSystemEntries(_outgoing));
        Assert.NotNull(_store.TryGet(stored.Id)!.Release);
    }

    [Fact]
    public async Task Should_publish_the_temp_of_a_release_that_crashed_before_renaming_it()
    {
        var original = QueueFile();
        var stored = await _store.StoreAsync(original, Metadata(Noon));
        var temp = Path.Combine(_outgoing, $"tf-quarantine-{stored.Id}");
        await File.WriteAllBytesAsync(temp, original);
        WriteIntent(stored, NativeFile.TryGetIdentity(temp)!.Value);

        var outcome = Assert.IsType<ReleaseOutcome.Released>(await _store.ReleaseAsync(stored.Id, _outgoing));

        var file = Assert.Single(Directory.GetFiles(_outgoing));
        Assert.Equal(outcome.OutgoingPath, file);
        Assert.Equal(NativeFile.TryGetIdentity(file)!.Value.Inode.ToString(CultureInfo.InvariantCulture), Path.GetFileName(file));
        Assert.Equal(original, await File.ReadAllBytesAsync(file));
        Assert.False(outcome.Recovered);
    }

    [Fact]
    public async Task Should_write_afresh_when_a_release_crashed_before_recording_its_intent()
    {
        var original = QueueFile();
        var stored = await _store.StoreAsync(original, Metadata(Noon));
        var fragment = Path.Combine(_outgoing, $"tf-quarantine-{stored.Id}");
        await File.WriteAllBytesAsync(fragment, original.AsMemory(0, 10)); // half written, never published

        var outcome = Assert.IsType<ReleaseOutcome.Released>(await _store.ReleaseAsync(stored.Id, _outgoing));

        Assert.Equal(outcome.OutgoingPath, Assert.Single(Directory.GetFiles(_outgoing)));
        Assert.Equal(original, await File.ReadAllBytesAsync(outcome.OutgoingPath));
    }

    [Fact]
    public async Task Should_refuse_a_release_while_another_holds_the_entry()
    {
        var stored = await _store.StoreAsync(QueueFile(), Metadata(Noon));
        using var other = NativeFile.OpenDirectory(stored.Directory);
        Assert.True(NativeFile.TryLockExclusive(other));

        var outcome = Assert.IsType<ReleaseOutcome.Refused>(await _store.ReleaseAsync(stored.Id, _outgoing));

        Assert.Contains("busy", outcome.Reason);
        Assert.Empty(Directory.GetFileSystemEntries(_outgoing));
    }

    [Fact]
    public async Task Should_refuse_a_release_into_a_missing_outgoing_directory()
    {
        var stored = await _store.StoreAsync(QueueFile(), Metadata(Noon));

        var outcome = Assert.IsType<ReleaseOutcome.Refused>(await _store.ReleaseAsync(stored.Id, _temp.File("nowhere")));

        Assert.Contains("does not exist", outcome.Reason);
        Assert.Null(_store.TryGet(stored.Id)!.Release);
    }

    [Fact]
    public async Task Should_delete_an_entry_and_nothing_else()
    {
        var doomed = await _store.StoreAsync(QueueFile(), Metadata(Noon));
        var kept = await _store.StoreAsync(QueueFile(), Metadata(Noon));

        Assert.True(await _store.DeleteAsync(doomed.Id));

        Assert.False(Directory.Exists(doomed.Directory));
        Assert.Null(_store.TryGet(doomed.Id));
        Assert.Equal([kept.Id], _store.List().Select(e => e.Id));
        Assert.Equal([kept.Id], Directory.GetFileSystemEntries(Path.GetDirectoryName(kept.Directory)!).Select(Path.GetFileName));
        Assert.False(await _store.DeleteAsync(doomed.Id));
        Assert.IsType<ReleaseOutcome.Refused>(await _store.ReleaseAsync(doomed.Id, _outgoing));
    }

    [Theory]
    [InlineData("")]
    [InlineData("..")]
    [InlineData("../20250131")]
    [InlineData("20250131/x")]
    [InlineData("20250131-120000-../../../../etc")]
    [InlineData("20250131-120000-0123456789ABCDEF")]
    [InlineData(" 20250131-120000-0123456789abcdef")]
    [InlineData("20250131-120000-0123456789abcde/")]
    [InlineData("20250131-120000-0123456789abcdef")] // well formed but unknown
    public async Task Should_reject_ids_that_are_malformed_or_unknown(string id)
    {
        var stored = await _store.StoreAsync(QueueFile(), Metadata(Noon));

        Assert.Null(_store.TryGet(id));
        var refused = Assert.IsType<ReleaseOutcome.Refused>(await _store.ReleaseAsync(id, _outgoing));
        Assert.False(await _store.DeleteAsync(id));

        Assert.Contains(QuarantineId.IsValid(id) ? "no quarantine entry" : "is not a quarantine id", refused.Reason);
        Assert.Empty(Directory.GetFileSystemEntries(_outgoing));
        Assert.NotNull(_store.TryGet(stored.Id));
    }

    [Fact]
    public async Task Should_neither_list_nor_find_an_entry_that_is_still_being_written()
    {
        var complete = await _store.StoreAsync(QueueFile(), Metadata(Noon));
        // What a crash in the middle of StoreAsync leaves: the entry under its temp name, the metadata missing.
        var id = QuarantineId.New(Noon);
        var storing = Path.Combine(_store.Directory, "20250131", $".tmp-{id}");
        Directory.CreateDirectory(storing);
        await File.WriteAllBytesAsync(Path.Combine(storing, "queue-file"), QueueFile());

        Assert.Equal([complete.Id], _store.List().Select(e => e.Id));
        Assert.Null(_store.TryGet(id));
        Assert.IsType<ReleaseOutcome.Refused>(await _store.ReleaseAsync(id, _outgoing));
    }

    [Fact]
    public void Should_list_nothing_when_the_quarantine_directory_does_not_exist_yet()
    {
        Assert.Empty(new QuarantineStore(_temp.File("never-created")).List());
    }

    [Fact]
    public void Should_generate_distinct_well_formed_ids_named_after_their_time()
    {
        var ids = Enumerable.Range(0, 1000).Select(_ => QuarantineId.New(Noon)).ToHashSet();

        Assert.Equal(1000, ids.Count);
        Assert.All(ids, id => Assert.True(QuarantineId.IsValid(id) && id.StartsWith("20250131-120000-", StringComparison.Ordinal), id));
    }

    /// <summary>Writes, as the release's step 2 would, the intent naming the temp and the identity it had.</summary>
    private void WriteIntent(QuarantineEntry entry, FileIdentity identity) =>
        File.WriteAllText(Path.Combine(entry.Directory, "release-intent.json"), $$"""
            {
              "outgoingDirectory": "{{_outgoing}}",
              "tempName": "tf-quarantine-{{entry.Id}}",
              "outgoingIdentity": "{{identity.Key}}",
              "inode": {{identity.Inode}},
              "startedUtc": "2025-01-31T12:00:01Z"
            }
            """);
}
