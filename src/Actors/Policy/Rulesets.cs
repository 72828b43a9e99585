using System.Globalization;
using Akka.Configuration;
using Akka.Configuration.Hocon;
using MailScanner.Actors.Configuration;
using MailScanner.Actors.Queue;
using MailScanner.Actors.Scanning;
using ConfigurationException = MailScanner.Actors.Configuration.ConfigurationException;

namespace MailScanner.Actors.Policy;

/// <summary>
/// One entry of <c>mailscanner.policy.rulesets</c>: a name, the matchers that select it, and the complete policy
/// (its own keys over the defaults section) for the messages it selects.
/// </summary>
public sealed record Ruleset(string Name, IReadOnlyList<EnvelopeMatcher> Matchers, MessagePolicy Policy)
{
    /// <summary>A ruleset matches when any of its matchers matches the sender or any recipient.</summary>
    public bool Matches(QueueEnvelope envelope) => Matchers.Any(m => m.Matches(envelope));
}

/// <summary>
/// The per-verdict actions and subject tags, and their per-domain, per-address and per-sender overrides: the
/// <c>mailscanner.policy</c> section (see <c>hocon/mailscanner.conf</c> for the syntax).
/// <para>
/// <see cref="Resolve"/> picks the FIRST ruleset, in configuration order, with a matcher that matches the sender
/// or any recipient; when none does, the defaults apply. One message gets one policy: a message to several
/// recipients gets the first ruleset that matches any of them, even if another recipient would have matched a
/// later ruleset or none (splitting a message per recipient is future work).
/// </para>
/// </summary>
public sealed class Rulesets
{
    public const string Section = "mailscanner.policy";
    private const string DefaultsKey = Section + ".defaults";
    private const string RulesetsKey = Section + ".rulesets";

    private static readonly string[] RulesetKeys = ["name", "match", "actions", "subject-tags", "spam-threshold", "high-spam-threshold"];
    private const string FilenameTagKey = "filename";

    private static readonly Lazy<Rulesets> Shipped = new(() => FromConfig(GatewaySettingsLoader.Defaults()));

    private Rulesets(MessagePolicy defaults, IReadOnlyList<Ruleset> all)
    {
        Defaults = defaults;
        All = all;
    }

    /// <summary>The shipped configuration: MailScanner's defaults and no rulesets.</summary>
    public static Rulesets Default => Shipped.Value;

    /// <summary>The policy when no ruleset matches (<c>mailscanner.policy.defaults</c>).</summary>
    public MessagePolicy Defaults { get; }

    /// <summary>The rulesets in configuration order (the order they are tried in).</summary>
    public IReadOnlyList<Ruleset> All { get; }

    /// <summary>The policy for a message: the first matching ruleset's, or the defaults.</summary>
    public MessagePolicy Resolve(QueueEnvelope envelope)
    {
        foreach (var ruleset in All)
        {
            if (ruleset.Matches(envelope)) return ruleset.Policy;
        }
        return Defaults;
    }

    /// <summary>
    /// Reads <c>mailscanner.policy</c> from an already merged configuration (as <see cref="GatewaySettingsLoader.LoadConfig"/>
    /// returns). Every problem is a <see cref="ConfigurationException"/> naming its key, a ruleset's keys as
    /// <c>mailscanner.policy.rulesets[0].actions.spam</c> (counting from 0).
    /// </summary>
    public static Rulesets FromConfig(Config config)
    {
        var defaults = ReadDefaults(config);
        var entries = ReadRulesetEntries(config);
        var rulesets = new List<Ruleset>(entries.Count);
        for (var i = 0; i < entries.Count; i++)
            rulesets.Add(ReadRuleset($"{RulesetsKey}[{i.ToString(CultureInfo.InvariantCulture)}]", entries[i], defaults));
        return new Rulesets(defaults, rulesets);
    }

    private static MessagePolicy ReadDefaults(Config config)
    {
        var actionsKey = $"{DefaultsKey}.actions";
        var tagsKey = $"{DefaultsKey}.subject-tags";
        var actions = ReadActions(config, actionsKey, requireAll: true, inherited: null);
        var (tags, filenameTag) = ReadSubjectTags(config, tagsKey, requireAll: true, inherited: null);
        return new MessagePolicy(actions, tags, null, null, MessagePolicy.DefaultsName) { FilenameSubjectTag = filenameTag };
    }

