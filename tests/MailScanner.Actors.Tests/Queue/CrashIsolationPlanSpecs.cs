using MailScanner.Actors.Identity;
using MailScanner.Actors.Queue;
using Xunit;

namespace MailScanner.Actors.Tests.Queue;

/// <summary>The order of an earlier run's claims, without an actor system or a disk.</summary>
public sealed class CrashIsolationPlanSpecs
{
    private static readonly WorkAreaClaim Once = Claim(1), Twice = Claim(2), Thrice = Claim(3), NeverScanned = Claim(4), AlsoTwice = Claim(5);

    [Fact]
    public void Should_take_the_claims_interrupted_more_than_once_alone_fewest_attempts_first_and_hold_back_the_rest()
    {
        var plan = CrashIsolationPlan.For([Once, Thrice, NeverScanned, Twice, AlsoTwice],
            Interrupted((Thrice, 3), (Once, 1), (Twice, 2), (AlsoTwice, 2)), maxProcessingAttempts: 5)!;

        Assert.Equal(3, plan.Suspects);
        Assert.Equal([Once, NeverScanned], plan.HeldBack);
        Assert.Equal(5, plan.Waiting);
        Assert.Equal([Twice, AlsoTwice, Thrice], TakeAll(plan)); // equal counts keep the order they were found in
        Assert.Equal(2, plan.Waiting);
        Assert.False(plan.TryTakeNextSuspect(out _));
    }

    [Fact]
    public void Should_hold_nothing_back_after_a_single_crash()
    {
        Assert.Null(CrashIsolationPlan.For([Once, NeverScanned], Interrupted((Once, 1)), maxProcessingAttempts: 5));
        Assert.Null(CrashIsolationPlan.For([Once], Interrupted(), maxProcessingAttempts: 5));
    }

    [Fact]
    public void Should_ignore_an_interrupted_count_for_an_identity_that_is_no_longer_claimed()
    {
        Assert.Null(CrashIsolationPlan.For([Once, NeverScanned], Interrupted((Thrice, 3)), maxProcessingAttempts: 5));
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 1)] // a second interrupted attempt would already use up the attempts
    [InlineData(3, 2)]
    [InlineData(10, 2)]
    public void Should_isolate_from_the_second_interrupted_attempt_or_the_first_when_attempts_are_few(int maxAttempts, int from)
    {
        Assert.Equal(from, CrashIsolationPlan.IsolateFromAttempt(maxAttempts));
        var plan = CrashIsolationPlan.For([Once], Interrupted((Once, 1)), maxAttempts);
        Assert.Equal(from == 1, plan is not null);
    }

    private static List<WorkAreaClaim> TakeAll(CrashIsolationPlan plan)
    {
        var taken = new List<WorkAreaClaim>();
        while (plan.TryTakeNextSuspect(out var next)) taken.Add(next);
        return taken;
    }

    private static Dictionary<string, int> Interrupted(params (WorkAreaClaim Claim, int Attempts)[] counts) =>
        counts.ToDictionary(c => c.Claim.Identity.Key, c => c.Attempts);

    private static WorkAreaClaim Claim(ulong inode)
    {
        var identity = new FileIdentity(0x803, inode, 0xabc);
        return new WorkAreaClaim(identity, $"/work/{identity.Key}", $"/router/{inode}");
    }
}
