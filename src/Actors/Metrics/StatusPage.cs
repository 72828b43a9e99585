using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace MailScanner.Actors.Metrics;

/// <summary>
/// The live status page at <c>/</c>: one HTML file with its script and SVG charts inside (nothing from a CDN, so it works
/// on an offline gateway), which polls <c>/status.json</c> and <c>/health/ready</c> every two seconds.
/// </summary>
public static class StatusPage
{
    private const string ResourceName = "MailScanner.Actors.StatusPage.html";

    private static readonly Lazy<byte[]> Html = new(() =>
    {
        using var stream = typeof(StatusPage).Assembly.GetManifestResourceStream(ResourceName)
            ?? throw new InvalidOperationException($"embedded resource {ResourceName} is missing from the build");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    });

    internal static void Map(IEndpointRouteBuilder endpoints) =>
        endpoints.MapGetAndHead("/", async context =>
        {
            context.Response.ContentType = "text/html; charset=utf-8";
            context.Response.Headers.CacheControl = "no-cache";
            // The page loads nothing from elsewhere; this says so to the browser too.
            context.Response.Headers.ContentSecurityPolicy = "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'";
            await context.Response.Body.WriteAsync(Html.Value);
        });
}
