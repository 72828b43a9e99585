using System.Reflection;

namespace MailScanner.Actors.CrashHarness;

/// <summary>Which gateway to run and with which <c>dotnet</c>.</summary>
public sealed record GatewayLocation(string Muxer, string Dll)
{
    private const string SolutionFile = "MailScanner.Actors.sln";

    /// <summary>
    /// The given dll, or the Host build of the same configuration as this harness
    /// (<c>src/Host/bin/&lt;Configuration&gt;/net10.0/mailscanner-actors.dll</c>, found by walking up to the solution file).
    /// </summary>
    public static GatewayLocation Find(string? dll = null)
    {
        dll ??= DefaultDll();
        if (!File.Exists(dll)) throw new FileNotFoundException($"the gateway is not built: {dll} is missing (dotnet build {SolutionFile})", dll);
        return new GatewayLocation(FindMuxer(), Path.GetFullPath(dll));
    }

    private static string DefaultDll()
    {
        var configuration = typeof(GatewayLocation).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .SingleOrDefault(a => a.Key == "BuildConfiguration")?.Value ?? "Debug";
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, SolutionFile)))
                return Path.Combine(dir.FullName, "src", "Host", "bin", configuration, "net10.0", "mailscanner-actors.dll");
        }
        throw new FileNotFoundException($"no {SolutionFile} above {AppContext.BaseDirectory}; pass the gateway dll explicitly (--gateway)");
    }

    /// <summary>The dotnet that runs us (test host or `dotnet run`), else the one on PATH.</summary>
    private static string FindMuxer()
    {
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet") return Environment.ProcessPath!;
        return Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";
    }
}
