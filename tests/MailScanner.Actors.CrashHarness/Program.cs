using System.Globalization;
using MailScanner.Actors.CrashHarness;

// mailscanner-crash-harness [--format zmailer|postfix] [--kills N] [--seed S] [--keep] [--gateway DLL] [--rate MSG_PER_S] [--infected-every N]
//                           [--delivering-every N] [--min-uptime-ms MS] [--max-uptime-ms MS] [--dir PARENT]
//                           [--cluster NODES | --postgresql] [--messages N] [--postgres-outage SECONDS]
// --cluster/--postgresql: the gateway(s) on a private PostgreSQL journal, --messages produced, --kills (default 5) spread over them.
// Progress and details go to stderr; stdout gets exactly one line: lost=N duplicated=N kills=N messages=M.
// Exit code 0 when nothing was lost or duplicated and nothing was left behind, 1 otherwise, 2 on a usage error.

const string Usage = "usage: mailscanner-crash-harness [--format zmailer|postfix] [--kills N] [--seed S] [--keep] [--gateway DLL] [--rate MSG_PER_S] " +
                     "[--infected-every N] [--delivering-every N] [--min-uptime-ms MS] [--max-uptime-ms MS] [--dir PARENT] " +
                     "[--cluster NODES | --postgresql] [--messages N] [--postgres-outage SECONDS]";
var options = new CrashHarnessOptions();
try
{
    for (var i = 0; i < args.Length; i++)
    {
        string Value() => i + 1 < args.Length ? args[++i] : throw new FormatException($"{args[i]} needs a value");
        int Int() => int.Parse(Value(), NumberStyles.None, CultureInfo.InvariantCulture);
        options = args[i] switch
        {
            "--format" => options with { Format = Value() },
            "--kills" => options with { Kills = Int() },
            "--cluster" => options with { ClusterNodes = Int() },
            "--postgresql" => options with { PostgreSql = true },
            "--messages" => options with { Messages = Int() },
            "--postgres-outage" => options with { PostgresOutage = TimeSpan.FromSeconds(Int()) },
            "--seed" => options with { Seed = Int() },
            "--keep" => options with { Keep = true },
            "--gateway" => options with { Gateway = Value() },
            "--rate" => options with { MessagesPerSecond = double.Parse(Value(), NumberStyles.Float, CultureInfo.InvariantCulture) },
            "--infected-every" => options with { InfectedEvery = Int() },
            "--delivering-every" => options with { DeliveringKillEvery = Int() },
            "--min-uptime-ms" => options with { MinUptime = TimeSpan.FromMilliseconds(Int()) },
            "--max-uptime-ms" => options with { MaxUptime = TimeSpan.FromMilliseconds(Int()) },
            "--dir" => options with { Parent = Value() },
            "--help" or "-h" => throw new FormatException(""),
            _ => throw new FormatException($"unknown option {args[i]}"),
        };
    }
    if (!HarnessQueue.Formats.Contains(options.Format)) throw new FormatException($"unknown format {options.Format} (known: {string.Join(", ", HarnessQueue.Formats)})");
    if (options.MessagesPerSecond <= 0 || options.MaxUptime < options.MinUptime) throw new FormatException("rate must be positive, max uptime at least min uptime");
    if (options.PostgresOutage is not null && !options.OnPostgreSql) throw new FormatException("--postgres-outage needs --cluster or --postgresql");
    if (options.OnPostgreSql && !args.Contains("--kills")) options = options with { Kills = 5 };
}
catch (FormatException e)
{
    if (e.Message.Length > 0) Console.Error.WriteLine($"mailscanner-crash-harness: {e.Message}");
    Console.Error.WriteLine(Usage);
    return 2;
}

using var interrupt = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    interrupt.Cancel();
};
CrashReport report;
try
{
    report = options.OnPostgreSql
        ? await FleetRunner.RunAsync(options, Console.Error.WriteLine, interrupt.Token)
        : await CrashRunner.RunAsync(options, Console.Error.WriteLine, interrupt.Token);
}
catch (OperationCanceledException) when (interrupt.IsCancellationRequested)
{
    Console.Error.WriteLine("mailscanner-crash-harness: interrupted");
    return 130;
}
Console.Error.WriteLine(report.Describe());
Console.WriteLine(report.Line);
return report.Passed ? 0 : 1;
