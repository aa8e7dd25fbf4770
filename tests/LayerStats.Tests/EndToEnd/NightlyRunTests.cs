using System.Text.Json;

namespace LayerStats.Tests.EndToEnd;

public sealed class NightlyRunTests
{
    [Fact]
    public void Run_scans_writes_the_reports_and_gates_with_the_exit_code_of_the_gate()
    {
        using var cli = new CliHarness();
        string images = TestPaths.Repo("sample-data", "images");
        string config = Path.Combine(cli.Dir, "layerstats.json");
        File.WriteAllText(config, $$"""
            {
              // the bundled samples, by glob
              "database": "nightly.duckdb",
              "sources": [{{JsonSerializer.Serialize(Path.Combine(images, "*.tar"))}}, {{JsonSerializer.Serialize("oci:" + Path.Combine(images, "oci-layout"))}}],
              "scan": { "jobs": 2 },
              "reports": { "csv": "out/csv", "summaryJson": "out/summary.json" },
              "gate": { "lowest-layering-savings-percent": 99, "highest-hidden-bytes": "disabled" },
            }
            """);

        var (exit, stdout, stderr) = cli.Run("run", "--config", config, "--quiet");

        Assert.True(exit == 3, $"exit {exit}: {stderr}");
        Assert.Contains("FAIL", stdout, StringComparison.Ordinal);
        string db = Path.Combine(cli.Dir, "nightly.duckdb");
        using var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(cli.Dir, "out", "summary.json")));
        // Three tars (legacy, Docker 25+, OCI archive) and the OCI layout: all 9 images but the gzipped hello.
        Assert.Equal(9, summary.RootElement.GetProperty("images").GetInt32());
        Assert.True(File.Exists(Path.Combine(cli.Dir, "out", "csv", "images.csv")));

        // The same job with a gate it meets exits 0; nothing is read again.
        File.WriteAllText(config, File.ReadAllText(config).Replace("\"lowest-layering-savings-percent\": 99", "\"lowest-layering-savings-percent\": 10", StringComparison.Ordinal));
        var again = cli.Run("run", "--config", config, "--quiet");
        Assert.True(again.Exit == 0, again.Stderr + again.Stdout);
        var layersRead = cli.Run("query", "--db", db, "--format", "json", "SELECT layers_read FROM scan_runs ORDER BY run_id DESC LIMIT 1");
        Assert.Equal(0, JsonDocument.Parse(layersRead.Stdout).RootElement[0].GetProperty("layers_read").GetInt32());
    }

    [Theory]
    [InlineData("{\"database\": \"x.duckdb\", \"sources\": [\"a.tar\"], \"gate\": {\"lowest-efficency\": 0.9}}", "lowest-efficency")]
    [InlineData("{\"database\": \"x.duckdb\", \"sources\": [\"a.tar\"], \"reprots\": {}}", "reprots")]
    [InlineData("{\"database\": \"x.duckdb\", \"sources\": []}", "sources")]
    [InlineData("{\"database\": ", "not valid JSON")]
    public void A_config_mistake_is_a_usage_error_naming_it(string json, string named)
    {
        using var cli = new CliHarness();
        string config = Path.Combine(cli.Dir, "bad.json");
        File.WriteAllText(config, json);
        var result = cli.Run("run", "--config", config);
        Assert.Equal(2, result.Exit);
        Assert.False(File.Exists(Path.Combine(cli.Dir, "x.duckdb")), "nothing is scanned when the config is wrong");
        Assert.Contains(named, result.Stderr, StringComparison.Ordinal);
    }
}
