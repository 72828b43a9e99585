using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace MailScanner.Actors.Tests.TestSupport;

/// <summary>The <c>X-Seq: N</c> header specs put into each message they queue, so every copy found later names its message.</summary>
public static partial class SeqHeader
{
    public static int Of(string content) => int.Parse(Pattern().Match(content).Groups[1].Value, CultureInfo.InvariantCulture);

    public static int Of(byte[] content) => Of(Encoding.UTF8.GetString(content));

    public static int OfFile(string path) => Of(File.ReadAllText(path));

    [GeneratedRegex(@"X-Seq: (\d+)")]
    private static partial Regex Pattern();
}
