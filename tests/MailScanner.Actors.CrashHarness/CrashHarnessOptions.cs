namespace MailScanner.Actors.CrashHarness;

/// <summary>How a crash run goes. The defaults are the long form of issue 4 (100 kills).</summary>
public sealed record CrashHarnessOptions
{
    /// <summary>How many times the gateway is killed with SIGKILL (and restarted) before the final, clean life.</summary>
    public int Kills { get; init; } = 100;

    /// <summary>Seeds the kill moments. The same seed gives the same waits, not the same run: timing is the machine's.</summary>
    public int Seed { get; init; } = Random.Shared.Next();

    /// <summary>
    /// A cluster run (<see cref="FleetRunner"/>): this many clustered gateway processes on the one queue and a private
    /// PostgreSQL journal, nodes killed in turn and restarted while the producer writes <see cref="Messages"/>; 0: the
    /// one-process crash run.
    /// </summary>
    public int ClusterNodes { get; init; }

    /// <summary>One unclustered gateway on a private PostgreSQL journal (<see cref="FleetRunner"/>), e.g. for <see cref="PostgresOutage"/>.</summary>
    public bool PostgreSql { get; init; }

    /// <summary>Runs on the PostgreSQL journal, so with <see cref="FleetRunner"/>.</summary>
    public bool OnPostgreSql => PostgreSql || ClusterNodes > 0;

    /// <summary>How many messages the producer writes in a run on PostgreSQL; the kills are spread over the time that takes.</summary>
    public int Messages { get; init; } = 10_000;

    /// <summary>In a run on PostgreSQL: the server is stopped this long halfway through the production, then started again.</summary>
    public TimeSpan? PostgresOutage { get; init; }

    /// <summary>The queue format the producer writes and the gateway reads and writes (<see cref="HarnessQueue.Formats"/>).</summary>
    public string Format { get; init; } = HarnessQueue.ZMailer;

    /// <summary>Keep the scratch directory (queues, quarantine, state, gateway.log) afterwards.</summary>
    public bool Keep { get; init; }

    /// <summary>The gateway's dll; null: the Host build of the harness's own configuration.</summary>
    public string? Gateway { get; init; }

    /// <summary>Where the scratch directory is made (ext4 /tmp by default).</summary>
    public string Parent { get; init; } = Path.GetTempPath();

    /// <summary>The producer's steady rate, kept up whether the gateway is running or not.</summary>
    public double MessagesPerSecond { get; init; } = 50;

    /// <summary>The producer goes on after the last kill until it has queued at least this many (a run of 0 kills still checks something).</summary>
    public int MinimumMessages { get; init; } = 100;

    /// <summary>Every n-th message carries the EICAR test file (delivered cleaned, original quarantined); 0: none.</summary>
    public int InfectedEvery { get; init; } = 10;

    /// <summary>
    /// Every n-th life is killed while delivering (0: none): a random time in [0, <see cref="DeliveringKillSpread"/>]
    /// after the outgoing queue first changes in that life. The gateway needs about a second to start and the first
    /// delivery comes later still, so kills timed from the start alone would nearly all land before any delivery.
    /// </summary>
    public int DeliveringKillEvery { get; init; } = 2;

    public TimeSpan DeliveringKillSpread { get; init; } = TimeSpan.FromMilliseconds(300);

    /// <summary>The other lives last a random time in [MinUptime, MaxUptime] from the start: many end during start-up recovery.</summary>
    public TimeSpan MinUptime { get; init; } = TimeSpan.FromMilliseconds(50);

    public TimeSpan MaxUptime { get; init; } = TimeSpan.FromMilliseconds(1500);

    /// <summary>How long a life meant to be killed while delivering may take to start delivering (it is killed then anyway).</summary>
    public TimeSpan DeliveryStartTimeout { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>How long the final life may take to empty incoming and work: 3 minutes, or 20 ms a message when more.</summary>
    public TimeSpan? DrainTimeout { get; init; }

    public TimeSpan DrainTimeoutFor(int messages) =>
        DrainTimeout ?? TimeSpan.FromTicks(Math.Max(TimeSpan.FromMinutes(3).Ticks, TimeSpan.FromMilliseconds(20).Ticks * messages));

    /// <summary>
    /// Once incoming and work are empty but messages are still missing, how long nothing may change before they
    /// are called lost (a message the gateway holds only in memory would still turn up within it).
    /// </summary>
    public TimeSpan QuietPeriod { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How long the final life gets to stop on SIGTERM.</summary>
    public TimeSpan StopGrace { get; init; } = TimeSpan.FromSeconds(30);
}
