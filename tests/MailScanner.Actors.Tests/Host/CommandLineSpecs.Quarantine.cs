using System.Globalization;
using MailScanner.Actors.Identity;
using MailScanner.Actors.Quarantine;
using MailScanner.Actors.Scanning;
using MailScanner.Actors.Tests.Quarantine;
using Xunit;

namespace MailScanner.Actors.Tests.Host;

/// <summary>The <c>quarantine</c> commands, run as an operator runs them, against a store filled through the library.</summary>
public sealed partial class CommandLineSpecs
{
    private const string QuarantineConfig = """
        mailscanner.quarantine.directory = "spool/quarantine"
        mailscanner.queue.outgoing = "spool/outgoing"
        """;

    [Fact]
    public async Task Should_list_show_release_once_and_refuse_a_second_release_of_a_quarantined_message()
    {
        await File.WriteAllTextAsync(Path.Combine(_dir.FullName, "gateway.conf"), QuarantineConfig);
        var outgoing = Directory.CreateDirectory(Path.Combine(_dir.FullName, "spool/outgoing")).FullName;
        var store = new QuarantineStore(Path.Combine(_dir.FullName, "spool/quarantine"));
        var original = QuarantineStoreSpecs.QueueFile();
        var time = new DateTime(2025, 1, 31, 12, 0, 0, DateTimeKind.Utc);
        var infected = await store.StoreAsync(original, QuarantineStoreSpecs.Metadata(time, VerdictKind.Infected, queueId: "4711"));
        var spam = await store.StoreAsync(QuarantineStoreSpecs.QueueFile("buy"), QuarantineStoreSpecs.Metadata(time.AddHours(1), VerdictKind.Spam));

        var list = await RunToEnd("quarantine", "list", "--config", "gateway.conf");
        Assert.True(list.ExitCode == 0, $"exit {list.ExitCode}; stderr: {list.Stderr}");
        Assert.Equal(
            [
                $"{infected.Id}\t2025-01-31T12:00:00Z\tinfected\talice@example.org\t2 recipients\t4711",
                $"{spam.Id}\t2025-01-31T13:00:00Z\tspam\talice@example.org\t2 recipients\t12345",
            ],
            Lines(list.Stdout));

        var filtered = await RunToEnd("quarantine", "list", "--verdict", "spam", "--since", "2025-01-31", "--config", "gateway.conf");
        Assert.Equal([spam.Id], Lines(filtered.Stdout).Select(line => line.Split('\t')[0]));

        var show = await RunToEnd("quarantine", "show", infected.Id, "--config", "gateway.conf");
        Assert.True(show.ExitCode == 0, $"exit {show.ExitCode}; stderr: {show.Stderr}");
        Assert.Contains($"id:          {infected.Id}", show.Stdout);
        Assert.Contains("verdict:     infected", show.Stdout);
        Assert.Contains("  EICAR test file in part 1", show.Stdout);
        Assert.Contains("  carol@example.com", show.Stdout);
        Assert.Contains("released:    no", show.Stdout);

        var release = await RunToEnd("quarantine", "release", infected.Id, "--config", "gateway.conf");
        Assert.True(release.ExitCode == 0, $"exit {release.ExitCode}; stderr: {release.Stderr}");
        var delivered = Assert.Single(Directory.GetFiles(outgoing));
        Assert.Equal(original, await File.ReadAllBytesAsync(delivered));
        Assert.Equal(NativeFile.TryGetIdentity(delivered)!.Value.Inode.ToString(CultureInfo.InvariantCulture), Path.GetFileName(delivered));
        Assert.Equal($"released {infected.Id}: queued as {delivered}", release.Stdout.Trim());

        var again = await RunToEnd("quarantine", "release", infected.Id, "--config", "gateway.conf");
        Assert.True(again.ExitCode == 1, $"exit {again.ExitCode}; stdout: {again.Stdout}");
        Assert.Contains("already released", again.Stderr);
        Assert.Equal([delivered], Directory.GetFiles(outgoing));

        var shownReleased = await RunToEnd("quarantine", "show", infected.Id, "--config", "gateway.conf");
        Assert.Contains($"to {delivered}", shownReleased.Stdout);
    }

    [Fact]
    public async Task Should_exit_1_for_unknown_or_malformed_ids_and_delete_a_known_one()
    {
        await File.WriteAllTextAsync(Path.Combine(_dir.FullName, "gateway.conf"), QuarantineConfig);
        Directory.CreateDirectory(Path.Combine(_dir.FullName, "spool/outgoing"));
        var store = new QuarantineStore(Path.Combine(_dir.FullName, "spool/quarantine"));
        var entry = await store.StoreAsync(QuarantineStoreSpecs.QueueFile(), QuarantineStoreSpecs.Metadata(DateTime.UtcNow));

        var traversal = await RunToEnd("quarantine", "release", "../../etc", "--config", "gateway.conf");
        Assert.Equal(1, traversal.ExitCode);
        Assert.Contains("is not a quarantine id", traversal.Stderr);

        var unknown = await RunToEnd("quarantine", "show", "20250131-120000-0123456789abcdef", "--config", "gateway.conf");
        Assert.Equal(1, unknown.ExitCode);
        Assert.Contains("no quarantine entry 20250131-120000-0123456789abcdef", unknown.Stderr);

        var badVerdict = await RunToEnd("quarantine", "list", "--verdict", "nasty", "--config", "gateway.conf");
        Assert.Equal(1, badVerdict.ExitCode);
        Assert.Contains("dangerous-content", badVerdict.Stderr);

        var delete = await RunToEnd("quarantine", "delete", entry.Id, "--config", "gateway.conf");
        Assert.True(delete.ExitCode == 0, $"exit {delete.ExitCode}; stderr: {delete.Stderr}");
        Assert.Null(store.TryGet(entry.Id));
        Assert.Equal(1, (await RunToEnd("quarantine", "delete", entry.Id, "--config", "gateway.conf")).ExitCode);
    }

    [Fact]
    public async Task Should_exit_2_when_the_quarantine_commands_get_a_bad_config()
    {
        await File.WriteAllTextAsync(Path.Combine(_dir.FullName, "bad.conf"), "mailscanner.quarantine.directry = \"q\"\n");

        var (exitCode, _, stderr) = await RunToEnd("quarantine", "list", "--config", "bad.conf");

        Assert.Equal(2, exitCode);
        Assert.Contains("mailscanner.quarantine.directry: unknown key", stderr);
    }

    private static string[] Lines(string output) => output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
