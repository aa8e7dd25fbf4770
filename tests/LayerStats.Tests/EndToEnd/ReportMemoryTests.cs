using LayerStats.Cli;
using LayerStats.Storage;
using LayerStats.Tests.Safety;

namespace LayerStats.Tests.EndToEnd;

/// <summary>
/// <c>--memory-limit</c> on the read-side commands, and what an operator is told when DuckDB runs out of memory: with
/// stale derived tables (a scan that did not finish its end-of-run step) the figures come from every file row, and the
/// message says so and names the next scan; with fresh ones it names only <c>--memory-limit</c>.
/// </summary>
public sealed class ReportMemoryTests
{
    /// <summary>Small enough that DuckDB cannot run the duplicates report over these ~10,000 file rows.</summary>
    private const string Tiny = "4MB";

    private static CliHarness Scanned()
    {
        var cli = new CliHarness();
        string[] inputs = SafetyImages.Write(cli.Dir, count: 3, baseFiles: 3000, appFiles: 2000);
        var scan = cli.Scan(inputs);
        Assert.True(scan.Exit == 0, scan.Stderr);
        return cli;
    }

    /// <summary>As after a killed scan: the derived tables no longer cover every referenced layer content.</summary>
    private static void MakeStale(CliHarness cli)
    {
        using (var db = LayerStatsDatabase.Open(cli.Database))
        {
            using var command = db.Connection.CreateCommand();
            command.CommandText = "DELETE FROM derived_contents WHERE diff_id = (SELECT min(diff_id) FROM derived_contents)";
            Assert.Equal(1, command.ExecuteNonQuery());
        }

        Assert.False((bool)cli.Query("SELECT fresh FROM derived_state").Rows[0][0]!);
    }

