using System.Diagnostics;

namespace MailScanner.Actors.Queue.Exim;

/// <summary>
/// Has the delivering Exim deliver the messages the gateway wrote: <c>&lt;command&gt; -Mc &lt;id&gt;...</c>, as
/// MailScanner does, in the background, a few runs at once (each delivers its messages one after the other, as a
/// queue runner does); the ids written while the runs are busy go together into the next one. A message whose
/// <c>-H</c> is gone by then (delivered by a queue runner) is left out. A failing run is reported once per episode;
/// the messages stay on the delivering Exim's spool for its queue runner.
/// </summary>
/// <remarks>Sendmail's is the same but for how ids are named and passed (<c>qf&lt;id&gt;</c>, <c>-qI&lt;id&gt;</c> each).</remarks>
internal sealed class EximDeliveryTrigger(IReadOnlyList<string> command, int maxRuns = 4, int maxIdsPerRun = 100,
    Func<string, string>? idOfPath = null, Func<IReadOnlyList<string>, IEnumerable<string>>? argumentsFor = null, string option = "-Mc")
{
    private readonly Func<string, string> _idOf = idOfPath ?? (path => Path.GetFileName(path)[..^2]);
    private readonly Func<IReadOnlyList<string>, IEnumerable<string>> _argumentsFor = argumentsFor ?? (ids => ids.Prepend("-Mc"));

    private readonly object _lock = new();
    private readonly List<string> _waiting = new();
    private int _running;
    private bool _failing;
    private string? _unreported;

    /// <summary>Queues the message at <paramref name="headerPath"/> for the next run; the previous runs' failure, once, if there was one.</summary>
    public string? Deliver(string headerPath)
    {
        lock (_lock)
        {
            _waiting.Add(headerPath);
            var problem = _unreported;
            _unreported = null;
            if (_running < maxRuns)
            {
                _running++;
                _ = Task.Run(RunWhileWaitingAsync);
            }
            return problem;
        }
    }

    /// <summary>Runs the command for the message at <paramref name="headerPath"/> alone, now, and waits for it: null, or why it failed.</summary>
    public Task<string?> DeliverNowAsync(string headerPath) => RunAsync([_idOf(headerPath)]);

    private async Task RunWhileWaitingAsync()
    {
        while (true)
        {
            List<string> batch;
            lock (_lock)
            {
                if (_waiting.Count == 0)
                {
                    _running--;
                    return;
                }
                batch = _waiting.Take(maxIdsPerRun).ToList();
                _waiting.RemoveRange(0, batch.Count);
            }
            var ids = batch.Where(File.Exists).Select(_idOf).ToList();
            if (ids.Count == 0) continue;
            var problem = await RunAsync(ids).ConfigureAwait(false);
            lock (_lock)
            {
                if (problem is not null && !_failing) _unreported = problem;
                _failing = problem is not null;
            }
        }
    }

    private async Task<string?> RunAsync(IReadOnlyList<string> ids)
    {
        var start = new ProcessStartInfo(command[0]) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in command.Skip(1)) start.ArgumentList.Add(argument);
        foreach (var argument in _argumentsFor(ids)) start.ArgumentList.Add(argument);
        try
        {
            using var process = Process.Start(start) ?? throw new InvalidOperationException("the process did not start");
            var output = process.StandardOutput.ReadToEndAsync();
            var errors = process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync().ConfigureAwait(false);
            var said = ((await output.ConfigureAwait(false)) + (await errors.ConfigureAwait(false))).Trim();
            return process.ExitCode == 0 ? null : $"{string.Join(' ', command)} {option} ({ids.Count} message(s)) exited with {process.ExitCode}: {said}";
        }
        catch (Exception e)
        {
            return $"{string.Join(' ', command)} {option} could not be run: {e.Message}";
        }
    }
}
