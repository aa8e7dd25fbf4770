namespace LayerStats.Tests.EndToEnd;

/// <summary>dive's own test image (a legacy docker save, 14 layers), scanned end to end through the CLI.</summary>
public sealed class DiveImageTests
{
    private static readonly string Archive = TestPaths.DiveImage;

    [Fact]
    public void Scan_gives_dives_published_figures_and_the_file_figures()
    {
        using var cli = new CliHarness();
        var (exit, _, stderr) = cli.Scan(Archive);
        Assert.True(exit == 0, stderr);

        var image = cli.Query("SELECT image_id, config_digest, layers, efficiency, wasted_bytes, user_wasted_percent FROM image_summary").Rows.Single();
        // Legacy docker save: no manifest, so the image is identified by its config digest (= the image ID).
        Assert.Equal(image[1], image[0]);
        Assert.Equal(14, Convert.ToInt32(image[2]));
        // dive's own test (dive/image/docker/image_archive_analysis_test.go) expects these exactly.
        Assert.Equal(0.9844212134184309, (double)image[3]!);
        Assert.Equal(32025L, image[4]);
        Assert.Equal(0.4834911001404049, (double)image[5]!);

        var s = cli.Summary();
        Assert.Equal(1L, s["images"]);
        Assert.Equal(14L, s["distinct_layers"]);
        // dive's sizeBytes: every file in every layer (all 14 layers are distinct).
        Assert.Equal(1220598L, s["file_content_bytes"]);
        // Uncompressed layers: the blob is the tar, so flat = unique = Σ layer.tar lengths, and nothing is saved.
        long tarBytes = LegacyLayerTarBytes();
        Assert.Equal(tarBytes, s["flat_compressed_bytes"]);
        Assert.Equal(tarBytes, s["unique_uncompressed_bytes"]);
        Assert.Equal(0L, s["layering_savings_compressed_bytes"]);
        Assert.Equal(0L, s["shared_layers"]);
    }

    [Fact]
    public void An_unchanged_rescan_reads_no_layer_and_changes_no_figure()
    {
        using var cli = new CliHarness();
        Assert.Equal(0, cli.Scan(Archive).Exit);
        var before = cli.Summary();
        long files = cli.Scalar("SELECT count(*) FROM files");

        Assert.Equal(0, cli.Scan(Archive).Exit);

        Assert.Equal(before, cli.Summary());
        Assert.Equal(files, cli.Scalar("SELECT count(*) FROM files"));
        var runs = cli.Query("SELECT layers_read, layers_skipped, status FROM scan_runs ORDER BY run_id").Rows;
        Assert.Equal(2, runs.Count);
        Assert.Equal(14, Convert.ToInt32(runs[0][0]));
        Assert.Equal(0, Convert.ToInt32(runs[1][0]));
        Assert.Equal(14, Convert.ToInt32(runs[1][1]));
        Assert.Equal("ok", runs[1][2]);
    }

    /// <summary>Σ of the layer.tar entry sizes, read from the outer archive's headers with System.Formats.Tar.</summary>
    private static long LegacyLayerTarBytes()
    {
        using var stream = File.OpenRead(Archive);
        using var reader = new System.Formats.Tar.TarReader(stream);
        long total = 0;
        while (reader.GetNextEntry() is { } entry)
        {
            if (entry.Name.EndsWith("/layer.tar", StringComparison.Ordinal))
            {
                total += entry.Length;
            }
        }

        return total;
    }
}
