using System.Diagnostics;

namespace MailScanner.Actors.Bench;

/// <summary>
/// Scrapes a gateway's <c>/metrics</c> every second, as a Prometheus with a one-second interval would, for as long as a
/// measurement runs; a refused connection (the gateway still starting, or already stopped) is simply tried again next time.
/// </summary>
internal sealed class MetricsScraper : IAsyncDisposable
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);

    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(5) };
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    public MetricsScraper(Uri metrics) => _loop = Task.Run(() => LoopAsync(metrics));

    public int Scrapes { get; private set; }
    public long Bytes { get; private set; }
    public TimeSpan Slowest { get; private set; }

    private async Task LoopAsync(Uri metrics)
    {
        using var timer = new PeriodicTimer(Interval);
        do
        {
            var clock = Stopwatch.StartNew();
            try
            {
                var text = await _http.GetStringAsync(metrics, _stop.Token);
                Scrapes++;
                Bytes += text.Length;
                if (clock.Elapsed > Slowest) Slowest = clock.Elapsed;
            }
            catch (HttpRequestException) { }
            catch (TaskCanceledException) when (!_stop.IsCancellationRequested) { }
        } while (await WaitAsync(timer));
    }

    private async Task<bool> WaitAsync(PeriodicTimer timer)
    {
        try
        {
            return await timer.WaitForNextTickAsync(_stop.Token);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    public string Describe() => $"{Scrapes} scrape(s) of /metrics, {Bytes / Math.Max(1, Scrapes)} bytes each, slowest {Slowest.TotalMilliseconds:F0} ms";

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await _loop;
        }
        catch (OperationCanceledException) { }
        _stop.Dispose();
        _http.Dispose();
    }
}
