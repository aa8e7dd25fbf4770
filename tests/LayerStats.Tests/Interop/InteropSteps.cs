using System.Diagnostics;
using System.Text.Json;
using LayerStats.Tests.EndToEnd;
using LayerStats.Tests.Fixtures;

namespace LayerStats.Tests.Interop;

/// <summary>
/// Shared steps of the interoperability tests: run a third-party tool (skopeo, umoci, GNU tar; a missing tool fails the
/// test with an install hint, never skips it), scan with LayerStats and compare with the independent reference.
/// </summary>
internal static class InteropSteps
{
    public static string SampleLayout => TestPaths.Repo("sample-data", "images", "oci-layout");

    public static string SampleOciArchive => TestPaths.Repo("sample-data", "images", "tool-web.oci-archive.tar");

    /// <summary>Runs a tool; fails the test with its stderr when it exits non-zero. Returns its stdout.</summary>
    public static string Tool(string tool, params string[] args) => FixtureTools.RunOk(tool, args);

    /// <summary>Runs a tool in a UTF-8 locale (GNU tar converts names through it); fails the test when it exits non-zero.</summary>
    public static void ToolUtf8(string tool, params string[] args)
    {
        var start = new ProcessStartInfo(FixtureTools.Require(tool)) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.Environment["LC_ALL"] = "C.UTF-8";
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("cannot start " + tool);
        var stdout = process.StandardOutput.ReadToEndAsync();
        string stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        _ = stdout.Result;
        Assert.True(process.ExitCode == 0, $"{tool} {string.Join(' ', args)} exited {process.ExitCode}: {stderr}");
    }

    public static JsonElement SkopeoManifest(string reference) => FixtureTools.SkopeoRaw(reference);

    public static JsonElement SkopeoConfig(string reference, params string[] globalOptions) =>
        JsonDocument.Parse(Tool("skopeo", [.. globalOptions, "inspect", "--config", "--raw", reference])).RootElement;

    public static string[] DiffIds(JsonElement config) =>
        config.GetProperty("rootfs").GetProperty("diff_ids").EnumerateArray().Select(d => d.GetString()!).ToArray();

    public static string[] LayerDigests(JsonElement manifest) =>
        manifest.GetProperty("layers").EnumerateArray().Select(d => d.GetProperty("digest").GetString()!).ToArray();

    public static string ConfigDigest(JsonElement manifest) => manifest.GetProperty("config").GetProperty("digest").GetString()!;

    /// <summary>The manifest digest that index.json of an OCI layout directory gives a ref name.</summary>
    public static string IndexDigest(string layoutDir, string refName)
    {
        using var index = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(layoutDir, "index.json")));
        return index.RootElement.GetProperty("manifests").EnumerateArray()
            .Single(m => m.TryGetProperty("annotations", out var a) && a.TryGetProperty("org.opencontainers.image.ref.name", out var n) && n.GetString() == refName)
            .GetProperty("digest").GetString()!;
    }

    public static byte[] Blob(string layoutDir, string digest) => File.ReadAllBytes(Path.Combine(layoutDir, "blobs", "sha256", digest["sha256:".Length..]));

    /// <summary>
    /// Scans the inputs (exit 0, no scan error) and asserts every figure, overall and per image, equals what the
    /// reference computes on the same inputs. Returns the reference's figures.
    /// </summary>
    public static JsonElement ScanMatchesReference(CliHarness cli, params string[] inputs) => ScanMatchesReference(cli, [], inputs);

    /// <inheritdoc cref="ScanMatchesReference(CliHarness, string[])"/>
    public static JsonElement ScanMatchesReference(CliHarness cli, string[] scanOptions, params string[] inputs)
    {
        var (exit, _, stderr) = cli.Run(["scan", "--db", cli.Database, "--quiet", .. scanOptions, .. inputs]);
        Assert.True(exit == 0, $"scan exited {exit}: {stderr}");
        Assert.Equal(0L, cli.Scalar("SELECT count(*) FROM scan_errors"));
        var expected = JsonDocument.Parse(ReferenceFigures.RunReference(inputs)).RootElement;
        ReferenceFigures.AssertFigures(cli, expected);
        return expected;
    }

    /// <summary>One column of a query, as strings (NULL as null).</summary>
    public static List<string?> Column(CliHarness cli, string sql) => cli.Query(sql).Rows.Select(r => r[0] is null ? null : Convert.ToString(r[0], System.Globalization.CultureInfo.InvariantCulture)).ToList();

    public static string Sql(string text) => "'" + text.Replace("'", "''", StringComparison.Ordinal) + "'";

    /// <summary>Deterministic pseudo-random bytes (a file's content the test knows exactly).</summary>
    public static byte[] Bytes(int length, int seed)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }
}