    private static IReadOnlyList<HoconValue> ReadRulesetEntries(Config config)
    {
        if (!config.HasPath(RulesetsKey)) throw new ConfigurationException(RulesetsKey, "is missing");
        var value = config.GetValue(RulesetsKey);
        if (value.IsObject())
            throw new ConfigurationException(RulesetsKey, "must be a list [ { name = ..., match = [...], ... }, ... ], not a single section");
        if (value.IsArray()) return value.GetArray().ToList();
        // Akka's HOCON reads an empty list [] as an empty value, neither an array nor a string.
        if (value.IsEmpty || string.IsNullOrEmpty(value.GetString())) return [];
        throw new ConfigurationException(RulesetsKey, "must be a list [ { name = ..., match = [...], ... }, ... ]");
    }

    private static Ruleset ReadRuleset(string key, HoconValue entry, MessagePolicy defaults)
    {
        if (!entry.IsObject())
            throw new ConfigurationException(key, "must be a section { name = ..., match = [...], actions { ... } }");
        foreach (var child in entry.GetObject().Items.Keys)
        {
            if (!RulesetKeys.Contains(child))
                throw new ConfigurationException($"{key}.{child}", $"unknown key (a ruleset has: {string.Join(", ", RulesetKeys)})");
        }
        var config = new Config(new HoconRoot(entry));

        var name = config.HasPath("name") ? ReadString(config, "name", $"{key}.name") : key[Section.Length..].TrimStart('.');
        if (name.Length == 0) throw new ConfigurationException($"{key}.name", "must not be empty");

        var matchers = new List<EnvelopeMatcher>();
        var matchKey = $"{key}.match";
        if (!config.HasPath("match")) throw new ConfigurationException(matchKey, "is missing (a ruleset must say whose mail it is for)");
        foreach (var text in ReadStringList(config, "match", matchKey))
        {
            if (!EnvelopeMatcher.TryParse(text, out var matcher, out var problem))
                throw new ConfigurationException(matchKey, problem);
            matchers.Add(matcher!);
        }
        if (matchers.Count == 0) throw new ConfigurationException(matchKey, "must list at least one matcher, e.g. [\"to-domain:example.com\"]");

        var actions = config.HasPath("actions")
            ? ReadActions(config, "actions", requireAll: false, inherited: defaults, shownAs: $"{key}.actions")
            : defaults.Actions;
        var (tags, filenameTag) = config.HasPath("subject-tags")
            ? ReadSubjectTags(config, "subject-tags", requireAll: false, inherited: defaults, shownAs: $"{key}.subject-tags")
            : (defaults.SubjectTags, defaults.FilenameSubjectTag);
        var spam = ReadThreshold(config, "spam-threshold", $"{key}.spam-threshold");
        var highSpam = ReadThreshold(config, "high-spam-threshold", $"{key}.high-spam-threshold");
        if (spam is { } s && highSpam is { } h && h < s)
            throw new ConfigurationException($"{key}.high-spam-threshold", $"must not be lower than spam-threshold ({h} < {s})");

        var policy = new MessagePolicy(actions, tags, spam, highSpam, name) { FilenameSubjectTag = filenameTag };
        return new Ruleset(name, matchers, policy);
    }

    /// <summary>HOCON verdict names: the operator-facing spelling with a dash (<c>high-spam</c>, <c>dangerous-content</c>).</summary>
    private static string VerdictKey(VerdictKind kind) => Verdict.Name(kind).Replace(' ', '-');

    /// <summary>The verdicts a policy decides on; <see cref="VerdictKind.Unprocessable"/> is always quarantined.</summary>
    private static readonly VerdictKind[] PolicyVerdicts = Enum.GetValues<VerdictKind>().Where(k => k != VerdictKind.Unprocessable).ToArray();

    private static readonly string AllVerdicts = string.Join(", ", PolicyVerdicts.Select(VerdictKey));

    private static VerdictKind? ParseVerdict(string key) =>
        PolicyVerdicts.Select(k => (VerdictKind?)k).FirstOrDefault(k => VerdictKey(k!.Value) == key);

