namespace MailScanner.Actors.Bench;

/// <summary>The closing block: one line per figure, with its target and whether it was met.</summary>
internal sealed class Summary
{
    private readonly List<(string Name, string Value, string Verdict)> _lines = [];

    public bool AnyFailure { get; private set; }

    public void Add(string name, string value, string? target = null, bool? met = null)
    {
        var verdict = target is null ? "" : $"target {target}: {(met == true ? "met" : "MISSED")}";
        _lines.Add((name, value, verdict));
    }

    public void Failed(string name, string reason)
    {
        AnyFailure = true;
        _lines.Add((name, "FAILED", reason.Split('\n')[0]));
    }

    public void Print()
    {
        Console.WriteLine();
        Console.WriteLine("== summary ==");
        var width = _lines.Count == 0 ? 0 : _lines.Max(l => l.Name.Length);
        var valueWidth = _lines.Count == 0 ? 0 : _lines.Max(l => l.Value.Length);
        foreach (var (name, value, verdict) in _lines)
            Console.WriteLine($"{name.PadRight(width)}  {value.PadRight(valueWidth)}  {verdict}".TrimEnd());
    }
}
