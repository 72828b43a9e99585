namespace MailScanner.Actors.Policy;

/// <summary>
/// What the gateway does with a message once its verdict is known. The operator chooses one per verdict
/// (<c>mailscanner.policy</c>), per ruleset; the names in HOCON are the kebab-case forms
/// (<c>deliver</c>, <c>deliver-cleaned</c>, <c>quarantine</c>, <c>delete</c>, <c>store</c>).
/// </summary>
public enum MessageAction
{
    /// <summary>Deliver the message as it is, with the gateway's headers and the verdict's subject tag.</summary>
    Deliver,

    /// <summary>
    /// Deliver the message with every infected or dangerous part replaced by a short text part naming the file
    /// and the reason, and keep the untouched original in the quarantine. MailScanner's default for viruses
    /// and dangerous content. Only meaningful for <c>infected</c> and <c>dangerous-content</c>.
    /// </summary>
    DeliverCleaned,

    /// <summary>Do not deliver; keep the original in the quarantine (it can be released later).</summary>
    Quarantine,

    /// <summary>
    /// Drop the message: nothing is delivered and no quarantine copy is kept. The decision is logged first;
    /// the original queue file is deleted only after that log line is written.
    /// </summary>
    Delete,

    /// <summary>Deliver the message tagged (as <see cref="Deliver"/>) AND keep a copy of the original in the quarantine.</summary>
    Store,
}

/// <summary>What each action writes.</summary>
public static class MessageActions
{
    /// <summary>A (tagged, maybe cleaned) copy goes to the outgoing queue.</summary>
    public static bool Delivers(this MessageAction action) =>
        action is MessageAction.Deliver or MessageAction.DeliverCleaned or MessageAction.Store;

    /// <summary>The untouched original goes to the quarantine.</summary>
    public static bool KeepsOriginalInQuarantine(this MessageAction action) =>
        action is MessageAction.DeliverCleaned or MessageAction.Quarantine or MessageAction.Store;
}

/// <summary>The HOCON spelling of <see cref="MessageAction"/>.</summary>
public static class MessageActionNames
{
    public static string Name(MessageAction action) => action switch
    {
        MessageAction.Deliver => "deliver",
        MessageAction.DeliverCleaned => "deliver-cleaned",
        MessageAction.Quarantine => "quarantine",
        MessageAction.Delete => "delete",
        MessageAction.Store => "store",
        _ => action.ToString().ToLowerInvariant(),
    };

    /// <summary>Parses a HOCON action name (case-insensitive); null when it is not one.</summary>
    public static MessageAction? Parse(string name) => name.Trim().ToLowerInvariant() switch
    {
        "deliver" => MessageAction.Deliver,
        "deliver-cleaned" => MessageAction.DeliverCleaned,
        "quarantine" => MessageAction.Quarantine,
        "delete" => MessageAction.Delete,
        "store" => MessageAction.Store,
        _ => null,
    };

    /// <summary>Every name, for error messages.</summary>
    public static readonly string All = string.Join(", ", Enum.GetValues<MessageAction>().Select(Name));
}
