using System.Diagnostics;

namespace LayerStats.Tests.RegistryE2E;

/// <summary>The result of one external command.</summary>
public sealed record ToolResult(int ExitCode, string Stdout, string Stderr)
{
    public ToolResult EnsureSuccess(string what) =>
        ExitCode == 0 ? this : throw new InvalidOperationException($"{what} failed ({ExitCode}): {Stderr.Trim()} {Stdout.Trim()}");
}

/// <summary>Runs the Debian tools the registry tests need (docker-registry, skopeo, htpasswd), installing them when missing.</summary>
public static class ExternalTool
{
    private static readonly Lock s_installGate = new();

    /// <summary>
    /// The full path of <paramref name="binary"/>; when it is missing, tries <c>apt-get install -y PACKAGE</c> (as root),
    /// and fails with a message that says how to install it otherwise. Never a skip: a test that needs it fails.
    /// </summary>
    public static string Require(string binary, string debianPackage, bool install = true)
    {
        lock (s_installGate)
        {
            if (Find(binary) is { } found)
            {
                return found;
            }

            string attempt = "";
            if (install && Find("apt-get") is not null && Environment.UserName == "root")
            {
                var result = Run("apt-get", ["install", "-y", "-qq", debianPackage], environment: new() { ["DEBIAN_FRONTEND"] = "noninteractive" }, timeout: TimeSpan.FromMinutes(5));
                if (result.ExitCode != 0)
                {
                    Run("apt-get", ["update", "-qq"], timeout: TimeSpan.FromMinutes(5));
                    result = Run("apt-get", ["install", "-y", "-qq", debianPackage], environment: new() { ["DEBIAN_FRONTEND"] = "noninteractive" }, timeout: TimeSpan.FromMinutes(5));
                }

                attempt = $" (apt-get install {debianPackage} exited {result.ExitCode}: {result.Stderr.Trim()})";
                if (Find(binary) is { } installed)
                {
                    return installed;
                }
            }

            throw new InvalidOperationException(
                $"the registry tests need '{binary}' from the Debian package '{debianPackage}', which is not installed{attempt}; " +
                $"install it with 'apt-get install {debianPackage}' (scripts/test.sh does)");
        }
    }

    public static string? Find(string binary)
    {
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(dir, binary);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    public static ToolResult Run(
        string fileName,
        IEnumerable<string> args,
        string? stdin = null,
        Dictionary<string, string?>? environment = null,
        TimeSpan? timeout = null)
    {
        var start = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        foreach (var (key, value) in environment ?? [])
        {
            start.Environment[key] = value;
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"cannot start {fileName}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            process.StandardInput.Write(stdin);
        }

        process.StandardInput.Close();
        if (!process.WaitForExit(timeout ?? TimeSpan.FromMinutes(2)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{fileName} {string.Join(' ', args)} did not finish in time");
        }

        process.WaitForExit();
        return new ToolResult(process.ExitCode, stdout.Result, stderr.Result);
    }
}
