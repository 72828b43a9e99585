namespace MailScanner.Actors; internal static class Placeholder { }
