using System.Text.Json;

namespace LayerStats.Tests.EndToEnd;

/// <summary>
/// The bundled samples scanned through the CLI, figure by figure against the independent Python reference
/// (tools/reference), whose output for the samples is committed as sample-data/expected.json.
/// </summary>
public sealed class SampleDataTests
{
    private static readonly string[] Inputs = Directory.GetFileSystemEntries(TestPaths.Repo("sample-data", "images")).Order(StringComparer.Ordinal).ToArray();

    private static readonly string[] ImageFields = ["config_digest", "layers", "compressed_bytes", "uncompressed_bytes", "hidden_bytes", "hidden_files", "efficiency", "wasted_bytes", "user_wasted_percent"];

    [Fact]
    public void Every_figure_equals_the_reference_implementations()
    {
        using var cli = new CliHarness();
        var (exit, _, stderr) = cli.Scan(Inputs);
        Assert.True(exit == 0, stderr);

        using var expected = JsonDocument.Parse(File.ReadAllText(TestPaths.Repo("sample-data", "expected.json")));
        AssertFigures(cli, expected.RootElement);
    }

    [Fact]
    public void The_committed_expected_figures_are_what_the_reference_computes_today()
    {
        using var committed = JsonDocument.Parse(File.ReadAllText(TestPaths.Repo("sample-data", "expected.json")));
        using var fresh = JsonDocument.Parse(ReferenceImplementation.RunRaw(Inputs));
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
        using var expected = JsonDocument.Parse(ReferenceImplementation.RunRaw(["--platform", "linux/arm64", .. Inputs]));
        AssertFigures(cli, expected.RootElement);
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

    private static void AssertFigures(CliHarness cli, JsonElement expected)
    {
        var summary = cli.Summary();
        foreach (var property in expected.GetProperty("summary").EnumerateObject())
        {
            Assert.True(summary.ContainsKey(property.Name), $"summary lacks {property.Name}");
            Assert.True(property.Value.GetInt64() == Convert.ToInt64(summary[property.Name]), $"{property.Name}: reference {property.Value}, LayerStats {summary[property.Name]}");
        }

        var images = cli.Query("SELECT * FROM image_summary ORDER BY image_id");
        var expectedImages = expected.GetProperty("images").EnumerateArray().ToList();
        Assert.Equal(expectedImages.Select(i => i.GetProperty("image_id").GetString()), images.Rows.Select(r => (string?)r[0]));
        for (int i = 0; i < expectedImages.Count; i++)
        {
            foreach (string field in ImageFields)
            {
                object? ours = images.Rows[i][images.Columns.ToList().IndexOf(field)];
                var theirs = expectedImages[i].GetProperty(field);
                string where = $"{expectedImages[i].GetProperty("image_id")} {field}";
                switch (theirs.ValueKind)
                {
                    case JsonValueKind.String:
                        Assert.True(theirs.GetString() == (string?)ours, $"{where}: reference {theirs}, LayerStats {ours}");
                        break;
                    case JsonValueKind.Null:
                        Assert.Null(ours);
                        break;
                    case JsonValueKind.Number when field is "efficiency" or "user_wasted_percent":
                        Assert.True(theirs.GetDouble() == (double)ours!, $"{where}: reference {theirs}, LayerStats {ours}");
                        break;
                    default:
                        Assert.True(theirs.GetInt64() == Convert.ToInt64(ours), $"{where}: reference {theirs}, LayerStats {ours}");
                        break;
                }
            }
        }
    }
}
