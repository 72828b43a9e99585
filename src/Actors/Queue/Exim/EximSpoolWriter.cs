using System.Globalization;
using System.Text;

namespace MailScanner.Actors.Queue.Exim;

/// <summary>
/// Writes a message the way Exim spools it: the claimed <c>-H</c>'s envelope and options carried over (with
/// <c>-body_linecount</c> counted anew), then the new message's header lines, each as <c>NNNf text</c> with Exim's
/// flag for the header's kind; the body goes into <c>-D</c> after its name line. Lines end in LF, as on Exim's spool.
/// </summary>
public static class EximSpoolWriter
{
    private static readonly byte[] BodyLineCount = "-body_linecount "u8.ToArray();

    public static (byte[] Header, byte[] Data) Write(EximSpoolMessage claimed, ReadOnlySpan<byte> message)
    {
        var text = WithoutCarriageReturns(message);
        var split = text.AsSpan().IndexOf("\n\n"u8);
        var headerSection = split < 0 ? text.AsSpan() : text.AsSpan(0, split + 1);
        var body = split < 0 ? ReadOnlySpan<byte>.Empty : text.AsSpan(split + 2);

        using var header = new MemoryStream(claimed.EnvelopePart.Length + headerSection.Length + 256);
        WriteEnvelope(header, claimed.EnvelopePart.Span, body.Count((byte)'\n'));
        foreach (var field in Fields(headerSection))
        {
            header.Write(Encoding.ASCII.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{field.Length:D3}{FlagOf(field)} ")));
            header.Write(field);
        }

        var name = Encoding.ASCII.GetBytes(claimed.Id + "-D\n");
        var data = new byte[name.Length + body.Length];
        name.CopyTo(data, 0);
        body.CopyTo(data.AsSpan(name.Length));
        return (header.ToArray(), data);
    }

    /// <summary>The envelope lines as read, but for <c>-body_linecount</c>, which Exim uses to size what it sends.</summary>
    private static void WriteEnvelope(Stream output, ReadOnlySpan<byte> envelope, int bodyLines)
    {
        while (!envelope.IsEmpty)
        {
            var end = envelope.IndexOf((byte)'\n');
            var line = end < 0 ? envelope : envelope[..(end + 1)];
            if (line.StartsWith(BodyLineCount))
                output.Write(Encoding.ASCII.GetBytes(string.Create(CultureInfo.InvariantCulture, $"-body_linecount {bodyLines}\n")));
            else
                output.Write(line);
            envelope = envelope[line.Length..];
        }
    }

    /// <summary>Each header field with its continuation lines and final newline.</summary>
    private static List<byte[]> Fields(ReadOnlySpan<byte> section)
    {
        var fields = new List<byte[]>();
        var start = 0;
        var position = 0;
        while (position < section.Length)
        {
            var end = section[position..].IndexOf((byte)'\n');
            var next = end < 0 ? section.Length : position + end + 1;
            var continues = next < section.Length && section[next] is (byte)' ' or (byte)'\t';
            if (!continues)
            {
                var field = section[start..next].ToArray();
                fields.Add(field[^1] == (byte)'\n' ? field : [.. field, (byte)'\n']);
                start = next;
            }
            position = next;
        }
        return fields;
    }

    /// <summary>Exim's header kinds (structs.h htype_*): the ones it acts on get their letter, every other header a space.</summary>
    private static char FlagOf(ReadOnlySpan<byte> field)
    {
        var colon = field.IndexOf((byte)':');
        var name = colon < 0 ? "" : Encoding.ASCII.GetString(field[..colon]).TrimEnd().ToLowerInvariant();
        return name switch
        {
            "received" => 'P',
            "from" => 'F',
            "to" => 'T',
            "cc" => 'C',
            "bcc" => 'B',
            "message-id" => 'I',
            "reply-to" => 'R',
            "sender" => 'S',
            _ => ' ',
        };
    }

    private static byte[] WithoutCarriageReturns(ReadOnlySpan<byte> message)
    {
        if (message.IndexOf("\r\n"u8) < 0) return message.ToArray();
        var output = new List<byte>(message.Length);
        for (var i = 0; i < message.Length; i++)
        {
            if (message[i] == (byte)'\r' && i + 1 < message.Length && message[i + 1] == (byte)'\n') continue;
            output.Add(message[i]);
        }
        return output.ToArray();
    }
}
