using System.Diagnostics;
using System.Net.Sockets;
using MailScanner.Actors.Identity;
using MailScanner.Actors.Tests.TestSupport;
using Microsoft.Win32.SafeHandles;
using Xunit;

namespace MailScanner.Actors.Tests.Identity;

public sealed class FileIdentitySpecs
{
    [Theory]
    [InlineData(TempDirectory.Ext4)]
    [InlineData(TempDirectory.Tmpfs)]
    public void Should_give_the_same_file_the_same_identity_across_two_opens(string mount)
    {
        using var directory = new TempDirectory(mount);
        var path = directory.File("message");
        File.WriteAllText(path, "hello");

        var first = IdentityOf(path, out _);
        var second = IdentityOf(path, out _);

        Assert.Equal(first, second);
        Assert.Equal(NativeFile.TryLStat(path)!.Inode, first.Inode);
    }

    [Fact]
    public void Should_give_a_new_file_on_a_reused_ext4_inode_a_different_identity()
    {
        using var directory = new TempDirectory(TempDirectory.Ext4);
        var (earlier, later, source) = CreateUntilAnInodeIsReused(directory);

        Assert.Equal(GenerationSource.InodeVersion, source);
        Assert.Equal(earlier.Inode, later.Inode);
        Assert.Equal(earlier.Device, later.Device);
        Assert.NotEqual(earlier.Generation, later.Generation);
        Assert.NotEqual(earlier, later);
    }

    [Fact]
    public void Should_read_the_generation_from_the_file_handle_on_tmpfs()
    {
        using var directory = new TempDirectory(TempDirectory.Tmpfs);
        var path = directory.File("message");
        File.WriteAllText(path, "hello");

        IdentityOf(path, out var source);

        Assert.Equal(GenerationSource.FileHandle, source);
    }

    [Fact]
    public void Should_never_give_two_lives_of_tmpfs_files_the_same_identity()
    {
        // tmpfs hands out inode numbers from a per-mount counter, so a reuse cannot be provoked here;
        // what must hold is that no file life ever shares an identity with an earlier one.
        using var directory = new TempDirectory(TempDirectory.Tmpfs);
        var identities = new HashSet<FileIdentity>();
        for (var cycle = 0; cycle < 100; cycle++)
        {
            var path = directory.File("message");
            FileIdentity identity;
            using (var handle = NativeFile.CreateExclusive(path)) identity = NativeFile.GetIdentity(handle);
            File.Delete(path);
            Assert.True(identities.Add(identity), $"identity {identity} came back in cycle {cycle}");
        }
    }

    [Fact]
    public void Should_open_a_regular_file_for_reading()
    {
        using var directory = new TempDirectory();
        var path = directory.File("message");
        File.WriteAllText(path, "hello");

        var outcome = NativeFile.TryOpenRegularForReading(path, out var handle);

        using (handle)
        {
            Assert.Equal(OpenOutcome.Opened, outcome);
            var buffer = new byte[5];
            Assert.Equal(5, RandomAccess.Read(handle!, buffer, 0));
            Assert.Equal("hello"u8.ToArray(), buffer);
        }
    }

    [Fact]
    public void Should_report_a_missing_file_as_missing()
    {
        using var directory = new TempDirectory();

        var outcome = NativeFile.TryOpenRegularForReading(directory.File("gone"), out var handle);

        Assert.Equal(OpenOutcome.Missing, outcome);
        Assert.Null(handle);
    }

    [Fact]
    public void Should_refuse_to_follow_a_symlink_and_leave_its_target_untouched()
    {
        using var directory = new TempDirectory();
        var target = directory.File("target");
        File.WriteAllText(target, "not yours");
        var targetBefore = IdentityOf(target, out _);
        var link = directory.File("12345");
        File.CreateSymbolicLink(link, target);

        var outcome = NativeFile.TryOpenRegularForReading(link, out var handle);

        Assert.Equal(OpenOutcome.NotRegular, outcome);
        Assert.Null(handle);
        Assert.Null(NativeFile.TryGetIdentity(link));
        Assert.Equal(FileKind.Symlink, NativeFile.TryLStat(link)!.Kind);
        Assert.Equal("not yours", File.ReadAllText(target));
        Assert.Equal(targetBefore, IdentityOf(target, out _));
    }

    [Fact]
    public async Task Should_refuse_a_fifo_without_blocking()
    {
        using var directory = new TempDirectory();
        var fifo = directory.File("12345");
        SpecialFiles.MakeFifo(fifo);

        // A blocking open would wait for a writer forever; time out (and fail) instead of hanging the run.
        var (outcome, handle) = await Task.Run(() => (NativeFile.TryOpenRegularForReading(fifo, out var opened), opened))
            .WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(OpenOutcome.NotRegular, outcome);
        Assert.Null(handle);
    }

