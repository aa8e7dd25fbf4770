using System.Text.Json;

namespace LayerStats.Tests.EndToEnd;

public sealed class GateTests
{
    [Fact]
    public void On_dives_image_lowest_efficiency_098_passes_and_099_fails_as_dives_figure_says()
    {
        using var cli = new CliHarness();
        Assert.Equal(0, cli.Scan(TestPaths.DiveImage).Exit);

        var pass = cli.Run("check", "--db", cli.Database, "--lowest-efficiency", "0.98");
        Assert.Equal(0, pass.Exit);
        Assert.Contains("PASS", pass.Stdout, StringComparison.Ordinal);
        Assert.Contains("0.9844212134184309 >= 0.98", pass.Stdout, StringComparison.Ordinal);
        Assert.Contains("gate: PASS", pass.Stdout, StringComparison.Ordinal);

        var fail = cli.Run("check", "--db", cli.Database, "--lowest-efficiency", "0.99");
        Assert.Equal(3, fail.Exit);
        Assert.Contains("0.9844212134184309 < 0.99", fail.Stdout, StringComparison.Ordinal);
        Assert.Contains("dive-test:latest", fail.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_rule_judges_the_figures_at_its_threshold_and_disabled_rules_are_skipped()
    {
        using var cli = new CliHarness();
        Assert.Equal(0, cli.Scan(TestPaths.DiveImage).Exit);
        // dive's image: wasted 32,025 bytes, user wasted 0.4834911001404049, hidden 32,025, duplicates 57,645 (9 × 6,405).
        var at = cli.Run(
            "check", "--db", cli.Database, "--format", "json",
            "--highest-wasted-bytes", "32025", "--highest-user-wasted-percent", "0.4834911001404049",
            "--highest-hidden-bytes", "32025", "--highest-duplicate-bytes", "57645", "--lowest-layering-savings-percent", "0",
            "--lowest-efficiency", "disabled");
        Assert.True(at.Exit == 0, at.Stdout);
        var rows = JsonDocument.Parse(at.Stdout).RootElement.EnumerateArray().ToList();
        Assert.Equal(
            ["highest-duplicate-bytes/image", "highest-duplicate-bytes/overall", "highest-hidden-bytes/image", "highest-hidden-bytes/overall", "highest-user-wasted-percent/image", "highest-wasted-bytes/image", "lowest-efficiency/image", "lowest-layering-savings-percent/overall"],
            rows.Select(r => $"{r.GetProperty("rule").GetString()}/{r.GetProperty("scope").GetString()}").Order(StringComparer.Ordinal));
        Assert.Equal("SKIP", rows.Single(r => r.GetProperty("rule").GetString() == "lowest-efficiency").GetProperty("status").GetString());

        var over = cli.Run(
            "check", "--db", cli.Database, "--format", "json",
            "--highest-wasted-bytes", "32024", "--highest-user-wasted-percent", "0.48", "--highest-hidden-bytes", "32KB",
            "--highest-duplicate-bytes", "57644", "--lowest-layering-savings-percent", "0.1");
        Assert.Equal(3, over.Exit);
        var failed = JsonDocument.Parse(over.Stdout).RootElement.EnumerateArray()
            .Where(r => r.GetProperty("status").GetString() == "FAIL")
            .Select(r => $"{r.GetProperty("rule").GetString()}/{r.GetProperty("scope").GetString()}").Order(StringComparer.Ordinal);
        // 32KB = 32,000 < 32,025; the image alone has nothing shared, so layering saves 0 %.
        Assert.Equal(
            ["highest-duplicate-bytes/image", "highest-duplicate-bytes/overall", "highest-hidden-bytes/image", "highest-hidden-bytes/overall", "highest-user-wasted-percent/image", "highest-wasted-bytes/image", "lowest-layering-savings-percent/overall"],
            failed);

        var scoped = cli.Run("check", "--db", cli.Database, "--highest-hidden-bytes", "1", "--scope", "overall", "--format", "json");
        var judged = JsonDocument.Parse(scoped.Stdout).RootElement.EnumerateArray().Where(r => r.GetProperty("status").GetString() != "SKIP");
        Assert.Equal("overall", Assert.Single(judged).GetProperty("scope").GetString());
    }

    [Theory]
    [InlineData("--lowest-efficiency", "high")]
    [InlineData("--highest-wasted-bytes", "12 parsecs")]
    [InlineData("--scope", "galaxy")]
    public void A_misconfigured_rule_is_a_usage_error(string option, string value)
    {
        using var cli = new CliHarness();
        Assert.Equal(0, cli.Scan(TestPaths.DiveImage).Exit);
        var result = cli.Run("check", "--db", cli.Database, option, value);
        Assert.Equal(2, result.Exit);
        Assert.Contains(value, result.Stderr, StringComparison.Ordinal);
    }
}
