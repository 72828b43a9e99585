using MailScanner.Actors.Queue;
using MailScanner.Actors.Tests.TestSupport;
using Xunit;

namespace MailScanner.Actors.Tests.Queue;

/// <summary>The listing on its own, on real directories: no actor system.</summary>
public sealed class IncomingQueueListingSpecs : IDisposable
{
    private readonly TempDirectory _root = new();
    private readonly string _incoming;
    private readonly string _bad;
    private readonly IncomingQueueListing _listing;
    private static readonly IReadOnlySet<string> NoneBeingAdmitted = new HashSet<string>();

    public IncomingQueueListingSpecs()
    {
        _incoming = Directory.CreateDirectory(_root.File("router")).FullName;
        _bad = Directory.CreateDirectory(_root.File("bad")).FullName;
        _listing = new IncomingQueueListing(_incoming, _bad, ZMailerFormat.Instance);
    }

    public void Dispose() => _root.Dispose();

    [Fact]
    public void Should_list_complete_queue_files_oldest_first_whatever_their_names()
    {
        var now = DateTime.UtcNow;
        var youngest = QueueFile("100", now.AddMinutes(-1));
        var oldest = QueueFile("300", now.AddHours(-3));
        var middle = QueueFile("200", now.AddHours(-2));
        File.WriteAllText(Path.Combine(_incoming, "tf-12345"), "the MTA's temp file: not a queue file name");

        var listed = _listing.List(NoneBeingAdmitted);

        Assert.Equal([oldest, middle, youngest], listed.OldestFirst);
        Assert.Empty(listed.SetAside);
    }

    [Fact]
    public void Should_list_only_the_oldest_files_up_to_the_window_and_say_that_more_wait()
    {
        var now = DateTime.UtcNow;
        // Names in one order, ages in another, two of the same age: the window keeps the oldest, ties in directory order.
        var ages = new[] { 5, 1, 7, 3, 3, 9, 2, 8 };
        var files = ages.Select((hours, i) => (Path: QueueFile($"{100 + i}", now.AddHours(-hours)), Hours: hours)).ToList();
        var byAge = _listing.List(NoneBeingAdmitted).OldestFirst;

        var window = _listing.List(NoneBeingAdmitted, atMost: 3);
        var whole = _listing.List(NoneBeingAdmitted, atMost: files.Count);

        Assert.Equal(files.OrderByDescending(f => f.Hours).Select(f => f.Path).Take(3), window.OldestFirst);
        Assert.True(window.More);
        Assert.Equal(byAge, whole.OldestFirst);
        Assert.False(whole.More);
        Assert.Equal(byAge.Take(5), _listing.List(NoneBeingAdmitted, atMost: 5).OldestFirst);
    }

    [Fact]
    public void Should_not_list_a_name_being_admitted_nor_an_entry_left_in_place()
    {
        var admitting = QueueFile("100", DateTime.UtcNow.AddHours(-2));
        var refused = QueueFile("200", DateTime.UtcNow.AddHours(-1));
        var waiting = QueueFile("300", DateTime.UtcNow);

        Assert.True(_listing.LeaveInPlace(refused));
        Assert.False(_listing.LeaveInPlace(refused)); // reported once
        var listed = _listing.List(new HashSet<string> { Path.GetFileName(admitting) });

        Assert.Equal([waiting], listed.OldestFirst);
    }

    [Fact]
    public void Should_move_a_symlink_aside_and_leave_a_directory_in_place_reporting_it_once()
    {
        var link = Path.Combine(_incoming, "400");
        File.CreateSymbolicLink(link, "/etc/passwd");
        var directory = Directory.CreateDirectory(Path.Combine(_incoming, "500")).FullName;

        var first = _listing.List(NoneBeingAdmitted);
        var second = _listing.List(NoneBeingAdmitted);

        Assert.Empty(first.OldestFirst);
        var moved = Assert.Single(first.SetAside, e => e.Path == link);
        Assert.StartsWith(_bad + "/400.", moved.MovedTo);
        Assert.EndsWith(".symlink", moved.MovedTo);
        Assert.Equal("/etc/passwd", new FileInfo(moved.MovedTo!).LinkTarget);
        var left = Assert.Single(first.SetAside, e => e.Path == directory);
        Assert.Null(left.MovedTo);
        Assert.Contains("directory", left.Reason);
        Assert.True(Directory.Exists(directory));
        Assert.Empty(second.OldestFirst);
        Assert.Empty(second.SetAside);
    }

    private string QueueFile(string name, DateTime modifiedUtc)
    {
        var path = Path.Combine(_incoming, name);
        File.WriteAllText(path, "from <a@example.org>\nto <b@example.org>\nenv-end\n\nbody\n");
        File.SetLastWriteTimeUtc(path, modifiedUtc);
        return path;
    }
}