    [Fact]
    public void Should_refuse_a_directory()
    {
        using var directory = new TempDirectory();
        var subdirectory = directory.File("12345");
        Directory.CreateDirectory(subdirectory);

        var outcome = NativeFile.TryOpenRegularForReading(subdirectory, out var handle);

        Assert.Equal(OpenOutcome.NotRegular, outcome);
        Assert.Null(handle);
    }

    [Fact]
    public void Should_refuse_a_unix_socket_as_not_regular_rather_than_failed()
    {
        using var directory = new TempDirectory();
        var socketPath = directory.File("12345");
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        socket.Bind(new UnixDomainSocketEndPoint(socketPath));

        var outcome = NativeFile.TryOpenRegularForReading(socketPath, out var handle);

        Assert.Equal(OpenOutcome.NotRegular, outcome);
        Assert.Null(handle);
    }

    [Fact]
    public void Should_not_replace_an_existing_file_when_renaming()
    {
        using var directory = new TempDirectory();
        var source = directory.File("source");
        var target = directory.File("target");
        File.WriteAllText(source, "source");
        File.WriteAllText(target, "target");

        var outcome = NativeFile.TryRenameNoReplace(source, target);

        Assert.Equal(RenameOutcome.TargetExists, outcome);
        Assert.Equal("source", File.ReadAllText(source));
        Assert.Equal("target", File.ReadAllText(target));
    }

    [Fact]
    public void Should_rename_to_a_free_name_keeping_the_identity()
    {
        using var directory = new TempDirectory();
        var source = directory.File("source");
        var target = directory.File("target");
        File.WriteAllText(source, "source");
        var before = IdentityOf(source, out _);

        Assert.Equal(RenameOutcome.Renamed, NativeFile.TryRenameNoReplace(source, target));
        Assert.Equal(RenameOutcome.SourceMissing, NativeFile.TryRenameNoReplace(source, target));

        Assert.False(File.Exists(source));
        Assert.Equal(before, IdentityOf(target, out _));
    }

    [Fact]
    public void Should_parse_its_own_key_back_to_the_same_identity()
    {
        var identity = new FileIdentity(Device: 0x0000_0103_0000_0002, Inode: 11657410, Generation: 0xdead_beef);

        Assert.Equal("10300000002-11657410-deadbeef", identity.Key);
        Assert.True(FileIdentity.TryParse(identity.Key, out var parsed));
        Assert.Equal(identity, parsed);
    }

    [Fact]
    public void Should_round_trip_the_extreme_values_through_the_key()
    {
        var identity = new FileIdentity(ulong.MaxValue, ulong.MaxValue, ulong.MaxValue);

        Assert.True(FileIdentity.TryParse(identity.Key, out var parsed));
        Assert.Equal(identity, parsed);
    }

    [Theory]
    [InlineData("")]
    [InlineData("1-2")]
    [InlineData("1-2-3-4")]
    [InlineData("1--3")]
    [InlineData("g-2-3")]
    [InlineData("1-0x2-3")]
    [InlineData("1-+2-3")]
    [InlineData(" 1-2-3")]
    [InlineData("1-2-3 ")]
    [InlineData("01-2-3")]
    [InlineData("1-02-3")]
    [InlineData("A-2-3")]
    [InlineData("1-2-10000000000000000")]
    public void Should_refuse_a_key_that_is_not_the_canonical_spelling_of_an_identity(string key)
    {
        Assert.False(FileIdentity.TryParse(key, out var identity));
        Assert.Equal(default, identity);
    }

    /// <summary>Creates and unlinks files until a new file gets an inode number an earlier one had (ext4 does this at once).</summary>
    private static (FileIdentity Earlier, FileIdentity Later, GenerationSource Source) CreateUntilAnInodeIsReused(TempDirectory directory)
    {
        var earlierByInode = new Dictionary<ulong, FileIdentity>();
        for (var cycle = 0; cycle < 100; cycle++)
        {
            var path = directory.File($"message-{cycle}");
            FileIdentity identity;
            GenerationSource source;
            using (var handle = NativeFile.CreateExclusive(path)) identity = NativeFile.GetIdentity(handle, out source);
            File.Delete(path);
            if (earlierByInode.TryGetValue(identity.Inode, out var earlier)) return (earlier, identity, source);
            earlierByInode[identity.Inode] = identity;
        }
        Assert.Fail("no inode number was reused in 100 create/unlink cycles");
        throw new UnreachableException();
    }

    private static FileIdentity IdentityOf(string path, out GenerationSource source)
    {
        Assert.Equal(OpenOutcome.Opened, NativeFile.TryOpenRegularForReading(path, out SafeFileHandle? handle));
        using (handle) return NativeFile.GetIdentity(handle!, out source);
    }
}