    private static Dictionary<VerdictKind, MessageAction> ReadActions(
        Config config, string path, bool requireAll, MessagePolicy? inherited, string? shownAs = null)
    {
        var shown = shownAs ?? path;
        var section = ReadSection(config, path, shown);
        var actions = inherited is null ? new Dictionary<VerdictKind, MessageAction>() : new Dictionary<VerdictKind, MessageAction>(inherited.Actions);
        foreach (var (verdictName, value) in section.Items)
        {
            var key = $"{shown}.{verdictName}";
            var kind = ParseVerdict(verdictName)
                ?? throw new ConfigurationException(key, $"unknown verdict '{verdictName}' (known: {AllVerdicts})");
            var raw = SingleString(value, key);
            var action = MessageActionNames.Parse(raw)
                ?? throw new ConfigurationException(key, $"unknown action '{raw}' (known: {MessageActionNames.All})");
            if (action == MessageAction.DeliverCleaned && kind is not (VerdictKind.Infected or VerdictKind.DangerousContent))
                throw new ConfigurationException(key, $"deliver-cleaned only applies to infected and dangerous-content (a {Verdict.Name(kind)} message has nothing to clean)");
            actions[kind] = action;
        }
        if (requireAll)
        {
            foreach (var kind in PolicyVerdicts)
            {
                if (!actions.ContainsKey(kind)) throw new ConfigurationException($"{shown}.{VerdictKey(kind)}", "is missing");
            }
        }
        return actions;
    }

    private static (IReadOnlyDictionary<VerdictKind, string> Tags, string FilenameTag) ReadSubjectTags(
        Config config, string path, bool requireAll, MessagePolicy? inherited, string? shownAs = null)
    {
        var shown = shownAs ?? path;
        var section = ReadSection(config, path, shown);
        var tags = inherited is null ? new Dictionary<VerdictKind, string>() : new Dictionary<VerdictKind, string>(inherited.SubjectTags);
        var filenameTag = inherited?.FilenameSubjectTag;
        foreach (var (name, value) in section.Items)
        {
            var key = $"{shown}.{name}";
            if (name == FilenameTagKey)
            {
                filenameTag = SingleString(value, key);
                continue;
            }
            var kind = ParseVerdict(name)
                ?? throw new ConfigurationException(key, $"unknown verdict '{name}' (known: {AllVerdicts}, and {FilenameTagKey} for dangerous content that is only about file names and types)");
            tags[kind] = SingleString(value, key);
        }
        if (requireAll)
        {
            foreach (var name in PolicyVerdicts.Select(VerdictKey).Append(FilenameTagKey))
            {
                if (!section.Items.ContainsKey(name)) throw new ConfigurationException($"{shown}.{name}", "is missing (\"\" for no tag)");
            }
        }
        // An empty tag means "no tag"; keep it out of the dictionary so SubjectTagFor answers null.
        foreach (var kind in tags.Where(t => string.IsNullOrWhiteSpace(t.Value)).Select(t => t.Key).ToList()) tags.Remove(kind);
        return (tags, filenameTag ?? MessagePolicy.DefaultFilenameSubjectTag);
    }

    private static HoconObject ReadSection(Config config, string path, string shown)
    {
        if (!config.HasPath(path)) throw new ConfigurationException(shown, "is missing");
        var value = config.GetValue(path);
        if (!value.IsObject()) throw new ConfigurationException(shown, "must be a section { ... }");
        return value.GetObject();
    }

    private static string SingleString(HoconValue value, string key)
    {
        if (value.IsObject()) throw new ConfigurationException(key, "must be a single value, not a section { ... }");
        if (value.IsArray()) throw new ConfigurationException(key, "must be a single value, not a list [ ... ]");
        return (value.GetString() ?? "").Trim();
    }

    private static string ReadString(Config config, string path, string key) => SingleString(config.GetValue(path), key);

    private static IReadOnlyList<string> ReadStringList(Config config, string path, string key) =>
        ConfigValues.StringList(config.GetValue(path), key, example: "to-domain:example.com");

    private static double? ReadThreshold(Config config, string path, string key)
    {
        if (!config.HasPath(path)) return null;
        var raw = ReadString(config, path, key);
        if (!double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !double.IsFinite(value))
            throw new ConfigurationException(key, $"must be a number such as 5.0 (got '{raw}')");
        return value;
    }
}
