using System.Runtime.Versioning;
using System.Text;
using MailScanner.Actors.Queue;
using MailScanner.Actors.Queue.Exim;
using MailScanner.Actors.Tests.Pipeline;
using MailScanner.Actors.Tests.TestSupport;
using Xunit;

namespace MailScanner.Actors.Tests.Queue.Exim;

/// <summary>
/// Exim 4.97's longer ids through the whole gateway. Debian's Exim here is 4.96, which neither writes nor reads them, so
/// the receiving spool holds pairs written in 4.97's documented format (as <see cref="EximSpoolSpecs"/> has them) and
/// what the gateway writes is read back from the delivering spool's input/ rather than delivered.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class EximLongIdSpecs : IDisposable
{
    private readonly GatewayTestbed _bed = new();

    public void Dispose() => _bed.Dispose();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Should_take_a_pair_with_a_long_id_and_write_it_under_the_same_id(bool splitSpoolDirectory)
    {
        var ids = new[] { EximSpoolSpecs.LongId, "1xZLdS-0000000DLdG-1b3L", EximSpoolSpecs.ShortId };
        foreach (var id in ids)
        {
            var directory = splitSpoolDirectory ? Directory.CreateDirectory(Path.Combine(_bed.Incoming, EximMessageId.SplitDirectory(id).ToString())).FullName : _bed.Incoming;
            // As Exim writes them: -D first, the -H last.
            File.WriteAllText(Path.Combine(directory, $"{id}-D"), EximSpoolSpecs.Data(id));
            File.WriteAllText(Path.Combine(directory, $"{id}-H"), EximSpoolSpecs.FixReceivedLength(EximSpoolSpecs.Header(id)));
        }
        var defaults = _bed.Settings();
        var options = new EximQueueOptions(splitSpoolDirectory, Environment.UserName, []);
        var settings = defaults with { Queue = defaults.Queue with { Format = EximFormat.FormatName, Exim = options } };
        await using var gateway = await HostedGateway.StartAsync(settings);

        var written = ids.Select(id => Path.Combine(_bed.Outgoing, splitSpoolDirectory ? EximMessageId.SplitDirectory(id).ToString() : "", $"{id}-H")).ToList();
        await Eventually.Holds(() => written.All(File.Exists), TimeSpan.FromSeconds(30), () => $"{string.Join(", ", written)} to be written ({gateway.Counters})");

        var format = new EximFormat(options);
        foreach (var header in written)
        {
            var data = header[..^1] + "D";
            var parsed = Assert.IsType<QueueFileParse.Parsed>(format.ParseEntry(new QueueEntryContent(File.ReadAllBytes(header), [File.ReadAllBytes(data)])));
            Assert.Equal(["bob@example.com", "carol@example.net"], parsed.Envelope.Recipients);
            var message = Encoding.UTF8.GetString(parsed.Message.Span);
            Assert.Contains("X-MailScanner-Actors:", message, StringComparison.Ordinal);
            Assert.EndsWith("\n\nbody line 1\n.dot line\nlast\n", message, StringComparison.Ordinal);
        }
        Assert.Empty(Directory.GetFiles(_bed.Incoming, "*", SearchOption.AllDirectories));
        await Eventually.Holds(() => !Directory.EnumerateFileSystemEntries(_bed.Work).Any(), TimeSpan.FromSeconds(30), () => "the work area to empty");
        Assert.Empty(Directory.EnumerateFileSystemEntries(_bed.Bad));
        // Nothing of the writing is left behind: only -H and -D files.
        Assert.All(Directory.GetFiles(_bed.Outgoing, "*", SearchOption.AllDirectories), path => Assert.Matches("-[HD]$", path));
    }
}
