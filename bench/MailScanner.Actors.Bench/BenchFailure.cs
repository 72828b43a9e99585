namespace MailScanner.Actors.Bench;

/// <summary>A measurement could not be completed; the message says why in words an operator can act on.</summary>
internal sealed class BenchFailure(string message) : Exception(message);
