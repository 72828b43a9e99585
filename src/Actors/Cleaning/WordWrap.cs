using System.Text;

namespace MailScanner.Actors.Cleaning;

/// <summary>Breaks text at its spaces so that no line passes a width: a warning's lines, a folded header's.</summary>
internal static class WordWrap
{
    /// <summary>
    /// The words of <paramref name="text"/> joined by spaces, with <paramref name="lineBreak"/> instead of the space
    /// before a word that would pass <paramref name="width"/>. The first line starts at <paramref name="firstColumn"/>
    /// (after a header's name); what follows the last line feed of the break (a folded header's tab) starts the next.
    /// A word longer than the width stands alone on its line.
    /// </summary>
    public static string AtSpaces(string text, int width, int firstColumn, string lineBreak)
    {
        var indent = lineBreak.Length - 1 - lineBreak.LastIndexOf('\n');
        var b = new StringBuilder(text.Length + 16);
        var column = firstColumn;
        var first = true;
        foreach (var word in text.Split(' '))
        {
            if (!first)
            {
                if (column + 1 + word.Length > width)
                {
                    b.Append(lineBreak);
                    column = indent;
                }
                else
                {
                    b.Append(' ');
                    column++;
                }
            }
            first = false;
            b.Append(word);
            column += word.Length;
        }
        return b.ToString();
    }
}
