using LayerStats.Tests.Safety;

namespace LayerStats.Tests.EndToEnd;

/// <summary>
/// A scan killed with SIGKILL at arbitrary moments (a real child process), then run again, gives exactly the
/// database of an uninterrupted scan: the same figures, and no row twice.
/// </summary>
public sealed class KilledScanTests
{
    [Fact]
    public void Scans_killed_at_several_moments_then_rerun_equal_an_uninterrupted_scan()
    {
        using var dir = new TempDir();
        using var held = new HeldRegistryImage();
        string[] inputs = [.. SafetyImages.Write(dir.Path), held.Input];

        using var reference = new CliHarness();
        Assert.Equal(0, reference.Scan(inputs).Exit);
        var expected = reference.Summary();
        long expectedFiles = reference.Scalar("SELECT count(*) FROM files");

        using var killed = new CliHarness();

        // Kill while the child is writing: as soon as its write-ahead log has grown past a threshold (so the kill
        // lands inside layer loads and image commits, whatever the machine's speed). Each rerun has less left to do.
        // Every one is killed before its end: the registry blob is held meanwhile (see RunChild).
        foreach (long walBytes in new long[] { 1, 16 << 10, 128 << 10, 512 << 10, 1 << 20, 2 << 20 })
        {
            RunChild(killed.Database, inputs, held, killWhenWalExceeds: walBytes);
        }

        Assert.Equal(0, RunChild(killed.Database, inputs, held, killWhenWalExceeds: null));

        Assert.Equal(expected, killed.Summary());
        Assert.Equal(expectedFiles, killed.Scalar("SELECT count(*) FROM files"));
        Assert.Equal(0L, killed.Scalar("SELECT count(*) FROM (SELECT diff_id, seq FROM files GROUP BY ALL HAVING count(*) > 1)"));
        Assert.Equal(0L, killed.Scalar("SELECT count(*) FROM layer_contents c WHERE c.entries <> (SELECT count(*) FROM files f WHERE f.diff_id = c.diff_id)"));
        Assert.Equal(0L, killed.Scalar("SELECT count(*) FROM images i WHERE i.layer_count <> (SELECT count(*) FROM image_layers l WHERE l.image_id = i.image_id)"));
        Assert.Equal(reference.Scalar("SELECT count(*) FROM image_refs"), killed.Scalar("SELECT count(*) FROM image_refs"));
    }

    /// <summary>
    /// The same with layers loaded in chunks (a layer of more entries than a chunk commits its rows a chunk at a time
    /// under a layer_loads marker, before its layer_contents row): a kill in the middle of such a layer leaves rows in
    /// `files` that no report shows, and the next scan deletes them before it reads the layer again.
    /// </summary>
    [Fact]
    public void Scans_killed_in_the_middle_of_layers_loaded_in_chunks_show_no_half_layer_and_rerun_equal_an_uninterrupted_scan()
    {
        using var dir = new TempDir();
        // Layers of 3-4 entry batches (LayerReader.BatchSize, 4096): with chunks of 1 row every batch but a layer's first
        // commits a chunk, so most of the time some layer is half loaded.
        using var held = new HeldRegistryImage();
        string[] inputs = [.. SafetyImages.Write(dir.Path, count: 4, baseFiles: 16000, appFiles: 9000), held.Input];
        string[] chunked = ["env", "LAYERSTATS_TEST_LOAD_CHUNK_ROWS=1"];

        using var reference = new CliHarness();
        Assert.Equal(0, reference.Scan(inputs).Exit); // in-process: the default chunk, one transaction per layer here

        using var killed = new CliHarness();
        int kills = 0, halfLayers = 0;
        foreach (long walBytes in new long[] { 64 << 10, 512 << 10, 1 << 20, 2 << 20, 3 << 20 })
        {
            RunChild(killed.Database, inputs, held, killWhenWalExceeds: walBytes, chunked);
            kills++;
            // What a reader sees after the kill: any half-loaded layer's rows are in `files`, under a marker, and in no
            // layer content or view; every layer content is whole.
            long markers = killed.Scalar("SELECT count(*) FROM layer_loads");
            if (markers > 0 && killed.Scalar("SELECT count(*) FROM files WHERE diff_id IN (SELECT diff_id FROM layer_loads)") > 0)
            {
                halfLayers++;
            }

            Assert.Equal(0L, killed.Scalar("SELECT count(*) FROM layer_loads WHERE diff_id IN (SELECT diff_id FROM layer_contents)"));
            Assert.Equal(0L, killed.Scalar("SELECT count(*) FROM layer_contents c WHERE c.entries <> (SELECT count(*) FROM files f WHERE f.diff_id = c.diff_id)"));
            Assert.Equal(0L, killed.Scalar("SELECT count(*) FROM content_files WHERE diff_id IN (SELECT diff_id FROM layer_loads)"));
            Assert.Equal(
                killed.Scalar("SELECT count(*) FROM files WHERE kind = 'file' AND diff_id IN (SELECT diff_id FROM layer_contents) AND diff_id IN (SELECT diff_id FROM image_layers)"),
                Convert.ToInt64(killed.Summary()["file_count"], System.Globalization.CultureInfo.InvariantCulture));
        }

        Assert.True(halfLayers >= 1, $"none of the {kills} kills landed in the middle of a layer loaded in chunks");
        Assert.Equal(0, RunChild(killed.Database, inputs, held, killWhenWalExceeds: null, chunked));

        Storage.ChunkedLoadTests.AssertSameRows(reference.Database, killed.Database);
        Assert.Equal(0L, killed.Scalar("SELECT count(*) FROM layer_loads"));
        Assert.Equal(0L, killed.Scalar("SELECT count(*) FROM (SELECT diff_id, seq FROM files GROUP BY ALL HAVING count(*) > 1)"));
    }

    /// <summary>
    /// A scan in a child process. With a threshold, <paramref name="held"/>'s blob is held, so the scan cannot finish: it
    /// is SIGKILLed as soon as its write-ahead log reaches the threshold, or once it asks for the held blob (a late
    /// layer, the smallest: a rerun after earlier kills may have less to write than the threshold), surely before its
    /// end, however loaded the machine. Without, the blob is served and the scan runs to its end; its exit code.
    /// </summary>
    private static int RunChild(string database, string[] inputs, HeldRegistryImage held, long? killWhenWalExceeds, IReadOnlyList<string>? wrapper = null)
    {
        if (killWhenWalExceeds is null)
        {
            held.Release();
        }
        else
        {
            held.Hold();
        }

        using var child = Child.Start(["scan", "--db", database, "--quiet", "--jobs", "2", .. HeldRegistryImage.ScanArguments, .. inputs], wrapper);
        if (killWhenWalExceeds is { } threshold)
        {
            if (!child.WaitForFile(database + ".wal", threshold, HeldRegistryImage.Patience, held.Holding))
            {
                Assert.Fail($"the scan neither grew its log nor asked for the held blob: {(child.HasExited ? child.Wait().Stderr : "still running")}");
            }

            child.Signal(Child.Sigkill); // no chance to clean up
        }

        var (exit, _, errors) = child.Wait();
        Assert.True(killWhenWalExceeds is not null || exit == 0, $"scan failed ({exit}): {errors}");
        return exit;
    }
}
