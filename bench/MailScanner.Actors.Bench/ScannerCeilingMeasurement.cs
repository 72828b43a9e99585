using System.Collections.Concurrent;
using System.Diagnostics;

namespace MailScanner.Actors.Bench;

internal sealed record ScannerCeilingResult(string Daemon, int Messages, int Concurrency, TimeSpan Elapsed, IReadOnlyDictionary<string, int> Answers)
{
    public double PerSecond => Messages / Elapsed.TotalSeconds;

    public string DescribeAnswers() => string.Join(", ", Answers.OrderByDescending(a => a.Value).Select(a => $"{a.Value} {a.Key}"));
}

/// <summary>
/// A scanner daemon's own ceiling: the very messages the gateway run scans (its <c>X-Bench-Seq</c> header and the
/// corpus message, i.e. what the gateway sends), fed straight to the daemon by the project's own client with
/// <c>concurrency</c> calls open at a time, the bound the gateway's engine keeps (<c>max-concurrent</c>). No queue
/// files, no actors: what the daemon can do on this machine, measured in the same run as the gateway.
/// </summary>
/// <param name="scan">One call to the daemon; returns a short name for its answer ("clean", "spam", ...), which is counted.</param>
internal sealed class ScannerCeilingMeasurement(
    string daemon, Func<int, QueueMessage> messageFor, int count, int concurrency,
    Func<ReadOnlyMemory<byte>, CancellationToken, Task<string>> scan)
{
    public async Task<ScannerCeilingResult> RunAsync(CancellationToken cancel)
    {
        var messages = Enumerable.Range(0, count).Select(seq => messageFor(seq).Rfc5322()).ToArray();
        var answers = new ConcurrentDictionary<string, int>(StringComparer.Ordinal);
        var next = -1;

        async Task Feed()
        {
            for (var i = Interlocked.Increment(ref next); i < count; i = Interlocked.Increment(ref next))
            {
                string answer;
                try
                {
                    answer = await scan(messages[i], cancel);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    throw new BenchFailure($"{daemon} failed on message {i}: {e.GetType().Name}: {e.Message}");
                }
                answers.AddOrUpdate(answer, 1, (_, n) => n + 1);
            }
        }

        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(_ => Task.Run(Feed, cancel)));
        return new ScannerCeilingResult(daemon, count, concurrency, clock.Elapsed, answers);
    }
}
