namespace MailScanner.Actors.Configuration;

/// <summary>
/// The configuration cannot be used: <see cref="Key"/> says where (a HOCON path such as
/// <c>mailscanner.batch.coordinators</c>, or the path of a configuration file that cannot be read) and
/// <see cref="Problem"/> says what is wrong, so one line is enough for the operator to fix it.
/// </summary>
public sealed class ConfigurationException : Exception
{
    public ConfigurationException(string key, string problem, Exception? inner = null)
        : base($"{key}: {problem}", inner)
    {
        Key = key;
        Problem = problem;
    }

    /// <summary>The HOCON key (or configuration file path) the problem is about.</summary>
    public string Key { get; }

    /// <summary>What is wrong with it, in words an operator can act on.</summary>
    public string Problem { get; }
}
