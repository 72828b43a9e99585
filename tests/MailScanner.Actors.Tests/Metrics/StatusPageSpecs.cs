using System.Text.RegularExpressions;
using MailScanner.Actors.Tests.Pipeline;
using MailScanner.Actors.Tests.TestSupport;
using Xunit;
using Xunit.Abstractions;

namespace MailScanner.Actors.Tests.Metrics;

/// <summary>
/// The status page at <c>/</c>, opened in headless Chromium after known traffic: the numbers it shows are that traffic, it
/// loads nothing from elsewhere, and a screenshot of it is kept as a test artifact (<c>tests/TestResults/status-page.png</c>,
/// or under <c>MAILSCANNER_TEST_ARTIFACTS</c>).
/// </summary>
public sealed partial class StatusPageSpecs(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    /// <summary>Two refreshes of the page at least (it polls every two seconds), so that it has a throughput rate too.</summary>
    private static readonly TimeSpan PageTime = TimeSpan.FromSeconds(7);

    [Fact]
    public async Task Should_show_the_traffic_sent_and_save_a_screenshot()
    {
        using var bed = new GatewayTestbed();
        var (gateway, endpoint) = await MetricsGateway.StartAsync(bed.Settings());
        await using var _ = gateway;
        for (var i = 0; i < 12; i++) bed.Enqueue($"clean message {i}");
        for (var i = 0; i < 3; i++) bed.Enqueue($"infected message {i}\r\n{ClamdDaemon.Eicar}");
        bed.EnqueueRaw("not a queue file"u8.ToArray());
        await Eventually.Holds(() => gateway.Counters.Deleted == 15 && gateway.Counters.Refused == 1, Patience,
            () => $"15 messages finished and one set aside ({gateway.Counters})");

        var dom = await HeadlessChromium.DomAsync(endpoint, PageTime);

        Assert.Equal("15", Shown(dom, "total-delivered"));
        Assert.Equal("1", Shown(dom, "total-set_aside"));
        Assert.Equal("0", Shown(dom, "total-quarantined"));
        Assert.Equal("12", Shown(dom, "verdict-clean"));
        Assert.Equal("3", Shown(dom, "verdict-infected"));
        Assert.Equal("ready", Shown(dom, "ready"));
        Assert.Equal(15, RecentRow().Matches(dom).Count);
        Assert.DoesNotMatch(ExternalReference(), dom);

        // The screenshot shows mail flowing: a message every 20 ms while the page is open.
        var png = Path.Combine(ArtifactDirectory(), "status-page.png");
        using var stopTrickle = new CancellationTokenSource();
        var trickle = Task.Run(async () =>
        {
            using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(20));
            for (var i = 0; await timer.WaitForNextTickAsync(stopTrickle.Token).AsTask().ContinueWith(t => t.Status == TaskStatus.RanToCompletion); i++)
                bed.Enqueue(i % 7 == 0 ? $"infected trickle {i}\r\n{ClamdDaemon.Eicar}" : $"trickle {i}");
        });
        await HeadlessChromium.ScreenshotAsync(endpoint, PageTime, png);
        await stopTrickle.CancelAsync();
        await trickle;
        var bytes = await File.ReadAllBytesAsync(png);
        Assert.True(bytes.Length > 20_000, $"a screenshot of a drawn page, not a blank one ({bytes.Length} bytes)");
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], bytes[..4]);
        output.WriteLine($"screenshot: {png} ({bytes.Length} bytes)");
    }

    /// <summary>The text of the element with that id, as the page's script filled it in.</summary>
    private static string Shown(string dom, string id)
    {
        var match = Regex.Match(dom, $"""id="{Regex.Escape(id)}"[^>]*>([^<]*)<""");
        Assert.True(match.Success, $"the page has no element #{id}");
        return match.Groups[1].Value.Trim();
    }

    /// <summary>A row of the last outcomes: time, queue id (the file's inode number), verdict, action.</summary>
    [GeneratedRegex("""<tr><td>[0-9:]+</td><td>[0-9]+</td><td>(clean|infected)</td><td>(deliver|deliver-cleaned)</td></tr>""")]
    private static partial Regex RecentRow();

    [GeneratedRegex("""(src|href)="(https?:)?//""")]
    private static partial Regex ExternalReference();

    private static string ArtifactDirectory() =>
        Environment.GetEnvironmentVariable("MAILSCANNER_TEST_ARTIFACTS") is { Length: > 0 } set
            ? set
            : Path.Combine(RepositoryRoot(), "tests", "TestResults");

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "MailScanner.Actors.sln"))) return dir.FullName;
        throw new InvalidOperationException($"no MailScanner.Actors.sln above {AppContext.BaseDirectory}");
    }
}
