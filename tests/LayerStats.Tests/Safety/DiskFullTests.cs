using System.Diagnostics;
using LayerStats.Tests.EndToEnd;

namespace LayerStats.Tests.Safety;

/// <summary>
/// The disk fills up under a scan (a 1 MiB tmpfs when the tests run as root, else a 1 MiB RLIMIT_FSIZE): a clear
/// error naming the cause, exit 1 or 4, the database stays valid (no half layer, no half image), and once there is
/// room again a rerun completes with the exact figures of an undisturbed scan.
/// </summary>
public sealed class DiskFullTests
{
    [Fact]
    public void A_file_size_limit_hit_mid_scan_is_a_clear_error_and_a_rerun_completes_exactly()
    {
        using var dir = new TempDir();
        string[] inputs = SafetyImages.Write(dir.Path, count: 4);
        string db = dir.File("stats.duckdb");

        // RLIMIT_FSIZE 1 MiB for the child; SIGXFSZ ignored so that write() fails with EFBIG instead of killing it.
        // (W^X off: the runtime's double-mapped code memory is a file too, and would hit the limit at start-up.)
        string[] limited = ["bash", "-c", "trap '' XFSZ; ulimit -f 1024; export DOTNET_EnableWriteXorExecute=0; exec \"$@\"", "bash"];
        var full = Child.Run(["scan", "--db", db, "--quiet", .. inputs], limited);

        AssertFailedClearly(full, "File too large");
        AssertRerunCompletesExactly(db, inputs);
    }

    [Fact]
    public void A_full_file_system_mid_scan_is_a_clear_error_and_a_rerun_completes_exactly()
    {
        if (!Child.IsRoot)
        {
            // Without root there is no tmpfs to fill: the file size limit above stands in for it (same code path).
            A_file_size_limit_hit_mid_scan_is_a_clear_error_and_a_rerun_completes_exactly();
            return;
        }

        using var dir = new TempDir();
        string[] inputs = SafetyImages.Write(dir.Path, count: 4);
        string mount = dir.File("small");
        Directory.CreateDirectory(mount);
        Sh("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mount);
        try
        {
            string db = Path.Combine(mount, "stats.duckdb");
            var full = Child.Run(["scan", "--db", db, "--quiet", .. inputs]);
            AssertFailedClearly(full, "No space left on device");

            // Room again: the same file system grown, the same database file.
            Sh("mount", "-o", "remount,size=256m", mount);
            AssertRerunCompletesExactly(db, inputs);
        }
        finally
        {
            Sh("umount", "--lazy", mount); // lazy: a child process that has just exited may still hold the mount for a moment
        }
    }

    private static void AssertFailedClearly((int Exit, string Stdout, string Stderr) run, string cause)
    {
        Assert.True(run.Exit is 1 or 4, $"exit {run.Exit}: {run.Stderr}");
        Assert.Contains(cause, run.Stderr);
        Assert.DoesNotContain("Transaction has already been finished", run.Stderr); // the cause, not a follow-on error
        Assert.DoesNotContain("Unhandled exception", run.Stderr);
    }

    private static void AssertRerunCompletesExactly(string db, string[] inputs)
    {
        // Valid as left: it opens, and nothing in it is half stored.
        AssertConsistent(db);

        using var reference = new CliHarness();
        Assert.Equal(0, reference.Scan(inputs).Exit);
        var rerun = Child.Run(["scan", "--db", db, "--quiet", .. inputs]);
        Assert.True(rerun.Exit == 0, rerun.Stderr);
        Assert.Equal(reference.Summary(), ConcurrentScanTests.Summary(db));
        Assert.Equal(reference.Scalar("SELECT count(*) FROM files"), ConcurrentScanTests.Scalar(db, "SELECT count(*) FROM files"));
        Assert.Equal(reference.Scalar("SELECT count(*) FROM image_refs"), ConcurrentScanTests.Scalar(db, "SELECT count(*) FROM image_refs"));
        AssertConsistent(db);
        Assert.Equal(0L, ConcurrentScanTests.Scalar(db, "SELECT count(*) FROM (SELECT diff_id, seq FROM files GROUP BY ALL HAVING count(*) > 1)"));
    }

    internal static void AssertConsistent(string db)
    {
        Assert.Equal(0L, ConcurrentScanTests.Scalar(db, "SELECT count(*) FROM layer_contents c WHERE c.entries <> (SELECT count(*) FROM files f WHERE f.diff_id = c.diff_id)"));
        Assert.Equal(0L, ConcurrentScanTests.Scalar(db, "SELECT count(*) FROM images i WHERE i.layer_count <> (SELECT count(*) FROM image_layers l WHERE l.image_id = i.image_id)"));
        Assert.Equal(0L, ConcurrentScanTests.Scalar(db, "SELECT count(*) FROM image_layers l WHERE NOT EXISTS (SELECT 1 FROM layers y WHERE y.digest = l.digest)"));
        Assert.Equal(0L, ConcurrentScanTests.Scalar(db, "SELECT count(*) FROM files f WHERE NOT EXISTS (SELECT 1 FROM layer_contents c WHERE c.diff_id = f.diff_id)"));
    }

    internal static void Sh(params string[] command)
    {
        var start = new ProcessStartInfo(command[0]) { RedirectStandardError = true };
        foreach (string arg in command.Skip(1))
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"cannot start {command[0]}");
        string errors = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"{string.Join(' ', command)}: {errors}");
    }
}
