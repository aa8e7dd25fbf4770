using System.Diagnostics;
using System.Text.Json;

namespace LayerStats.Tests.EndToEnd;

/// <summary>Runs the independent Python reference (tools/reference) and returns its JSON figures.</summary>
public static class ReferenceImplementation
{
    public static string RunRaw(IEnumerable<string> args)
    {
        var start = new ProcessStartInfo("python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(TestPaths.Repo("tools", "reference", "layerstats_reference.py"));
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("cannot start python3");
        var stdout = process.StandardOutput.ReadToEndAsync();
        string stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, "reference failed: " + stderr);
        return stdout.Result;
    }

    public static JsonElement Figures(params string[] args) => JsonDocument.Parse(RunRaw(args)).RootElement.Clone();
}
