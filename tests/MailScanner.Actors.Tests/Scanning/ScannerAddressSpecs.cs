using MailScanner.Actors.Scanning;
using Xunit;

namespace MailScanner.Actors.Tests.Scanning;

public sealed class ScannerAddressSpecs
{
    [Theory]
    [InlineData("/run/clamav/clamd.ctl", "/run/clamav/clamd.ctl")]
    [InlineData("  /tmp/x.sock ", "/tmp/x.sock")]
    [InlineData("127.0.0.1:783", "127.0.0.1:783")]
    [InlineData("localhost:3310", "localhost:3310")]
    [InlineData("[::1]:783", "[::1]:783")]
    public void Should_parse_a_socket_path_or_host_and_port(string text, string expected)
    {
        Assert.Equal(expected, ScannerAddress.Parse(text).ToString());
    }

    [Fact]
    public void Should_tell_the_kinds_apart()
    {
        Assert.Equal(new ScannerAddress.Unix("/run/clamav/clamd.ctl"), ScannerAddress.Parse("/run/clamav/clamd.ctl"));
        Assert.Equal(new ScannerAddress.Tcp("::1", 783), ScannerAddress.Parse("[::1]:783"));
        Assert.Equal(new ScannerAddress.Tcp("spamd.example.net", 783), ScannerAddress.Parse("spamd.example.net:783"));
    }

    [Theory]
    [InlineData("", "an address is required")]
    [InlineData("clamd.ctl", "neither an absolute unix socket path")]
    [InlineData("localhost", "neither an absolute unix socket path")]
    [InlineData("127.0.0.1:", "no valid port")]
    [InlineData("127.0.0.1:0", "no valid port")]
    [InlineData("127.0.0.1:65536", "no valid port")]
    [InlineData("127.0.0.1:78x", "no valid port")]
    [InlineData(":783", "no usable host")]
    [InlineData("::1:783", "in brackets")]
    [InlineData("[::1]783", "is not [ipv6-address]:port")]
    [InlineData("/run/clamav/", "names a directory")]
    public void Should_say_what_is_wrong_with_a_bad_address(string text, string problem)
    {
        var e = Assert.Throws<FormatException>(() => ScannerAddress.Parse(text));
        Assert.Contains(problem, e.Message);
    }

    [Fact]
    public void Should_refuse_a_socket_path_too_long_for_a_unix_socket_address()
    {
        var e = Assert.Throws<FormatException>(() => ScannerAddress.Parse("/" + new string('a', 120)));
        Assert.Contains("107 bytes", e.Message);
    }
}
