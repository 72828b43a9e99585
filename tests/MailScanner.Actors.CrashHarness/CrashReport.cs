using System.Text;

namespace MailScanner.Actors.CrashHarness;

/// <summary>The outcome of a crash run: the one line issue 4 asks for, and everything needed to act on a failure.</summary>
public sealed record CrashReport
{
    private const int ListLimit = 20;

    public required int Seed { get; init; }
    public required int Kills { get; init; }
    public required int Messages { get; init; }
    public required IReadOnlyList<int> LostSeqs { get; init; }
    /// <summary>Where a lost seq was found after all (bad, incoming, work), if anywhere.</summary>
    public required IReadOnlyDictionary<int, string> LostFoundIn { get; init; }
    public required IReadOnlyList<Duplicate> Duplicates { get; init; }
    /// <summary>
    /// Seqs only in the quarantine, not delivered. Allowed (issue 4: "delivered exactly once (or quarantined exactly
    /// once)"), but worth a look: with the default policy an infected message is also delivered cleaned, so these were
    /// quarantined for another reason (e.g. given up as unprocessable after repeated interruptions).
    /// </summary>
    public IReadOnlyList<int> QuarantinedOnly { get; init; } = [];
    /// <summary>Entries left in incoming, work and bad, temp files in outgoing, half-built quarantine entries.</summary>
    public required IReadOnlyList<string> Leftovers { get; init; }
    /// <summary>Gateway misbehaviour (exited by itself, failed to drain or to stop) and damaged or foreign files.</summary>
    public required IReadOnlyList<string> Problems { get; init; }
    public required int OutgoingFiles { get; init; }
    public required int QuarantinedFiles { get; init; }
    /// <summary>Kills meant to be timed from the first change to the outgoing queue in that life (the rest are timed from the start).</summary>
    public required int KillsAimedAtDeliveries { get; init; }
    /// <summary>Of those, the ones whose life did change the outgoing queue within the timeout.</summary>
    public required int KillsAfterDeliveryBegan { get; init; }
    /// <summary>Killed lives during which the outgoing queue grew: kills that landed while messages were being delivered.</summary>
    public required int KillsWhileDelivering { get; init; }
    public required TimeSpan KillPhase { get; init; }
    public required TimeSpan Drain { get; init; }
    public required TimeSpan Total { get; init; }
    /// <summary>How many gateway processes ran at once (a cluster run, <see cref="FleetRunner"/>); 0 for the one-process crash run.</summary>
    public int Nodes { get; init; }
    /// <summary>Kills after which the others took the dead node's work over (it was downed; its watcher, if it ran it, started elsewhere).</summary>
    public int Takeovers { get; init; }
    /// <summary>Messages claimed by a node that died, resumed by a node of the cluster (the gateway's "resuming it" lines).</summary>
    public int Resumed { get; init; }
    /// <summary>What happened in a cluster run, one line each: every kill and takeover as the logs tell it, the PostgreSQL outage.</summary>
    public IReadOnlyList<string> Events { get; init; } = [];
    /// <summary>The scratch directory, when it was kept.</summary>
    public string? KeptArea { get; init; }

    /// <summary>
    /// The report of what <paramref name="census"/> counted after the last life ended; the kill figures are the caller's
    /// to add (<c>with</c>).
    /// </summary>
    internal static CrashReport Of(Census census, int seed, int kills, int produced, IEnumerable<string> problems, TimeSpan killPhase, TimeSpan drain, TimeSpan total)
    {
        var lost = census.Lost();
        return new CrashReport
        {
            Seed = seed,
            Kills = kills,
            Messages = produced,
            LostSeqs = lost,
            LostFoundIn = lost.Where(census.SeenElsewhere.ContainsKey).ToDictionary(s => s, s => census.SeenElsewhere[s]),
            Duplicates = census.Duplicates(),
            QuarantinedOnly = census.QuarantinedOnly(),
            Leftovers = census.Leftovers,
            Problems = [.. problems, .. census.Problems],
            OutgoingFiles = census.OutgoingFiles,
            QuarantinedFiles = census.QuarantinedFiles,
            KillsAimedAtDeliveries = 0,
            KillsAfterDeliveryBegan = 0,
            KillsWhileDelivering = 0,
            KillPhase = killPhase,
            Drain = drain,
            Total = total,
        };
    }

