using System.Text.Json;

namespace LayerStats.Tests.EndToEnd;

/// <summary>
/// The bundled samples scanned through the CLI, figure by figure against the independent Python reference
/// (tools/reference), whose output for the samples is committed as sample-data/expected.json.
/// </summary>
public sealed class SampleDataTests
{
    private static readonly string[] Inputs = Directory.GetFileSystemEntries(TestPaths.Repo("sample-data", "images")).Order(StringComparer.Ordinal).ToArray();

    [Fact]
    public void Every_figure_equals_the_reference_implementations()
    {
        using var cli = new CliHarness();
        var (exit, _, stderr) = cli.Scan(Inputs);
        Assert.True(exit == 0, stderr);

        using var expected = JsonDocument.Parse(File.ReadAllText(TestPaths.Repo("sample-data", "expected.json")));
        ReferenceFigures.AssertFigures(cli, expected.RootElement);
    }

    [Fact]
    public void The_committed_expected_figures_are_what_the_reference_computes_today()
    {
        using var committed = JsonDocument.Parse(File.ReadAllText(TestPaths.Repo("sample-data", "expected.json")));
        using var fresh = JsonDocument.Parse(ReferenceFigures.RunReference(Inputs));
        Assert.Equal(committed.RootElement.ToString(), fresh.RootElement.ToString());
    }

    [Fact]
    public void A_platform_filter_keeps_the_matching_images_only_with_the_references_figures()
    {
        using var cli = new CliHarness();
        var (exit, _, stderr) = cli.Run(["scan", "--db", cli.Database, "--quiet", "--platform", "linux/arm64", .. Inputs]);
        Assert.True(exit == 0, stderr);
        Assert.Equal(1L, cli.Scalar("SELECT count(*) FROM images"));
        Assert.Equal("arm64", cli.Query("SELECT architecture FROM images").Rows[0][0]);
        using var expected = JsonDocument.Parse(ReferenceFigures.RunReference(["--platform", "linux/arm64", .. Inputs]));
        ReferenceFigures.AssertFigures(cli, expected.RootElement);
    }

    [Fact]
    public void An_image_reached_from_two_inputs_is_one_image_with_both_references()
    {
        using var cli = new CliHarness();
        Assert.Equal(0, cli.Scan(Inputs).Exit);
        // web:1.0 is in the OCI layout directory and in the OCI archive with one manifest digest.
        var refs = cli.Query(
            """
            SELECT image_id, source FROM image_refs
            WHERE repository LIKE '%web' AND tag = '1.0' AND image_id IN (SELECT image_id FROM images WHERE manifest_digest IS NOT NULL)
            ORDER BY source
            """).Rows;
        Assert.Equal(2, refs.Count);
        Assert.Equal(refs[0][0], refs[1][0]);
        Assert.EndsWith("oci-layout", (string)refs[0][0 + 1]!, StringComparison.Ordinal);
        Assert.EndsWith("tool-web.oci-archive.tar", (string)refs[1][1]!, StringComparison.Ordinal);
    }

    [Fact]
    public void Scanning_inputs_one_by_one_into_one_database_gives_the_same_figures_as_one_scan()
    {
        using var together = new CliHarness();
        Assert.Equal(0, together.Scan(Inputs).Exit);
        using var oneByOne = new CliHarness();
        foreach (string input in Inputs.Reverse())
        {
            Assert.Equal(0, oneByOne.Scan(input).Exit);
        }

        Assert.Equal(together.Summary(), oneByOne.Summary());
        Assert.Equal(together.Scalar("SELECT count(*) FROM files"), oneByOne.Scalar("SELECT count(*) FROM files"));
        // Layers shared between inputs were read once: every later scan skipped them.
        Assert.True(oneByOne.Scalar("SELECT CAST(sum(layers_skipped) AS BIGINT) FROM scan_runs") > 0);
    }
}
