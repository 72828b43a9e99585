using Akka.Configuration;
using Akka.Configuration.Hocon;

namespace MailScanner.Actors.Configuration;

/// <summary>Refuses a key in the operator's file that the defaults do not know, so that a typo is never silently ignored.</summary>
internal static class UnknownKeyCheck
{
    /// <summary>
    /// Top-level sections an operator file may hold besides <c>mailscanner</c>: <c>akka</c> tunes the actor
    /// system. Anything else at the top is almost certainly a misspelt <c>mailscanner</c>.
    /// </summary>
    private static readonly string[] AllowedTopLevel = [GatewaySettingsLoader.Root, "akka"];

    /// <summary>
    /// Every key under <c>mailscanner</c> in the operator file must exist in the defaults: a misspelt key would
    /// otherwise be ignored and its default silently used. A list (such as <c>mailscanner.policy.rulesets</c>, a
    /// list of sections) is not looked into: its entries have no counterpart in the defaults, so the reader of
    /// that key checks them (<see cref="Policy.Rulesets.FromConfig"/> rejects an unknown key inside a ruleset).
    /// </summary>
    public static void Check(Config operatorConfig, Config defaults)
    {
        if (operatorConfig.IsEmpty) return;
        var top = operatorConfig.Root.GetObject();
        foreach (var (key, value) in top.Items)
        {
            if (!AllowedTopLevel.Contains(key))
                throw new ConfigurationException(key, $"unknown key (top-level sections are: {string.Join(", ", AllowedTopLevel)})");
            if (key == GatewaySettingsLoader.Root) Compare(key, value, defaults.Root.GetObject().Items[key]);
        }

        static void Compare(string path, HoconValue given, HoconValue known)
        {
            if (known.IsObject())
            {
                if (!given.IsObject())
                    throw new ConfigurationException(path, "must be a section { ... } of settings, not a single value");
                var knownItems = known.GetObject().Items;
                foreach (var (key, value) in given.GetObject().Items)
                {
                    var child = $"{path}.{key}";
                    if (!knownItems.TryGetValue(key, out var knownChild))
                        throw new ConfigurationException(child, "unknown key");
                    Compare(child, value, knownChild);
                }
                return;
            }
            if (given.IsObject())
                throw new ConfigurationException(path, "must be a single value, not a section { ... }");
            if (given.IsEmpty)
                throw new ConfigurationException(path, "has no value (HOCON syntax error?)");
        }
    }
}
