using MailScanner.Actors.Delivery;
using MailScanner.Actors.Tests.TestSupport;
using Xunit;

namespace MailScanner.Actors.Tests.Pipeline;

/// <summary>
/// The delivery path's group commit: a round waits for company (the gather delay) only when the round before it was a
/// busy one, as PostgreSQL's commit_delay does only with commit_siblings. A quiet gateway's message passes four
/// barriers and must not wait four gather delays for nobody.
/// </summary>
public sealed class DurabilityBarrierSpecs : IDisposable
{
    private static readonly TimeSpan Answer = TimeSpan.FromSeconds(20);
    private readonly TempDirectory _directory = new();

    public void Dispose() => _directory.Dispose();

    [Fact]
    public async Task Should_flush_a_lone_request_without_the_gather_delay()
    {
        // An hour's gather delay: were it applied, the request would not be answered within the spec's patience.
        using var barrier = new DurabilityBarrier([_directory.Path], gatherDelay: TimeSpan.FromHours(1));

        await barrier.WhenDurableAsync().WaitAsync(Answer);
        await barrier.WhenDurableAsync().WaitAsync(Answer);
    }

    [Fact]
    public async Task Should_gather_requests_into_one_round_once_a_round_was_busy()
    {
        var rounds = 0;
        using var firstRoundStarted = new SemaphoreSlim(0);
        using var releaseFirstRound = new SemaphoreSlim(0);
        using var barrier = new DurabilityBarrier([_directory.Path], gatherDelay: TimeSpan.FromSeconds(1), beforeFlush: () =>
        {
            if (Interlocked.Increment(ref rounds) != 1) return;
            firstRoundStarted.Release();
            releaseFirstRound.Wait();
        });

        // Round 1 answers a lone request at once; while it flushes, a busy round's worth of requests queues up.
        var lone = barrier.WhenDurableAsync();
        Assert.True(await firstRoundStarted.WaitAsync(Answer));
        var busy = Enumerable.Range(0, DurabilityBarrier.GatherSiblings).Select(_ => barrier.WhenDurableAsync()).ToList();
        releaseFirstRound.Release();
        await Task.WhenAll(busy.Append(lone)).WaitAsync(Answer);
        Assert.Equal(2, Volatile.Read(ref rounds));

        // Round 2 answered GatherSiblings requests, so round 3 waits for company: two requests a moment apart share it.
        var first = barrier.WhenDurableAsync();
        var second = barrier.WhenDurableAsync();
        await Task.WhenAll(first, second).WaitAsync(Answer);

        Assert.Equal(3, Volatile.Read(ref rounds));
    }
}
