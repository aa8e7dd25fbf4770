using System.Text.Json;
using LayerStats.Fixtures;

namespace LayerStats.Tests.EndToEnd;

/// <summary>Every run's totals over the images it saw, and the layers new and gone since the run before.</summary>
public sealed class TrendTests
{
    [Fact]
    public void Each_runs_totals_equal_the_reference_figures_of_its_inputs_and_new_and_gone_layers_are_set_differences()
    {
        var set = Samples.Build();
        string layout = TestPaths.Repo("sample-data", "images", SampleSet.OciLayoutDir);
        string docker25 = TestPaths.Repo("sample-data", "images", SampleSet.Docker25Tar);
        using var cli = new CliHarness();
        Assert.Equal(0, cli.Scan(layout).Exit);
        Assert.Equal(0, cli.Scan(docker25).Exit);
        Assert.Equal(0, cli.Scan(docker25).Exit);

        var rows = cli.Query("SELECT run_id, images, stored_bytes, flat_bytes, file_unique_content_bytes, file_duplicate_bytes, layers_new, layers_gone FROM trend").Rows;
        Assert.Equal(3, rows.Count);
        AssertTotals(rows[0], JsonDocument.Parse(ReferenceFigures.RunReference([layout])).RootElement.Clone());
        AssertTotals(rows[1], JsonDocument.Parse(ReferenceFigures.RunReference([docker25])).RootElement.Clone());
        AssertTotals(rows[2], JsonDocument.Parse(ReferenceFigures.RunReference([docker25])).RootElement.Clone());

        var layoutLayers = new[] { set.Base, set.BaseZstd, set.Web, set.ToolAmd64, set.ToolArm64 }.SelectMany(i => i.Layers).Select(l => l.Digest).ToHashSet();
        var workerLayers = new[] { set.Worker10, set.Worker11 }.SelectMany(i => i.Layers).Select(l => l.Digest).ToHashSet();
        Assert.Equal(layoutLayers.Count, Convert.ToInt32(rows[0][6]));
        Assert.Equal(0, Convert.ToInt32(rows[0][7]));
        Assert.Equal(workerLayers.Except(layoutLayers).Count(), Convert.ToInt32(rows[1][6]));
        Assert.Equal(layoutLayers.Except(workerLayers).Count(), Convert.ToInt32(rows[1][7]));
        Assert.Equal(0, Convert.ToInt32(rows[2][6]));
        Assert.Equal(0, Convert.ToInt32(rows[2][7]));
    }

    private static void AssertTotals(object?[] row, JsonElement expected)
    {
        var s = expected.GetProperty("summary");
        Assert.Equal(s.GetProperty("images").GetInt64(), Convert.ToInt64(row[1]));
        Assert.Equal(s.GetProperty("unique_compressed_bytes").GetInt64(), Convert.ToInt64(row[2]));
        Assert.Equal(s.GetProperty("flat_compressed_bytes").GetInt64(), Convert.ToInt64(row[3]));
        Assert.Equal(s.GetProperty("file_unique_content_bytes").GetInt64(), Convert.ToInt64(row[4]));
        Assert.Equal(s.GetProperty("file_duplicate_bytes").GetInt64(), Convert.ToInt64(row[5]));
    }
}
