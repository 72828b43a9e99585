using System.Text;
using System.Text.Json;
using MailScanner.Actors.Queue.ZMailer;
using MailScanner.Actors.Tests.TestSupport;
using Xunit;

namespace MailScanner.Actors.Tests.Host;

/// <summary>
/// The log as <c>mailscanner.logging</c> configures it, from the real process: compact JSON on the console and in a
/// rolling file, one outcome event per message carrying the metrics' labels (Outcome, VerdictKind) and the ids.
/// </summary>
public sealed partial class CommandLineSpecs
{
    [Fact]
    public async Task Should_write_one_json_outcome_event_per_message_with_the_metrics_labels_and_ids_to_console_and_file()
    {
        await File.WriteAllTextAsync(Path.Combine(_dir.FullName, "gateway.conf"), """
            mailscanner.queue { incoming = "spool/router", outgoing = "spool/outgoing", work = "spool/work", bad = "spool/bad" }
            mailscanner.quarantine.directory = "spool/quarantine"
            mailscanner.state-directory = "state"
            mailscanner.metrics.enabled = no
            mailscanner.logging {
              console.format = json
              file { enabled = yes, path = "log/gateway.log", format = json }
            }
            """);
        Directory.CreateDirectory(Spool("router"));
        Enqueue("Subject: clean one\r\n\r\nhello\r\n");
        Enqueue("Subject: clean two\r\n\r\nhello again\r\n");
        Enqueue($"Subject: infected\r\n\r\n{ClamdDaemon.Eicar}\r\n");
        var logDirectory = Path.Combine(_dir.FullName, "log");
        var (process, stdout, stderr) = Start("run", "--config", "gateway.conf");

        await Until(() => OutcomeEvents(FileLines(logDirectory)).Count == 3, process, stdout, stderr);
        Assert.Equal(0, SendSignal(process.Id, SigTerm));
        using (var patience = new CancellationTokenSource(Patience))
            await process.WaitForExitAsync(patience.Token);
        Assert.True(process.ExitCode == 0, $"exit {process.ExitCode}; stderr: {Read(stderr)}");

        var fromFile = OutcomeEvents(FileLines(logDirectory));
        // The default policy cleans an infected message: its cleaned copy is delivered, its original quarantined.
        Assert.Equal(["delivered/clean", "delivered/clean", "delivered/infected"],
            fromFile.Select(e => $"{e.GetProperty("Outcome").GetString()}/{e.GetProperty("VerdictKind").GetString()}").Order());
        Assert.All(fromFile, e =>
        {
            Assert.Matches("^[0-9]+$", e.GetProperty("QueueId").GetString()); // ZMailer's queue id: the inode number
            Assert.False(string.IsNullOrEmpty(e.GetProperty("Identity").GetString()));
            Assert.Equal("Information", e.TryGetProperty("@l", out var level) ? level.GetString() : "Information");
        });
        Assert.Contains("quarantine", fromFile.Single(e => e.GetProperty("VerdictKind").GetString() == "infected").GetProperty("Action").GetString());

        // The console carries the same events, every line a JSON object.
        var consoleLines = Read(stdout).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, OutcomeEvents(consoleLines).Count);
        Assert.Contains(consoleLines, line => line.Contains("mailscanner-actors stopped", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Should_exit_2_naming_the_key_when_the_log_file_cannot_be_written()
    {
        await File.WriteAllTextAsync(Path.Combine(_dir.FullName, "not-a-directory"), "");
        await File.WriteAllTextAsync(Path.Combine(_dir.FullName, "gateway.conf"), """
            mailscanner.metrics.enabled = no
            mailscanner.logging.file { enabled = yes, path = "not-a-directory/gateway.log" }
            """);

        var (exitCode, stdout, stderr) = await RunToEnd("run", "--config", "gateway.conf");

        Assert.True(exitCode == 2, $"exit {exitCode}; stdout: {stdout}; stderr: {stderr}");
        Assert.StartsWith(
            $"mailscanner-actors: configuration error: mailscanner.logging.file.path: cannot write the log file {Path.Combine(_dir.FullName, "not-a-directory/gateway.log")}",
            stderr.Trim());
    }

    private void Enqueue(string message)
    {
        var envelope = new Envelope("alice@example.org", ["bob@example.com"], "mx.example.org [192.0.2.1]", []);
        ZMailerQueueWriter.WriteDurably(Spool("router"), ZMailerQueueFile.Format(envelope, Encoding.UTF8.GetBytes("From: alice@example.org\r\n" + message)));
    }

    /// <summary>The complete lines of every file the rolling sink wrote so far (it names them with the date).</summary>
    private static string[] FileLines(string directory)
    {
        if (!Directory.Exists(directory)) return [];
        return Directory.EnumerateFiles(directory)
            .SelectMany(path =>
            {
                using var shared = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
                using var reader = new StreamReader(shared);
                var text = reader.ReadToEnd();
                return text[..(text.LastIndexOf('\n') + 1)].Split('\n', StringSplitOptions.RemoveEmptyEntries); // complete lines only
            })
            .ToArray();
    }

    /// <summary>The per-message outcome events among JSON log lines (a line that is not a complete object fails the spec).</summary>
    private static List<JsonElement> OutcomeEvents(IEnumerable<string> lines) =>
        lines.Select(line => JsonDocument.Parse(line).RootElement)
            .Where(e => e.TryGetProperty("VerdictKind", out _) && e.TryGetProperty("Outcome", out _))
            .ToList();
}
