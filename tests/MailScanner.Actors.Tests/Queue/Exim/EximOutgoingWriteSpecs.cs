using System.Text;
using MailScanner.Actors.Delivery;
using MailScanner.Actors.Queue;
using MailScanner.Actors.Queue.Exim;
using MailScanner.Actors.Tests.Pipeline;
using Xunit;

namespace MailScanner.Actors.Tests.Queue.Exim;

/// <summary>
/// Writing a two-file entry into the outgoing queue, exactly once across crashes: both files staged under this
/// message's temp names, the companion (-D) published before the primary (-H), and a publish that a crash cut short
/// completed without writing anything twice.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class EximOutgoingWriteSpecs : IDisposable
{
    private const string Id = EximSpoolSpecs.ShortId;
    private readonly GatewayTestbed _bed = new();
    private readonly DurabilityBarrier _barrier;
    private readonly QueueDirectoryWriter _writer;
    private readonly OutgoingEntry _entry;

    public EximOutgoingWriteSpecs()
    {
        var format = new EximFormat(EximQueueOptions.Default with { User = Environment.UserName });
        _barrier = new DurabilityBarrier(_bed.Outgoing);
        _writer = new QueueDirectoryWriter(_bed.Outgoing, _barrier, format.Outgoing);
        var claimed = Assert.IsType<QueueFileParse.Parsed>(format.ParseEntry(new QueueEntryContent(
            Encoding.UTF8.GetBytes(EximSpoolSpecs.FixReceivedLength(EximSpoolSpecs.Header(Id))), [Encoding.UTF8.GetBytes(EximSpoolSpecs.Data(Id))])));
        _entry = format.ComposeOutgoing(claimed, claimed.Message.Span);
    }

    public void Dispose()
    {
        _barrier.Dispose();
        _bed.Dispose();
    }

    private string[] Names() => Directory.GetFiles(_bed.Outgoing).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray()!;

    [Fact]
    public async Task Should_stage_both_files_under_temp_names_exim_ignores_then_publish_them()
    {
        var staged = await _writer.StageAsync(_entry, "tf-key");
        Assert.Equal(["tf-key", "tf-key+1"], Names());
        Assert.Equal($"{Id}-H", staged.FinalName);
        Assert.Equal(0b110_100_000, (int)File.GetUnixFileMode(Path.Combine(_bed.Outgoing, "tf-key+1")));

        await _writer.PublishAsync(staged);
        Assert.Equal([$"{Id}-D", $"{Id}-H"], Names());
        Assert.Equal(_entry.Companions[0].ToArray(), File.ReadAllBytes(Path.Combine(_bed.Outgoing, $"{Id}-D")));
        Assert.Equal(_entry.Primary.ToArray(), File.ReadAllBytes(Path.Combine(_bed.Outgoing, $"{Id}-H")));
    }

    [Fact]
    public async Task Should_complete_a_publish_a_crash_cut_after_the_D_file_without_writing_it_again()
    {
        var staged = await _writer.StageAsync(_entry, "tf-key");
        File.Move(Path.Combine(_bed.Outgoing, "tf-key+1"), Path.Combine(_bed.Outgoing, $"{Id}-D")); // the first rename, then the crash

        await _writer.PublishAsync(staged);
        Assert.Equal([$"{Id}-D", $"{Id}-H"], Names());

        // Exim delivered it and removed both; a repeated publish (the journal still names it) writes nothing.
        foreach (var name in Names()) File.Delete(Path.Combine(_bed.Outgoing, name));
        await _writer.PublishAsync(staged);
        Assert.Empty(Names());
    }

    [Fact]
    public async Task Should_discard_both_temps_of_an_unrecorded_attempt()
    {
        await _writer.StageAsync(_entry, "tf-key");
        _writer.DiscardUnrecorded("tf-key");
        Assert.Empty(Names());
    }

    [Theory]
    [InlineData("tf-key+1")] // cut after the companion's temp
    [InlineData("tf-key")] // cut after both temps, before the record
    public async Task Should_replace_the_temps_an_unrecorded_attempt_left_when_staging_again(string leftover)
    {
        File.WriteAllText(Path.Combine(_bed.Outgoing, "tf-key+1"), "half of an earlier attempt\n");
        if (leftover == "tf-key") File.WriteAllText(Path.Combine(_bed.Outgoing, "tf-key"), "the rest of it\n");

        var staged = await _writer.StageAsync(_entry, "tf-key");

        Assert.Equal(["tf-key", "tf-key+1"], Names());
        Assert.Equal(_entry.Companions[0].ToArray(), File.ReadAllBytes(Path.Combine(_bed.Outgoing, "tf-key+1")));
        Assert.Equal(_entry.Primary.ToArray(), File.ReadAllBytes(Path.Combine(_bed.Outgoing, "tf-key")));
        await _writer.PublishAsync(staged);
        Assert.Equal([$"{Id}-D", $"{Id}-H"], Names());
    }

    [Fact]
    public async Task Should_refuse_to_publish_over_a_D_file_that_is_already_there()
    {
        var staged = await _writer.StageAsync(_entry, "tf-key");
        File.WriteAllText(Path.Combine(_bed.Outgoing, $"{Id}-D"), "someone else's\n");
        await Assert.ThrowsAsync<IOException>(() => _writer.PublishAsync(staged));
        Assert.False(File.Exists(Path.Combine(_bed.Outgoing, $"{Id}-H")));
    }
}
