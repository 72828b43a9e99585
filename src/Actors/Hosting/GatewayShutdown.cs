using Akka;
using Akka.Actor;
using Akka.Event;
using MailScanner.Actors.Configuration;
using MailScanner.Actors.Queue;

namespace MailScanner.Actors.Hosting;

/// <summary>
/// How a gateway stops: one task of Akka's CoordinatedShutdown, so the same path runs whether the Host got SIGTERM or
/// SIGINT, or a test (or anything else) terminates the actor system. The task asks the QueueWatcher to admit nothing
/// more and waits while the messages in flight finish, up to the grace period; then the unfinished ones let go of
/// their files (back to the incoming queue untouched), and only then do the actors stop.
/// </summary>
/// <remarks>
/// Nothing here is needed for safety: an actor system that stops mid-message (a phase timing out, a second signal,
/// a crash) leaves claims in the work area, which the next start resumes, and the journal keeps a recorded delivery
/// from being repeated. A graceful stop only leaves less for that recovery to do.
/// </remarks>
public static class GatewayShutdown
{
    /// <summary>"Wait for requests that are in progress to finish": the phase whose timeout must cover the grace period.</summary>
    public const string Phase = CoordinatedShutdown.PhaseServiceRequestsDone;

    /// <summary>Kept for the hand-back after the grace period: renames, and writes already under way finishing.</summary>
    public static readonly TimeSpan LetGoAllowance = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The phase timeout that fits <paramref name="settings"/>: to be in the actor system's configuration before it
    /// starts (the Host adds it; a test's actor system may too).
    /// </summary>
    public static string PhaseTimeoutHocon(ShutdownSettings settings) =>
        $"akka.coordinated-shutdown.phases.{Phase}.timeout = {(long)PhaseTimeoutFor(settings).TotalMilliseconds}ms";

    public static TimeSpan PhaseTimeoutFor(ShutdownSettings settings) => settings.GracePeriod + LetGoAllowance + TimeSpan.FromSeconds(5);

    /// <summary>Adds the stop task to the actor system's CoordinatedShutdown.</summary>
    public static void Register(ActorSystem system, IActorRef queueWatcher, ShutdownSettings settings) =>
        Register(system, () => Task.FromResult<IActorRef?>(queueWatcher), settings);

    /// <summary>
    /// Clustered: the stop drains the queue watcher only when this node runs it (it is the cluster's singleton, under the
    /// manager named <paramref name="singletonName"/>); its messages then finish before the watcher moves to another node.
    /// A node without it has nothing to drain: its MessageActors are handed off by Cluster Sharding as the node leaves,
    /// and the watcher takes their claims up again.
    /// </summary>
    public static void RegisterClustered(ActorSystem system, string singletonName, ShutdownSettings settings) =>
        Register(system, async () =>
        {
            try
            {
                return await system.ActorSelection($"/user/{singletonName}/{singletonName}").ResolveOne(TimeSpan.FromSeconds(1)).ConfigureAwait(false);
            }
            catch (ActorNotFoundException)
            {
                return null;
            }
        }, settings);

    private static void Register(ActorSystem system, Func<Task<IActorRef?>> queueWatcher, ShutdownSettings settings)
    {
        var shutdown = CoordinatedShutdown.Get(system);
        var (grace, allowance) = Budget(settings.GracePeriod, shutdown.Timeout(Phase));
        if (grace < settings.GracePeriod)
        {
            // Only an actor system the Host did not configure (tests, tools): the Host sets the phase timeout to fit.
            Logging.GetLogger(system, typeof(GatewayShutdown)).Info(
                "The grace period for stopping is cut from {GracePeriod} to {Cut}: akka.coordinated-shutdown.phases.{Phase}.timeout is only {PhaseTimeout}",
                settings.GracePeriod, grace, Phase, shutdown.Timeout(Phase));
        }
        shutdown.AddTask(Phase, "mailscanner-drain", async () =>
        {
            try
            {
                if (await queueWatcher().ConfigureAwait(false) is { } watcher)
                    await watcher.Ask<QueueWatcherProtocol.Stopped>(new QueueWatcherProtocol.Stop(grace, allowance), grace + allowance)
                        .ConfigureAwait(false);
            }
            catch (Exception e) when (e is AskTimeoutException or TaskCanceledException)
            {
                // The watcher is gone or did not answer in time; the claims it left are resumed at the next start.
            }
            return Done.Instance;
        });
    }

    /// <summary>The grace period and the hand-back allowance, both within the phase's timeout so that it never cuts them short.</summary>
    internal static (TimeSpan Grace, TimeSpan Allowance) Budget(TimeSpan gracePeriod, TimeSpan phaseTimeout)
    {
        var allowance = TimeSpan.FromTicks(Math.Min(LetGoAllowance.Ticks, phaseTimeout.Ticks / 2));
        var grace = TimeSpan.FromTicks(Math.Max(0, Math.Min(gracePeriod.Ticks, phaseTimeout.Ticks - allowance.Ticks - allowance.Ticks / 5)));
        return (grace, allowance);
    }
}
