using MailScanner.Actors.Identity;
using MailScanner.Actors.Queue;
using Xunit;

namespace MailScanner.Actors.Tests.Queue;

public sealed class RetryBackoffSpecs
{
    private static readonly FileIdentity Message = new(0x803, 42, 7);
    private static readonly DateTime Now = new(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    [Fact]
    public void Should_double_the_wait_after_each_failure_up_to_the_maximum_and_start_again_once_forgotten()
    {
        var backoff = new RetryBackoff(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(5));
        Assert.False(backoff.MustWait(Message, Now));

        var waits = new List<double>();
        for (var failure = 0; failure < 5; failure++)
        {
            backoff.Failed(Message, Now);
            waits.Add(FirstSecondFree(backoff));
        }
        Assert.Equal([1, 2, 4, 5, 5], waits);

        backoff.Forget(Message);
        Assert.False(backoff.MustWait(Message, Now));
        backoff.Failed(Message, Now);
        Assert.Equal(1, FirstSecondFree(backoff));
    }

    private static double FirstSecondFree(RetryBackoff backoff)
    {
        var seconds = 0;
        while (backoff.MustWait(Message, Now.AddSeconds(seconds))) seconds++;
        return seconds;
    }
}
