using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using Akka.Event;
using MailScanner.Actors.Cleaning;

namespace MailScanner.Actors.Scanning.Rules;

/// <summary>
/// Runs the built-in rules and the cleaner over a few small messages of the kinds real mail is made of (plain text,
/// HTML alternatives in quoted-printable Latin-1, a signed message, an archive with a denied member, active HTML) while
/// the gateway starts. Otherwise the first such message from the queue pays for compiling and initialising its whole
/// code path: measured on a quiet gateway, the first HTML message waited 170–230 ms, the next ones 5 ms.
/// </summary>
public static class RulesWarmUp
{
    /// <summary>Enough calls for the runtime to replace each method's first, quick compilation by its optimised one.</summary>
    private const int Rounds = 40;

    /// <summary>In the background: the gateway does not wait for it, and a message that arrives meanwhile is scanned as usual.</summary>
    public static Task StartInBackground(RuleSettings settings, ILoggingAdapter log) => Task.Run(() =>
    {
        try
        {
            log.Debug("Built-in rules warmed up in {Milliseconds} ms", Run(settings).TotalMilliseconds);
        }
        catch (Exception e)
        {
            // Only a head start: the messages themselves are scanned either way.
            log.Warning("Warming up the built-in rules failed ({Reason}); the first messages may take longer", e.Message);
        }
    });

    internal static TimeSpan Run(RuleSettings settings)
    {
        var clock = Stopwatch.StartNew();
        var samples = Samples();
        for (var round = 0; round < Rounds; round++)
            foreach (var sample in samples) ScanAndClean(sample, settings);
        return clock.Elapsed;
    }

    /// <summary>What the MessageActor does with a message's content, short of the daemons.</summary>
    internal static CleanedMessage ScanAndClean(ReadOnlyMemory<byte> message, RuleSettings settings)
    {
        var report = BuiltInRules.Scan(message, settings);
        var verdict = Verdict.Of(report.Findings);
        var request = new CleaningRequest(verdict, report.Findings, null, ReplaceDangerousParts: verdict.Kind != VerdictKind.Clean,
            "{Warm-up}", settings.Html);
        return MessageCleaner.CleanAsNeeded(message, request, report.HasActiveHtml, report.Parsed);
    }

    /// <summary>Plain, alternative, signed, dangerous: in that order.</summary>
    internal static IReadOnlyList<ReadOnlyMemory<byte>> Samples()
    {
        const string headers = """
            From: Warm-up <warm-up@localhost>
            To: nobody@localhost
            Date: Mon, 30 Nov 2026 08:00:00 +0000
            Message-ID: <warm-up@localhost>
            MIME-Version: 1.0
            """;
        var html = """
            <html><head><style>p { color: #333; }</style></head><body>
            <table><tr><td><p>Caf=E9 &amp; cr&egrave;me &#8212; <a href=3D"https://example.org/offer?id=3D1">https://e=
            xample.org/offer</a></p><img src=3D"https://example.org/pixel.gif" width=3D"1"></td></tr></table>
            </body></html>
            """;
        var plain = $"""
            {headers}
            Subject: plain

            Just text, as most mail is.
            """;
        var alternative = $"""
            {headers}
            Subject: alternative
            Content-Type: multipart/alternative; boundary="alt"

            --alt
            Content-Type: text/plain; charset="iso-8859-1"
            Content-Transfer-Encoding: quoted-printable

            Caf=E9 & cr=E8me
            --alt
            Content-Type: text/html; charset="iso-8859-1"
            Content-Transfer-Encoding: quoted-printable

            {html}
            --alt--
            """;
        var signed = $"""
            {headers}
            Subject: signed
            Content-Type: multipart/signed; micalg=pgp-sha1; protocol="application/pgp-signature"; boundary="sig"

            --sig
            Content-Type: text/plain; charset=us-ascii

            Signed text.
            --sig
            Content-Type: application/pgp-signature

            -----BEGIN PGP SIGNATURE-----
            iD8DBQE9jL3Zv4Yk8Q==
            -----END PGP SIGNATURE-----
            --sig--
            """;
        var dangerous = $"""
            {headers}
            Subject: dangerous
            Content-Type: multipart/mixed; boundary="mix"

            --mix
            Content-Type: text/html; charset=utf-8

            <html><body><form action="https://example.net/login"><input name="password"></form>
            <script>document.location = "https://example.net/";</script>
            <a href="https://example.net/phish">https://www.example.org/</a></body></html>
            --mix
            Content-Type: application/zip; name="invoice.zip"
            Content-Disposition: attachment; filename="invoice.zip"
            Content-Transfer-Encoding: base64

            {Convert.ToBase64String(Zip("invoice.pdf.exe", "MZ not really a program"), Base64FormattingOptions.InsertLineBreaks)}
            --mix--
            """;
        return [.. new[] { plain, alternative, signed, dangerous }.Select(text => new ReadOnlyMemory<byte>(Encoding.ASCII.GetBytes(text.ReplaceLineEndings("\r\n"))))];
    }

    private static byte[] Zip(string name, string content)
    {
        using var buffer = new MemoryStream();
        using (var zip = new ZipArchive(buffer, ZipArchiveMode.Create, leaveOpen: true))
        {
            using var entry = new StreamWriter(zip.CreateEntry(name).Open());
            entry.Write(content);
        }
        return buffer.ToArray();
    }
}
