using System.Diagnostics;
using System.Text.Json;

namespace LayerStats.Tests.Html;

/// <summary>
/// Debian's chromium, headless, as a user's browser would open a report from disk: the DOM after the page's scripts
/// ran (<c>--dump-dom</c>), a screenshot, and Chromium's own NetLog to see every request the page started. All host
/// names resolve to nothing, so even a request that slipped through could not reach the network.
/// </summary>
internal static class Chromium
{
    private static readonly string[] Candidates = ["/usr/bin/chromium", "/usr/bin/chromium-browser"];

    public static string Executable =>
        Candidates.FirstOrDefault(File.Exists)
        ?? throw new InvalidOperationException(
            "chromium is not installed, and the HTML report tests need a real browser: run 'apt-get install -y chromium' " +
            "(scripts/test.sh installs it when missing)");

    /// <summary>The page's DOM after load (scripts ran), and the URLs of the network requests the page itself started.</summary>
    public static (string Dom, IReadOnlyList<string> PageRequests) DumpDom(string htmlFile, string workDir)
    {
        string netLog = Path.Combine(workDir, "netlog-" + Guid.NewGuid().ToString("N")[..8] + ".json");
        string dom = Run(workDir, ["--enable-logging=stderr", "--v=0", $"--log-net-log={netLog}", "--dump-dom", new Uri(htmlFile).AbsoluteUri]);
        return (dom, PageRequests(netLog));
    }

    public static void Screenshot(string htmlFile, string png, string workDir, int width = 1400, int height = 3000) =>
        Run(workDir, [$"--screenshot={png}", $"--window-size={width},{height}", new Uri(htmlFile).AbsoluteUri]);

    private static string Run(string workDir, IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo(Executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        string profile = Path.Combine(workDir, "chromium-profile-" + Guid.NewGuid().ToString("N")[..8]);
        foreach (string a in new[]
                 {
                     "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", $"--user-data-dir={profile}",
                     "--host-resolver-rules=MAP * ~NOTFOUND",
                 }.Concat(args))
        {
            psi.ArgumentList.Add(a);
        }

        using var process = Process.Start(psi) ?? throw new InvalidOperationException("chromium did not start");
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        // A guard against a hung browser, not a timing assertion.
        if (!process.WaitForExit(TimeSpan.FromMinutes(3)))
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException("chromium did not finish within 3 minutes");
        }

        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"chromium exited with {process.ExitCode}: {stderr.Result}");
        }

        return stdout;
    }

    /// <summary>
    /// Requests in the NetLog made on behalf of a page opened from disk (network isolation key of a file:// top frame);
    /// the browser's own background requests (updates, accounts) have other keys and are not the page's doing.
    /// </summary>
    private static List<string> PageRequests(string netLog)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(netLog), new JsonDocumentOptions { AllowTrailingCommas = true });
        var types = doc.RootElement.GetProperty("constants").GetProperty("logEventTypes");
        int startJob = types.GetProperty("URL_REQUEST_START_JOB").GetInt32();
        var urls = new List<string>();
        foreach (var e in doc.RootElement.GetProperty("events").EnumerateArray())
        {
            if (e.GetProperty("type").GetInt32() != startJob || !e.TryGetProperty("params", out var p))
            {
                continue;
            }

            string key = p.TryGetProperty("network_isolation_key", out var k) ? k.GetString() ?? "" : "";
            if (key.Contains("file://", StringComparison.Ordinal) && p.TryGetProperty("url", out var url))
            {
                urls.Add(url.GetString() ?? "");
            }
        }

        return urls;
    }
}
