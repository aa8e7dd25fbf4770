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
        string[] inputs = SafetyImages.Write(dir.Path);
        using var reference = new CliHarness();
        Assert.Equal(0, reference.Scan(inputs).Exit);

        string db = dir.File("stats.duckdb");
        using (var child = Child.Start(["scan", "--db", db, "--quiet", "--jobs", "2", .. inputs]))
        {
            Assert.True(child.WaitForFile(db + ".wal", 128 << 10), "the scan ended before it wrote 128 KiB; the data set is too small");
            // Frozen first, so the interrupt surely lands before the scan could finish on a loaded machine; then resumed.
            child.Signal(Child.Sigstop);
            child.Signal(signal);
            child.Signal(Child.Sigcont);
            var (exit, _, stderr) = child.Wait();
            Assert.True(exit == 130, $"exit {exit}: {stderr}");
            Assert.Contains("interrupted; run the same command again to complete the work", stderr);
        }

        Assert.Equal(1L, ConcurrentScanTests.Scalar(db, "SELECT count(*) FROM scan_runs WHERE status = 'cancelled' AND finished_at IS NOT NULL"));
        Assert.True(
            ConcurrentScanTests.Scalar(db, "SELECT count(*) FROM images") < reference.Scalar("SELECT count(*) FROM images"),
            "the signal came after the last image; nothing was interrupted");
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
