using MailScanner.Actors.Queue.Postfix;
using Xunit;

namespace MailScanner.Actors.Tests.Queue.Postfix;

/// <summary>
/// The ids and hashed directories below were made by the real Postfix 3.7.11 (Debian 12) of a private instance:
/// the id from its log, the inode from stat(1) of the hold file, the subdirectory it stored the file in with
/// hash_queue_names including hold and hash_queue_depth = 2. The end-to-end specs check the same against every
/// message they send.
/// </summary>
public sealed class PostfixQueueIdSpecs
{
    [Theory]
    [InlineData(0xB27B5, 11666981UL, "B27B5B20625")]
    [InlineData(0, 1UL, "000001")]
    public void Should_make_a_short_id_from_five_hex_digits_of_microseconds_and_the_inode_in_hex(long microseconds, ulong inode, string id)
    {
        Assert.Equal(id, PostfixQueueId.Short(microseconds, inode));
        Assert.True(PostfixQueueId.TryGetInode(id, out var decoded));
        Assert.Equal(inode, decoded);
        Assert.False(PostfixQueueId.IsLong(id));
    }

    [Theory]
    [InlineData(1796352005L, 723123L, 11665921UL, "4jgbLs57QCz1hw8X")]
    [InlineData(1796352005L, 728165L, 11665892UL, "4jgbLs59H9z1hw7y")]
    [InlineData(1796352005L, 725908L, 11665891UL, "4jgbLs58Rmz1hw7x")]
    public void Should_make_a_long_id_from_base_52_seconds_and_microseconds_z_and_the_inode_in_base_51(long seconds, long microseconds, ulong inode, string id)
    {
        Assert.Equal(id, PostfixQueueId.Long(seconds, microseconds, inode));
        Assert.True(PostfixQueueId.IsLong(id));
        Assert.True(PostfixQueueId.TryGetInode(id, out var decoded));
        Assert.Equal(inode, decoded);
    }

    [Fact]
    public void Should_pad_long_id_seconds_to_six_and_microseconds_to_four_characters()
    {
        Assert.Equal("0000010001z1", PostfixQueueId.Long(1, 1, 1));
        Assert.Equal(PostfixQueueId.Long(1796352005, 723123, 11665921), PostfixQueueId.For(new PostfixArrivalTime(1796352005, 723123), 11665921, longIds: true));
        Assert.Equal("B08B3B20625", PostfixQueueId.For(new PostfixArrivalTime(1796352005, 0xB08B3), 0xB20625, longIds: false));
    }

    [Theory]
    [InlineData("B27B5B20625", 1, "B/")]
    [InlineData("B27B5B20625", 2, "B/2/")]                 // where Postfix moved it when hold became hashed
    [InlineData("4jgbLs57QCz1hw8X", 2, "B/0/")]            // microseconds 723123 = 0xB08B3
    [InlineData("4jgbLs59H9z1hw7y", 2, "B/1/")]            // 728165 = 0xB1C65
    [InlineData("4jgbLs58Rmz1hw7x", 2, "B/1/")]            // 725908 = 0xB1394
    [InlineData("0000010001z1", 3, "0/0/0/")]              // 1 microsecond = 00001
    [InlineData("AB", 4, "A/B/_/_/")]                       // dir_forest() pads a short name with '_'
    public void Should_hash_short_ids_by_their_first_characters_and_long_ids_by_their_microseconds_in_hex(string id, int depth, string directories)
    {
        Assert.Equal(directories, PostfixQueueId.HashDirectories(id, depth));
    }

    [Theory]
    [InlineData("B27B5B20625", true)]
    [InlineData("4jgbLs57QCz1hw8X", true)]
    [InlineData("example_com", true)]           // a fast-flush log name: valid to Postfix too
    [InlineData("12345.678", false)]           // mail_queue_enter()'s own temp name
    [InlineData("123-mailscanner", false)]
    [InlineData("", false)]
    public void Should_accept_as_queue_ids_only_names_of_letters_digits_and_underscores(string name, bool valid)
    {
        Assert.Equal(valid, PostfixQueueId.IsValid(name));
    }

    [Fact]
    public void Should_refuse_to_read_an_inode_from_a_name_without_one()
    {
        Assert.False(PostfixQueueId.TryGetInode("B27B5", out _));            // five characters: microseconds only
        Assert.False(PostfixQueueId.TryGetInode("B27B5XYZ", out _));         // not hex
        Assert.False(PostfixQueueId.TryGetInode("4jgbLs57QCzAEIOU", out _)); // vowels are not in the safe alphabet
    }

    [Fact]
    public void Should_put_queue_files_of_hashed_queues_only_in_hashed_directories()
    {
        var layout = new PostfixQueueLayout("/q", HashQueueNames: "deferred, defer, HOLD", HashQueueDepth: 2);

        Assert.Equal("/q/hold/B/2/B27B5B20625", layout.PathOf("hold", "B27B5B20625"));
        Assert.Equal("/q/incoming/B27B5B20625", layout.PathOf("incoming", "B27B5B20625"));
        Assert.Equal("/q/public/qmgr", layout.QmgrSocket);
        Assert.False(new PostfixQueueLayout("/q").IsHashed("hold"));
        Assert.True(new PostfixQueueLayout("/q").IsHashed("deferred"));
    }
}