    [Fact]
    public void Out_of_memory_on_stale_derived_tables_names_them_the_next_scan_and_the_option()
    {
        using var cli = Scanned();
        long fileRows = cli.Scalar("SELECT count(*) FROM files");
        MakeStale(cli);

        var (exit, stdout, stderr) = cli.Run("report", "duplicates", "--db", cli.Database, "--memory-limit", Tiny);

        Assert.Equal(ExitCodes.Error, exit);
        Assert.Equal("", stdout);
        string[] lines = stderr.TrimEnd('\n').Split('\n');
        Assert.StartsWith("layerstats: Out of Memory Error: ", lines[0], StringComparison.Ordinal);
        Assert.All(lines, l => Assert.StartsWith("layerstats: ", l, StringComparison.Ordinal));
        Assert.Contains($"computed from all {fileRows:N0} file rows", stderr, StringComparison.Ordinal);
        Assert.Contains("did not finish bringing the derived tables (content_stats etc.) up to date", stderr, StringComparison.Ordinal);
        Assert.Contains("the next scan into this database", stderr, StringComparison.Ordinal);
        Assert.Contains("more memory than its 4 MB with --memory-limit", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("SET ", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Possible solutions", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Out_of_memory_on_fresh_derived_tables_names_only_the_option()
    {
        using var cli = Scanned();
        Assert.True((bool)cli.Query("SELECT fresh FROM derived_state").Rows[0][0]!);

        var (exit, _, stderr) = cli.Run("report", "duplicates", "--db", cli.Database, "--memory-limit", Tiny);

        Assert.Equal(ExitCodes.Error, exit);
        string[] lines = stderr.TrimEnd('\n').Split('\n');
        Assert.True(lines.Length == 2, stderr);
        Assert.StartsWith("layerstats: Out of Memory Error: ", lines[0], StringComparison.Ordinal);
        Assert.Equal("layerstats: give the report more memory than its 4 MB with --memory-limit SIZE (e.g. --memory-limit 4GB).", lines[1]);
    }

    [Fact]
    public void Every_read_side_command_explains_running_out_on_stale_tables()
    {
        using var cli = Scanned();
        MakeStale(cli);
        string html = Path.Combine(cli.Dir, "page.html");
        string[][] commands =
        [
            ["report", "html", "--db", cli.Database, "--out", html, "--memory-limit", Tiny],
            ["report", "csv", "--db", cli.Database, "--out", Path.Combine(cli.Dir, "csv"), "--memory-limit", Tiny],
            ["check", "--db", cli.Database, "--highest-duplicate-bytes", "1GB", "--memory-limit", Tiny],
            ["query", "--db", cli.Database, "--memory-limit", Tiny, "SELECT * FROM duplicate_files"],
        ];
        foreach (var args in commands)
        {
            var (exit, _, stderr) = cli.Run(args);
            Assert.True(exit == ExitCodes.Error, $"{string.Join(' ', args)}: {exit} {stderr}");
            Assert.Contains("did not finish bringing the derived tables", stderr, StringComparison.Ordinal);
            Assert.Contains("--memory-limit SIZE", stderr, StringComparison.Ordinal);
        }

        Assert.False(File.Exists(html));
    }

    [Fact]
    public void More_memory_on_stale_tables_gives_the_rows_of_fresh_tables()
    {
        using var cli = Scanned();
        string[] reports = ["summary", "images", "duplicates", "shared-layers"];
        var fresh = reports.Select(r => Run(cli, "report", r, "--db", cli.Database, "--format", "json")).ToList();
        Assert.Contains("\"occurrences\"", fresh[2], StringComparison.Ordinal); // the duplicates report has rows
        MakeStale(cli);

        for (int i = 0; i < reports.Length; i++)
        {
            Assert.Equal(fresh[i], Run(cli, "report", reports[i], "--db", cli.Database, "--format", "json", "--memory-limit", "256MB"));
        }
    }

    [Fact]
    public void The_nightly_config_gives_run_reports_their_memory_and_says_which_key()
    {
        using var cli = Scanned();
        MakeStale(cli);
        string config = Path.Combine(cli.Dir, "layerstats.json");

        // run scans first (which brings the tables up to date again); check --config reads the same key.
        File.WriteAllText(config, $$"""{ "database": "{{cli.Database}}", "sources": ["{{Path.Combine(cli.Dir, "app0.tar")}}"], "reports": { "memoryLimit": "{{Tiny}}" } }""");
        var (exit, _, stderr) = cli.Run("check", "--config", config, "--highest-duplicate-bytes", "1GB");
        Assert.Equal(ExitCodes.Error, exit);
        Assert.Contains("did not finish bringing the derived tables", stderr, StringComparison.Ordinal);
        Assert.Contains("more memory than its 4 MB", stderr, StringComparison.Ordinal);

        // run's scan brings the tables up to date; its reports then run out at 4 MB, and the advice names the config key.
        File.WriteAllText(config, $$"""{ "database": "{{cli.Database}}", "sources": ["{{Path.Combine(cli.Dir, "app0.tar")}}"], "reports": { "memoryLimit": "{{Tiny}}", "summaryJson": "summary.json" } }""");
        (exit, _, stderr) = cli.Run("run", "--config", config, "--quiet");
        Assert.Equal(ExitCodes.Error, exit);
        Assert.EndsWith("layerstats: give the report more memory than its 4 MB with \"memoryLimit\" under \"reports\" in the config file (e.g. \"memoryLimit\": \"4GB\").\n", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("derived tables", stderr, StringComparison.Ordinal);
        Assert.True((bool)cli.Query("SELECT fresh FROM derived_state").Rows[0][0]!);

        File.WriteAllText(config, $$"""{ "database": "{{cli.Database}}", "sources": ["{{Path.Combine(cli.Dir, "app0.tar")}}"], "reports": { "memoryLimit": "2 GB" } }""");
        (exit, _, stderr) = cli.Run("run", "--config", config);
        Assert.Equal(ExitCodes.Usage, exit);
        Assert.Contains("'reports.memoryLimit' takes a size", stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("512MB", 512)]
    [InlineData("4GB", 4000)]
    [InlineData("4gb", 4000)]
    [InlineData("1.5GiB", 1610)]
    [InlineData("8MiB", 8)]
    [InlineData("1TB", 1_000_000)]
    public void Memory_limit_sizes_parse_to_megabytes(string text, int megabytes) =>
        Assert.Equal(megabytes, ReportMemory.ParseMegabytes(text));

    [Theory]
    [InlineData("4")]
    [InlineData("4G")]
    [InlineData("4 GB")]
    [InlineData("-1GB")]
    [InlineData("0MB")]
    [InlineData("3MB")]
    [InlineData("3.99MB")]
    [InlineData("2TB")]
    [InlineData("GB")]
    [InlineData("1e3MB")]
    [InlineData("4GBs")]
    [InlineData("")]
    public void Bad_memory_limits_are_usage_errors(string text)
    {
        using var cli = new CliHarness();
        foreach (var args in new[]
                 {
                     new[] { "report", "summary", "--db", cli.Database, "--memory-limit", text },
                     ["report", "html", "--db", cli.Database, "--out", "x.html", "--memory-limit", text],
                     ["report", "csv", "--db", cli.Database, "--out", "csv", "--memory-limit", text],
                     ["check", "--db", cli.Database, "--memory-limit", text],
                     ["query", "--db", cli.Database, "--memory-limit", text, "SELECT 1"],
                 })
        {
            var (exit, _, stderr) = cli.Run(args);
            Assert.True(exit == ExitCodes.Usage, $"{args[0]} {args[1]}: {exit} {stderr}");
            Assert.Contains($"--memory-limit takes a size from 4MB to 1TB such as 512MB, 4GB or 8GiB, not '{text}'", stderr, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Usage_texts_name_the_option()
    {
        using var cli = new CliHarness();
        foreach (var command in new[] { new[] { "report" }, ["report", "html"], ["query"], ["check"] })
        {
            var (exit, stdout, _) = cli.Run([.. command, "--help"]);
            Assert.Equal(0, exit);
            Assert.Contains("--memory-limit SIZE", stdout, StringComparison.Ordinal);
        }
    }

    private static string Run(CliHarness cli, params string[] args)
    {
        var (exit, stdout, stderr) = cli.Run(args);
        Assert.True(exit == 0, stderr);
        return stdout;
    }
}
