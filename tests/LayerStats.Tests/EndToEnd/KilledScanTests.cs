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
        string[] inputs = SafetyImages.Write(dir.Path);

        using var reference = new CliHarness();
        Assert.Equal(0, reference.Scan(inputs).Exit);
        var expected = reference.Summary();
        long expectedFiles = reference.Scalar("SELECT count(*) FROM files");

        using var killed = new CliHarness();

        // Kill while the child is writing: as soon as its write-ahead log has grown past a threshold (so the kill
        // lands inside layer loads and image commits, whatever the machine's speed). Each rerun has less left to do.
        int kills = 0;
        foreach (long walBytes in new long[] { 1, 16 << 10, 128 << 10, 512 << 10, 1 << 20, 2 << 20 })
        {
            var run = RunChild(killed.Database, inputs, killWhenWalExceeds: walBytes);
            kills += run.Killed ? 1 : 0;
        }

        Assert.True(kills >= 3, $"only {kills} of the runs were killed before they finished; the data set is too small");
        var final = RunChild(killed.Database, inputs, killWhenWalExceeds: null);
        Assert.Equal(0, final.ExitCode);

        Assert.Equal(expected, killed.Summary());
        Assert.Equal(expectedFiles, killed.Scalar("SELECT count(*) FROM files"));
        Assert.Equal(0L, killed.Scalar("SELECT count(*) FROM (SELECT diff_id, seq FROM files GROUP BY ALL HAVING count(*) > 1)"));
        Assert.Equal(0L, killed.Scalar("SELECT count(*) FROM layer_contents c WHERE c.entries <> (SELECT count(*) FROM files f WHERE f.diff_id = c.diff_id)"));
        Assert.Equal(0L, killed.Scalar("SELECT count(*) FROM images i WHERE i.layer_count <> (SELECT count(*) FROM image_layers l WHERE l.image_id = i.image_id)"));
        Assert.Equal(reference.Scalar("SELECT count(*) FROM image_refs"), killed.Scalar("SELECT count(*) FROM image_refs"));
    }

    /// <summary>A scan in a child process, SIGKILLed as soon as its write-ahead log reaches the threshold (if it does).</summary>
    private static (int ExitCode, bool Killed) RunChild(string database, string[] inputs, long? killWhenWalExceeds)
    {
        using var child = Child.Start(["scan", "--db", database, "--quiet", "--jobs", "2", .. inputs]);
        bool killed = killWhenWalExceeds is { } threshold && child.WaitForFile(database + ".wal", threshold);
        if (killed)
        {
            child.Signal(Child.Sigkill); // no chance to clean up
        }

        var (exit, _, errors) = child.Wait();
        Assert.True(killed || exit == 0, $"scan failed ({exit}): {errors}");
        return (exit, killed);
    }
}
