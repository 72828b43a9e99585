using System.CommandLine;
using MailScanner.Actors.Host;

// Signals (SIGINT/SIGTERM) belong to the generic host's lifetime (SignalLifetime), which stops Akka cleanly;
// System.CommandLine's own handler would cut the shutdown short after its 2-second default.
var invocation = new InvocationConfiguration { ProcessTerminationTimeout = null };
return await CommandLine.Build().Parse(args).InvokeAsync(invocation);
