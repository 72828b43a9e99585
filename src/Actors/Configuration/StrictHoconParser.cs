using Akka.Configuration;

namespace MailScanner.Actors.Configuration;

/// <summary>
/// Akka's HOCON parser with what it forgives refused: an unbalanced brace, bracket or quote (which would silently move
/// keys somewhere else) and <c>include</c> (a configuration is one file). Every problem is a
/// <see cref="ConfigurationException"/> naming the source and, where known, the line.
/// </summary>
internal static class StrictHoconParser
{
    /// <summary>Parses <paramref name="text"/>, read from <paramref name="source"/> (named in every error); includes are refused.</summary>
    public static Config Parse(string text, string source)
    {
        CheckBalanced(text, source);
        try
        {
            return ConfigurationFactory.ParseString(text, include =>
                throw new ConfigurationException(source, $"include \"{include}\" is not supported; put the keys in this file"));
        }
        catch (ConfigurationException) { throw; }
        catch (Exception e)
        {
            throw new ConfigurationException(source, $"HOCON syntax error: {OneLine(e.Message)}", e);
        }
    }

    /// <summary>
    /// Akka's HOCON parser forgives an unclosed or extra brace, bracket or quote, which would silently move
    /// keys somewhere else; this catches that before parsing.
    /// </summary>
    private static void CheckBalanced(string text, string source)
    {
        var open = new Stack<(char Bracket, int Line)>();
        var line = 1;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '\n') { line++; continue; }
            if (c == '#' || (c == '/' && i + 1 < text.Length && text[i + 1] == '/'))
            {
                while (i + 1 < text.Length && text[i + 1] != '\n') i++;
                continue;
            }
            if (c == '"')
            {
                var start = line;
                var triple = i + 2 < text.Length && text[i + 1] == '"' && text[i + 2] == '"';
                if (triple)
                {
                    var end = text.IndexOf("\"\"\"", i + 3, StringComparison.Ordinal);
                    if (end < 0) throw Syntax(start, "unterminated \"\"\" string");
                    line += text.AsSpan(i, end - i).Count('\n');
                    i = end + 2;
                    continue;
                }
                i++;
                while (i < text.Length && text[i] != '"' && text[i] != '\n')
                {
                    if (text[i] == '\\') i++;
                    i++;
                }
                if (i >= text.Length || text[i] != '"') throw Syntax(start, "unterminated string");
                continue;
            }
            switch (c)
            {
                case '{' or '[':
                    open.Push((c, line));
                    break;
                case '}' or ']':
                    var expected = c == '}' ? '{' : '[';
                    if (open.Count == 0) throw Syntax(line, $"'{c}' without a matching '{expected}'");
                    var (bracket, at) = open.Pop();
                    if (bracket != expected) throw Syntax(line, $"'{c}' closes the '{bracket}' opened on line {at}");
                    break;
            }
        }
        if (open.Count > 0)
        {
            var (bracket, at) = open.Peek();
            throw Syntax(at, $"'{bracket}' is never closed");
        }

        ConfigurationException Syntax(int atLine, string what) =>
            new(source, $"HOCON syntax error on line {atLine}: {what}");
    }

    private static string OneLine(string message) =>
        string.Join(' ', message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
}