    public int Lost => LostSeqs.Count;
    public int Duplicated => Duplicates.Sum(d => d.Extra);

    public bool Passed => Lost == 0 && Duplicated == 0 && Leftovers.Count == 0 && Problems.Count == 0;

    /// <summary>Exactly the line issue 4 specifies.</summary>
    public string Line => $"lost={Lost} duplicated={Duplicated} kills={Kills} messages={Messages}" +
                          (Nodes > 0 ? $" nodes={Nodes} takeovers={Takeovers} resumed={Resumed}" : "");

    /// <summary>Everything but the line: what was lost or duplicated (all seqs, as ranges), leftovers, problems, timings.</summary>
    public string Describe()
    {
        var text = new StringBuilder();
        text.AppendLine($"seed={Seed} (rerun: --seed {Seed}); {OutgoingFiles} outgoing files, {QuarantinedFiles} quarantined; " + (Nodes > 0
            ? $"{Nodes} node(s), {Kills} kills, {Takeovers} taken over by the others and rejoined"
            : $"{Kills} kills, {KillsAfterDeliveryBegan} of {KillsAimedAtDeliveries} aimed at deliveries after one began, " +
              $"{KillsWhileDelivering} in lives that delivered something"));
        text.AppendLine($"kill phase {KillPhase.TotalSeconds:F1} s, final drain {Drain.TotalSeconds:F1} s, total {Total.TotalSeconds:F1} s");
        foreach (var line in Events) text.AppendLine(line);
        if (Lost > 0)
        {
            text.AppendLine($"lost: {Lost} messages, seqs {Ranges(LostSeqs)}");
            foreach (var (seq, where) in LostFoundIn.OrderBy(f => f.Key).Take(ListLimit)) text.AppendLine($"  lost seq {seq} is in {where}");
        }
        if (Duplicated > 0)
        {
            text.AppendLine($"duplicated: {Duplicated} extra copies of {Duplicates.Select(d => d.Seq).Distinct().Count()} messages");
            foreach (var place in Duplicates.GroupBy(d => d.Place))
            {
                text.AppendLine($"  in {place.Key}: {place.Count()} messages, seqs {Ranges(place.Select(d => d.Seq))}");
                text.AppendLine($"    copies: " + string.Join(", ", place.GroupBy(d => d.Files.Count).OrderBy(g => g.Key).Select(g => $"{g.Count()} messages {g.Key}x")));
                var example = place.First();
                text.AppendLine($"    e.g. seq {example.Seq}: {string.Join(", ", example.Files)}");
            }
        }
        if (QuarantinedOnly.Count > 0)
            text.AppendLine($"quarantined without any delivery (allowed, see gateway.log for why): {QuarantinedOnly.Count} messages, seqs {Ranges(QuarantinedOnly)}");
        if (Leftovers.Count > 0) text.AppendLine($"leftovers ({Leftovers.Count}): " + Limit(Leftovers));
        foreach (var problem in Problems.Take(ListLimit)) text.AppendLine($"problem: {problem}");
        if (Problems.Count > ListLimit) text.AppendLine($"... and {Problems.Count - ListLimit} more problems");
        if (KeptArea is not null) text.AppendLine($"kept: {KeptArea} (gateway.log has every life's output)");
        return text.ToString().TrimEnd();
    }

    /// <summary>Sorted, distinct seqs as ranges: 3-7, 9, 12-13.</summary>
    public static string Ranges(IEnumerable<int> seqs)
    {
        var sorted = seqs.Distinct().Order().ToList();
        var ranges = new List<string>();
        for (var i = 0; i < sorted.Count;)
        {
            var j = i;
            while (j + 1 < sorted.Count && sorted[j + 1] == sorted[j] + 1) j++;
            ranges.Add(i == j ? $"{sorted[i]}" : $"{sorted[i]}-{sorted[j]}");
            i = j + 1;
        }
        return string.Join(", ", ranges);
    }

    private static string Limit(IEnumerable<string> items)
    {
        var list = items.ToList();
        return string.Join(", ", list.Take(ListLimit)) + (list.Count > ListLimit ? $", ... ({list.Count - ListLimit} more)" : "");
    }
}
