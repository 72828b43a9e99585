using System.Diagnostics;
using System.Globalization;

namespace MailScanner.Actors.Tests.Metrics;

/// <summary>
/// Debian's <c>chromium</c>, headless, one page at a time: the page's DOM after its scripts ran, or a PNG screenshot. Each
/// call gets a fresh profile directory; the virtual time budget lets the page's timers (its two-second refresh) run.
/// </summary>
public static class HeadlessChromium
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(90);

    /// <summary>The DOM once the page has run its scripts for <paramref name="virtualTime"/>.</summary>
    public static Task<string> DomAsync(Uri page, TimeSpan virtualTime) => RunAsync(page, virtualTime, "--dump-dom");

    /// <summary>Saves a screenshot of the page, as it is after <paramref name="virtualTime"/>, to <paramref name="png"/>.</summary>
    public static async Task ScreenshotAsync(Uri page, TimeSpan virtualTime, string png, int width = 1400, int height = 1150)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(png)!);
        await RunAsync(page, virtualTime, $"--screenshot={png}", $"--window-size={width},{height}", "--hide-scrollbars");
    }

    private static async Task<string> RunAsync(Uri page, TimeSpan virtualTime, params string[] what)
    {
        var profile = Directory.CreateTempSubdirectory("msa-chromium-");
        try
        {
            var info = new ProcessStartInfo("chromium")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            // As root chromium will not run with its sandbox; the page is our own, served from loopback.
            foreach (var arg in new[] { "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                         $"--user-data-dir={profile.FullName}",
                         $"--virtual-time-budget={((int)virtualTime.TotalMilliseconds).ToString(CultureInfo.InvariantCulture)}" })
                info.ArgumentList.Add(arg);
            foreach (var arg in what) info.ArgumentList.Add(arg);
            info.ArgumentList.Add(page.ToString());

            using var process = Process.Start(info) ?? throw new InvalidOperationException("cannot start chromium");
            var output = process.StandardOutput.ReadToEndAsync();
            var errors = process.StandardError.ReadToEndAsync();
            using var deadline = new CancellationTokenSource(Deadline);
            try
            {
                await process.WaitForExitAsync(deadline.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException($"chromium did not finish {page} within {Deadline}: {await errors}");
            }
            if (process.ExitCode != 0) throw new InvalidOperationException($"chromium exited with {process.ExitCode}: {await errors}");
            return await output;
        }
        finally
        {
            profile.Delete(recursive: true);
        }
    }
}
