namespace MailScanner.Actors.Scanning;

/// <summary>What scanning concluded about one message, with the reasons an operator reads in the log.</summary>
public sealed record Verdict(VerdictKind Kind, IReadOnlyList<string> Reasons)
{
    public static readonly Verdict Clean = new(VerdictKind.Clean, Array.Empty<string>());
    public static Verdict Infected(string reason) => new(VerdictKind.Infected, new[] { reason });

    public override string ToString() => Reasons.Count == 0 ? Kind.ToString().ToLowerInvariant()
        : $"{Kind.ToString().ToLowerInvariant()} ({string.Join("; ", Reasons)})";
}

public enum VerdictKind { Clean, Infected }

/// <summary>What is done with a message once its verdict is known.</summary>
public enum MessageDisposition { Deliver, Quarantine }
