using MailScanner.Actors.Cluster;
using MailScanner.Actors.Configuration;
using MailScanner.Actors.Queue;
using MailScanner.Actors.Tests.TestSupport;
using Xunit;

namespace MailScanner.Actors.Tests.Cluster;

/// <summary>
/// The shared queue's id, kept in its work area: written once, agreed on by nodes that start together, never taken for a
/// claim. (Only <see cref="SharedQueueVolume.ReadOrCreate"/> here: naming the volume is process-wide, and the specs share a process.)
/// </summary>
public sealed class SharedQueueVolumeSpecs : IDisposable
{
    private readonly TempDirectory _work = new(TempDirectory.Ext4);

    public void Dispose() => _work.Dispose();

    [Fact]
    public void Should_write_the_id_once_and_read_the_same_one_afterwards()
    {
        var first = SharedQueueVolume.ReadOrCreate(_work.Path);

        Assert.Equal(first, SharedQueueVolume.ReadOrCreate(_work.Path));
        Assert.True(first >= 1UL << 63, "never a real device number");
        Assert.Equal([SharedQueueVolume.FileName], _work.EntryNames());
    }

    [Fact]
    public async Task Should_agree_on_one_id_when_nodes_start_together()
    {
        var ids = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() => SharedQueueVolume.ReadOrCreate(_work.Path))));

        Assert.Single(ids.Distinct());
        Assert.Equal([SharedQueueVolume.FileName], _work.EntryNames());
    }

    [Fact]
    public void Should_not_be_taken_for_a_claim_in_the_work_area()
    {
        SharedQueueVolume.ReadOrCreate(_work.Path);

        Assert.False(WorkArea.TryParse(SharedQueueVolume.FileName, out _, out _));
    }

    [Fact]
    public void Should_refuse_a_damaged_id_naming_the_file()
    {
        File.WriteAllText(_work.File(SharedQueueVolume.FileName), "not an id\n");

        var e = Assert.Throws<ConfigurationException>(() => SharedQueueVolume.ReadOrCreate(_work.Path));

        Assert.Equal(_work.File(SharedQueueVolume.FileName), e.Key);
        Assert.StartsWith("is not a shared queue id (16 hex digits; got 'not an id')", e.Problem, StringComparison.Ordinal);
    }
}
