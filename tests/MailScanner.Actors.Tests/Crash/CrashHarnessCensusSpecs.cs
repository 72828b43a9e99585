using MailScanner.Actors.CrashHarness;
using MailScanner.Actors.Tests.TestSupport;
using Xunit;

namespace MailScanner.Actors.Tests.Crash;

/// <summary>
/// The crash harness's census on directories laid out by hand: it must see each way of failing, or a green crash
/// run would prove nothing.
/// </summary>
public sealed class CrashHarnessCensusSpecs : IDisposable
{
    private readonly TempDirectory _temp = new();
    private readonly HarnessArea _area;

    public CrashHarnessCensusSpecs() => _area = HarnessArea.Create(_temp.Path, seed: 1);

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void Should_pass_when_every_message_is_in_outgoing_once_and_an_infected_one_also_in_quarantine()
    {
        Place(_area.Outgoing, "100", 0);
        Place(_area.Outgoing, "101", 1);
        Place(Path.Combine(_area.Quarantine, "20261130", "20261130-080000-0123456789abcdef"), "queue-file", 1);

        var census = Census.Take(_area, produced: 2);

        Assert.Empty(census.Lost());
        Assert.Empty(census.Duplicates());
        Assert.Empty(census.QuarantinedOnly());
        Assert.Empty(census.Leftovers);
        Assert.Empty(census.Problems);
    }

    [Fact]
    public void Should_accept_but_name_a_message_that_was_only_quarantined()
    {
        Place(Path.Combine(_area.Quarantine, "20261130", "20261130-080000-0123456789abcdef"), "queue-file", 0);

        var census = Census.Take(_area, produced: 1);

        Assert.Empty(census.Lost());
        Assert.Equal([0], census.QuarantinedOnly());
    }

    [Fact]
    public void Should_name_lost_and_duplicated_seqs_and_where_a_lost_one_still_lies()
    {
        Place(_area.Outgoing, "100", 0);
        Place(_area.Outgoing, "101", 1);
        Place(_area.Outgoing, "102", 1);
        Place(_area.Bad, "103", 2);

        var census = Census.Take(_area, produced: 4);

        Assert.Equal([2, 3], census.Lost());
        var duplicate = Assert.Single(census.Duplicates());
        Assert.Equal((1, "outgoing", 1), (duplicate.Seq, duplicate.Place, duplicate.Extra));
        Assert.Equal("bad/103", census.SeenElsewhere[2]);
        Assert.Equal(["bad/103 (seq 2)"], census.Leftovers);
    }

    [Fact]
    public void Should_report_temp_files_half_built_quarantine_entries_and_claims_as_leftovers()
    {
        Place(_area.Outgoing, "100", 0);
        Place(_area.Outgoing, "tf-12345", 0);
        Place(Path.Combine(_area.Quarantine, "20261130", ".tmp-20261130-080000-0123456789abcdef"), "queue-file", 0);
        Place(_area.Work, "104", 0);

        var census = Census.Take(_area, produced: 1);

        Assert.Empty(census.Lost());
        Assert.Empty(census.Duplicates());
        Assert.Equal(
            ["outgoing/tf-12345", "quarantine/20261130/.tmp-20261130-080000-0123456789abcdef", "work/104 (seq 0)"],
            census.Leftovers.Order());
    }

    [Fact]
    public void Should_report_a_copy_cut_short_and_a_file_that_is_not_the_harnesss()
    {
        var content = HarnessMessage.Create(0, infectedEvery: 0);
        File.WriteAllBytes(Path.Combine(_area.Outgoing, "100"), content[..^20]);
        File.WriteAllText(Path.Combine(_area.Outgoing, "101"), "from <a@b.example>\nto <c@d.example>\nenv-end\nSubject: stray\n\nhello\n");

        var census = Census.Take(_area, produced: 1);

        Assert.Equal(2, census.Problems.Count);
        Assert.Contains(census.Problems, p => p.StartsWith("outgoing/100 (seq 0) is damaged", StringComparison.Ordinal));
        Assert.Contains(census.Problems, p => p.StartsWith("outgoing/101 is not one of the harness's messages", StringComparison.Ordinal));
    }

    [Fact]
    public void Should_read_postfix_queue_files_by_their_records_and_take_only_queue_ids_as_delivered()
    {
        using var temp = new TempDirectory();
        var area = HarnessArea.Create(temp.Path, seed: 2, HarnessQueue.Postfix);
        string Hold(int seq)
        {
            area.Queue.Write(seq, infectedEvery: 2);
            return Directory.GetFiles(area.Incoming).Single(path => HarnessMessage.Inspect(path, area.Queue.MessageOf).Seq == seq);
        }
        var (first, second, third) = (Hold(0), Hold(1), Hold(2));
        Assert.Equal((0, true), HarnessMessage.Inspect(first, area.Queue.MessageOf));
        Assert.Equal((null, false), HarnessMessage.Inspect(first)); // records, not text: the ZMailer reading does not find it
        File.Move(first, Path.Combine(area.Outgoing, Path.GetFileName(first)));
        File.Copy(second, Path.Combine(area.Outgoing, Path.GetFileName(second)));
        Directory.CreateDirectory(Path.Combine(area.Quarantine, "20261130", "20261130-080000-0123456789abcdef"));
        File.Move(second, Path.Combine(area.Quarantine, "20261130", "20261130-080000-0123456789abcdef", "queue-file"));
        File.Copy(third, Path.Combine(area.Outgoing, "4242.17-mailscanner")); // a temp name Postfix ignores

        var census = Census.Take(area, produced: 3);

        Assert.Equal([2], census.Lost());
        Assert.Empty(census.Duplicates());
        Assert.Equal($"incoming/{Path.GetFileName(third)}", census.SeenElsewhere[2]);
        Assert.Equal(["outgoing/4242.17-mailscanner", $"incoming/{Path.GetFileName(third)} (seq 2)"], census.Leftovers);
        Assert.Empty(census.Problems);
    }

    private static void Place(string directory, string name, int seq)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllBytes(Path.Combine(directory, name), HarnessMessage.Create(seq, infectedEvery: 2));
    }
}
