using LayerStats.Tests.EndToEnd;

namespace LayerStats.Tests.Safety;

/// <summary>
/// SIGTERM or Ctrl+C (SIGINT) mid-scan, to a real child process: it stops, exits 130, records its run as
/// 'cancelled', leaves nothing half stored, and a rerun completes with the exact figures of an uninterrupted scan.
/// (SIGKILL at random moments is KilledScanTests'.)
/// </summary>
public sealed class CancelledScanTests
{
    [Theory]
    [InlineData(Child.Sigterm)]
    [InlineData(Child.Sigint)]
    public void A_scan_interrupted_mid_way_exits_130_records_cancelled_and_a_rerun_completes_exactly(int signal)
    {
        using var dir = new TempDir();
        using var held = new HeldRegistryImage();
        // The local images, and one on the registry whose layer blob is held while the interrupted scan runs.
        string[] inputs = [.. SafetyImages.Write(dir.Path), held.Input];
        using var reference = new CliHarness();
        var scanned = reference.Scan(inputs);
        Assert.Equal((0, ""), (scanned.Exit, scanned.Stderr));
        Assert.Equal(1L, reference.Scalar($"SELECT count(*) FROM images WHERE image_id = '{held.Image.ManifestDigest}'"));

        string db = dir.File("stats.duckdb");
        held.Hold();
        using (var child = Child.Start(["scan", "--db", db, "--quiet", "--jobs", "2", .. HeldRegistryImage.ScanArguments, .. inputs]))
        {
            // Mid-way by construction: the scan cannot finish while the registry holds the blob, so the signal lands
            // before its end however loaded the machine (no moment picked by polling). The local layers and images go
            // on meanwhile (only the registry image waits on the held blob; it is the smallest layer, asked for late): the
            // write-ahead log surely grows past 128 KiB, so work committed before the signal is there to be kept.
            if (!child.WaitFor(held.Holding, HeldRegistryImage.Patience))
            {
                Assert.Fail($"the scan did not ask for the held blob: {(child.HasExited ? child.Wait().Stderr : "still running")}");
            }

            Assert.True(child.WaitForFile(db + ".wal", 128 << 10, HeldRegistryImage.Patience), "the scan wrote less than 128 KiB with the blob held; the data set is too small");
            Assert.False(child.HasExited);
            child.Signal(signal);
            bool stopped = child.WaitForExit(HeldRegistryImage.Patience);
            held.Release(); // a scan that ignored the signal now completes, and its exit code says so
            var (exit, _, stderr) = child.Wait();
            Assert.True(stopped && exit == 130, $"exit {exit}{(stopped ? "" : $" after the held blob was released (not stopped {HeldRegistryImage.Patience.TotalSeconds:0} s after the signal)")}: {stderr}");
            Assert.Contains("interrupted; run the same command again to complete the work", stderr);
        }

        Assert.Equal(1L, ConcurrentScanTests.Scalar(db, "SELECT count(*) FROM scan_runs WHERE status = 'cancelled' AND finished_at IS NOT NULL"));
        Assert.True(
            ConcurrentScanTests.Scalar(db, "SELECT count(*) FROM images") < reference.Scalar("SELECT count(*) FROM images"),
            "the signal came after the last image; nothing was interrupted");
        Assert.Equal(0L, ConcurrentScanTests.Scalar(db, $"SELECT count(*) FROM images WHERE image_id = '{held.Image.ManifestDigest}'"));
        // What was committed before the signal stays (the log had grown): the rerun has less to do.
        Assert.True(ConcurrentScanTests.Scalar(db, "SELECT count(*) FROM layer_contents") > 0, "nothing committed before the signal was kept");
        DiskFullTests.AssertConsistent(db);

        var rerun = Child.Run(["scan", "--db", db, "--quiet", .. inputs]);
        Assert.True(rerun.Exit == 0, rerun.Stderr);
        Assert.Equal(reference.Summary(), ConcurrentScanTests.Summary(db));
        Assert.Equal(reference.Scalar("SELECT count(*) FROM files"), ConcurrentScanTests.Scalar(db, "SELECT count(*) FROM files"));
        Assert.Equal(reference.Scalar("SELECT count(*) FROM image_refs"), ConcurrentScanTests.Scalar(db, "SELECT count(*) FROM image_refs"));
        Assert.Equal(0L, ConcurrentScanTests.Scalar(db, "SELECT count(*) FROM (SELECT diff_id, seq FROM files GROUP BY ALL HAVING count(*) > 1)"));
        DiskFullTests.AssertConsistent(db);
        Assert.Equal("cancelled,ok", string.Join(',', ConcurrentScanTests.Strings(db, "SELECT status FROM scan_runs ORDER BY run_id")));
    }
}
