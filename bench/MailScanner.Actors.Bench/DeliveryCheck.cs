using System.Buffers.Text;

namespace MailScanner.Actors.Bench;

/// <summary>
/// Exactly-once check: every sequence number 0..expected-1 must appear at most once in outgoing and at most once in
/// quarantine, and in at least one of them (an infected message is delivered cleaned and its original quarantined).
/// Missing ones are looked for in the other areas too, so "lost" means found nowhere at all.
/// </summary>
internal sealed record DeliveryCheck(int Expected, int OutgoingFiles, int Missing, int Duplicated, int Unrecognised, int Lost, int FoundElsewhere)
{
    public int Quarantined { get; init; }

    public bool ExactlyOnce => Missing == 0 && Duplicated == 0 && Unrecognised == 0;

    public static DeliveryCheck Run(int expected, string outgoing, IEnumerable<string> elsewhere, string? quarantine = null)
    {
        var copies = new int[expected];
        var quarantineCopies = new int[expected];
        int files = 0, unrecognised = 0, quarantined = 0;
        foreach (var path in QueueDirectory.QueueFiles(outgoing))
        {
            files++;
            var seq = ReadSeq(path);
            if (seq is { } s && s >= 0 && s < expected) copies[s]++;
            else unrecognised++;
        }
        foreach (var path in quarantine is null ? [] : QueueDirectory.QuarantinedFiles(quarantine))
        {
            quarantined++;
            var seq = ReadSeq(path);
            if (seq is { } s && s >= 0 && s < expected) quarantineCopies[s]++;
            else unrecognised++;
        }

        var missing = Enumerable.Range(0, expected).Count(i => copies[i] == 0 && quarantineCopies[i] == 0);
        var duplicated = copies.Sum(c => Math.Max(0, c - 1)) + quarantineCopies.Sum(c => Math.Max(0, c - 1));
        var foundElsewhere = 0;
        if (missing > 0)
        {
            var seen = new bool[expected];
            foreach (var path in elsewhere.SelectMany(QueueDirectory.AllFiles))
            {
                if (ReadSeq(path) is { } s && s >= 0 && s < expected && copies[s] == 0 && quarantineCopies[s] == 0 && !seen[s])
                {
                    seen[s] = true;
                    foundElsewhere++;
                }
            }
        }
        return new DeliveryCheck(expected, files, missing, duplicated, unrecognised, missing - foundElsewhere, foundElsewhere) { Quarantined = quarantined };
    }

    /// <summary>The value of the first <c>X-Bench-Seq:</c> line in a file, or null.</summary>
    public static int? ReadSeq(string path)
    {
        byte[] content;
        try
        {
            content = File.ReadAllBytes(path);
        }
        catch (IOException)
        {
            return null; // moved on while we looked: not ours to judge here
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
        return FindSeq(content);
    }

    public static int? FindSeq(ReadOnlySpan<byte> content)
    {
        ReadOnlySpan<byte> marker = "X-Bench-Seq: "u8;
        var at = content.IndexOf(marker);
        if (at < 0 || (at > 0 && content[at - 1] != (byte)'\n')) return null;
        return Utf8Parser.TryParse(content[(at + marker.Length)..], out int seq, out _) ? seq : null;
    }

    public string Describe() =>
        $"{OutgoingFiles} outgoing files and {Quarantined} quarantined for {Expected} messages: {Missing} missing " +
        $"({FoundElsewhere} of them still in incoming/work/bad/quarantine, {Lost} lost), {Duplicated} duplicated, {Unrecognised} unrecognised";
}
