using System.Diagnostics;
using Xunit;

namespace MailScanner.Actors.Tests.TestSupport;

/// <summary>
/// How specs wait: a condition is polled until it holds, and the spec fails, saying what it waited for, when it does
/// not hold in time. Never a fixed sleep: a spec is as quick as the machine allows and as patient as its deadline says.
/// The one polling helper of these specs, with or without an actor system (TestKit's own waits need one).
/// An exception from the condition ends the wait at once: a condition can assert what must stay true meanwhile.
/// </summary>
public static class Eventually
{
    private static readonly TimeSpan DefaultInterval = TimeSpan.FromMilliseconds(20);

    public static Task Holds(Func<bool> condition, TimeSpan within, string what, TimeSpan? every = null) =>
        Holds(() => Task.FromResult(condition()), within, () => what, every);

    /// <param name="what">Read only when the wait fails, so it can describe the state at that moment.</param>
    public static Task Holds(Func<bool> condition, TimeSpan within, Func<string> what, TimeSpan? every = null) =>
        Holds(() => Task.FromResult(condition()), within, what, every);

    public static Task Holds(Func<Task<bool>> condition, TimeSpan within, string what, TimeSpan? every = null) =>
        Holds(condition, within, () => what, every);

    /// <param name="what">Read only when the wait fails, so it can describe the state at that moment.</param>
    public static async Task Holds(Func<Task<bool>> condition, TimeSpan within, Func<string> what, TimeSpan? every = null)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.Elapsed > within) Assert.Fail($"gave up after {within.TotalSeconds:0.#} s waiting for {what()}");
            await Task.Delay(every ?? DefaultInterval);
        }
    }
}
