using MailScanner.Actors.Identity;

namespace MailScanner.Actors.Queue;

/// <summary>A file in the work area found at start-up, and where it goes back to if handed back.</summary>
internal sealed record WorkAreaClaim(FileIdentity Identity, string WorkPath, string IncomingPath)
{
    /// <summary>
    /// Every claim in <paramref name="work"/> (see <see cref="WorkArea"/>), with the path it goes back to in the incoming
    /// queue. Companion files whose claim is gone are removed: a delete removes the primary first, so they are what a
    /// crash between a delete's two steps left (a claim moves companions in after the primary; a hand-back and a move
    /// aside take them out before it). Companions are listed before the claims so that one whose claim is being made
    /// right now is seen with it.
    /// </summary>
    public static IReadOnlyList<WorkAreaClaim> FindIn(string work, string incoming, IQueueFormat format)
    {
        var companions = WorkArea.CompanionsIn(work);
        var claims = new List<WorkAreaClaim>();
        foreach (var path in Directory.EnumerateFileSystemEntries(work))
        {
            if (WorkArea.TryParse(Path.GetFileName(path), out var identity, out var queueId))
                claims.Add(new WorkAreaClaim(identity, path, format.IncomingPathFor(incoming, queueId ?? ZMailerFormat.FileNameFor(identity))));
        }
        var claimed = claims.Select(c => c.Identity).ToHashSet();
        foreach (var (path, claim) in companions)
        {
            if (!claimed.Contains(claim)) File.Delete(path);
        }
        return claims;
    }
}

/// <summary>
/// The order in which an earlier run's claims are taken up again when crashes interrupted their scanning: the
/// suspects one at a time, alone, fewest interrupted attempts first; everything else held back until they are done.
/// </summary>
/// <remarks>
/// The process died while the suspects were being scanned, perhaps because of one of them; a crash counts an attempt
/// against every message in process, so scanned together again they would all be counted again at each crash, and
/// after <c>max-processing-attempts</c> crashes every message that happened to be in process beside the culprit would
/// be quarantined with it. Alone, each innocent one is scanned and delivered, and only the culprit's count grows.
/// After a single crash (a kill, a power cut) nothing is held back: processing one at a time is slow.
/// </remarks>
internal sealed class CrashIsolationPlan
{
    private readonly Queue<WorkAreaClaim> _suspects;

    private CrashIsolationPlan(IReadOnlyList<WorkAreaClaim> suspects, IReadOnlyList<WorkAreaClaim> heldBack)
    {
        _suspects = new Queue<WorkAreaClaim>(suspects);
        Suspects = suspects.Count;
        HeldBack = heldBack;
    }

    /// <summary>How many claims are taken one at a time.</summary>
    public int Suspects { get; }

    /// <summary>The other claims, taken up together once every suspect is done.</summary>
    public IReadOnlyList<WorkAreaClaim> HeldBack { get; }

    /// <summary>The claims not yet taken up: the suspects still waiting and those held back.</summary>
    public int Waiting => _suspects.Count + HeldBack.Count;

    /// <summary>
    /// The plan for <paramref name="claims"/>, given how many times a crash interrupted each one's scanning
    /// (<paramref name="interrupted"/>, by identity key); null when none of them is a suspect and all go at once.
    /// </summary>
    public static CrashIsolationPlan? For(IReadOnlyList<WorkAreaClaim> claims, IReadOnlyDictionary<string, int> interrupted,
        int maxProcessingAttempts)
    {
        var from = IsolateFromAttempt(maxProcessingAttempts);
        var suspects = claims
            .Where(c => interrupted.GetValueOrDefault(c.Identity.Key) >= from)
            .OrderBy(c => interrupted[c.Identity.Key]).ToList();
        return suspects.Count == 0 ? null : new CrashIsolationPlan(suspects, claims.Except(suspects).ToList());
    }

    /// <summary>From the second interrupted attempt on; from the first when a second would already use up the attempts.</summary>
    public static int IsolateFromAttempt(int maxProcessingAttempts) => Math.Max(1, Math.Min(2, maxProcessingAttempts - 1));

    /// <summary>The next suspect, to be taken up alone once nothing is in process; false when every suspect is taken.</summary>
    public bool TryTakeNextSuspect(out WorkAreaClaim claim) => _suspects.TryDequeue(out claim!);
}
