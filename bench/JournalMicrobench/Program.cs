using System.Diagnostics;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using MailScanner.Actors.Identity;
using MailScanner.Actors.Journal;
using MailScanner.Actors.Policy;
using MailScanner.Actors.Scanning;

// journal-microbench [messages] [in-flight] [state-dir] [rounds] [snapshot-every]
// Each simulated message does what a MessageActor asks of the journal: BeginAttempt (awaited), RecordDelivery
// (awaited), Finished (told). Prints messages per second and the process's CPU time per message.
var messages = args.Length > 0 ? int.Parse(args[0]) : 20000;
var inFlight = args.Length > 1 ? int.Parse(args[1]) : 150;
var state = args.Length > 2 && args[2] != "" ? args[2] : Path.Combine(Path.GetTempPath(), $"journal-microbench-{Environment.ProcessId}");
Directory.CreateDirectory(state);
try
{
    var snapshotEvery = args.Length > 4 ? int.Parse(args[4]) : 2000;
    var settings = JournalSettings.For(state, snapshotEvery: snapshotEvery);
    // The journal as the gateway starts it: through Akka.Hosting, its plugin and serializer in the configuration from the start.
    using var host = new HostBuilder()
        .ConfigureServices(services => services.AddAkka("bench", (builder, _) =>
        {
            builder.AddHocon("akka.loglevel = WARNING", HoconAddMode.Prepend);
            builder.AddMessageJournal(settings);
        }))
        .Build();
    await host.StartAsync();
    var client = MessageJournalHosting.ClientFor(host.Services.GetRequiredService<ActorRegistry>(), settings);
    var identity = (int i) => new FileIdentity(0xfe00, (ulong)i + 1, 7);
    await client.BeginAttemptAsync(identity(-1), "warm-up");

    var rounds = args.Length > 3 ? int.Parse(args[3]) : 2;
    for (var round = 0; round < rounds; round++)
    {
        var next = round * messages;
        var end = next + messages;
        var process = Process.GetCurrentProcess();
        var cpu0 = process.TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, inFlight).Select(async _ =>
        {
            for (var i = Interlocked.Increment(ref next) - 1; i < end; i = Interlocked.Increment(ref next) - 1)
            {
                var id = identity(i);
                await client.BeginAttemptAsync(id, $"q{i}");
                var key = id.Key;
                await client.RecordDeliveryAsync(id, new DeliveryIntent(VerdictKind.Clean, [], MessageAction.Deliver,
                    new StagedName($"/var/spool/outgoing/tf-{key}", "123456", key), null));
                client.Finished(id);
            }
        }));
        clock.Stop();
        process.Refresh();
        var cpu = process.TotalProcessorTime - cpu0;
        Console.WriteLine($"round {round + 1}: {messages} messages, {inFlight} in flight: {messages / clock.Elapsed.TotalSeconds:F0} messages/s, " +
                          $"{cpu.TotalMilliseconds * 1000 / messages:F0} µs CPU per message ({cpu.TotalSeconds / clock.Elapsed.TotalSeconds:F2} cores)");
    }
    await host.StopAsync();
}
finally
{
    Directory.Delete(state, recursive: true);
}
