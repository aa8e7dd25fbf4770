using LayerStats.Storage;
using LayerStats.Tests.EndToEnd;

namespace LayerStats.Tests.Safety;

/// <summary>
/// Two layerstats processes on one database: DuckDB's file lock lets one write; the other (a second scan, or a
/// report or query while a scan writes) fails at once with a message naming the database and the holder, and
/// nothing is corrupted. The first scan has an input on a fake registry whose layer blob is held
/// (<see cref="HeldRegistryImage"/>): it cannot finish, so it surely holds the lock for as long as the test needs.
/// </summary>
public sealed class ConcurrentScanTests
{
    [Fact]
    public void A_second_scan_report_or_query_while_a_scan_writes_fails_clearly_and_nothing_is_corrupted()
    {
        using var dir = new TempDir();
        using var held = new HeldRegistryImage();
        string[] inputs = [.. SafetyImages.Write(dir.Path), held.Input];
        using var reference = new CliHarness();
        Assert.Equal(0, reference.Scan(inputs).Exit);
        var expected = reference.Summary();
        long expectedFiles = reference.Scalar("SELECT count(*) FROM files");

        string db = dir.File("stats.duckdb");
        held.Hold();
        using var first = Child.Start(["scan", "--db", db, "--quiet", "--jobs", "2", .. HeldRegistryImage.ScanArguments, .. inputs]);
        try
        {
            // It has the database open (its run begun, its layers loading) before it asks for any blob, and cannot end
            // while the blob is held: it surely holds the lock, however loaded the machine. No moment picked by polling.
            if (!first.WaitFor(held.Holding, HeldRegistryImage.Patience))
            {
                Assert.Fail($"the first scan did not ask for the held blob: {(first.HasExited ? first.Wait().Stderr : "still running")}");
            }

            var second = Child.Run(["scan", "--db", db, "--quiet", .. inputs]);
            Assert.Equal(4, second.Exit);
            AssertLockMessage(second.Stderr, db, first.Pid);

            // A report or a query (read-only opens) while the scan writes: DuckDB refuses them too; say so clearly.
            var report = Cli(["report", "summary", "--db", db]);
            Assert.Equal(4, report.Exit);
            AssertLockMessage(report.Stderr, db, first.Pid);
            var query = Cli(["query", "--db", db, "SELECT count(*) FROM images"]);
            Assert.Equal(4, query.Exit);
            AssertLockMessage(query.Stderr, db, first.Pid);
            Assert.False(first.HasExited);
        }
        finally
        {
            held.Release();
        }

        var firstResult = first.Wait();
        Assert.Equal(0, firstResult.Exit);

        // The first scan completed exactly as if alone; the failed ones left no trace (not even a scan_runs row).
        Assert.Equal(expected, Summary(db));
        Assert.Equal(expectedFiles, Scalar(db, "SELECT count(*) FROM files"));
        Assert.Equal(1L, Scalar(db, "SELECT count(*) FROM scan_runs"));

        // A rerun after both: the exact figures of a single scan, nothing stored twice.
        Assert.Equal(0, Child.Run(["scan", "--db", db, "--quiet", .. inputs]).Exit);
        Assert.Equal(expected, Summary(db));
        Assert.Equal(expectedFiles, Scalar(db, "SELECT count(*) FROM files"));
        Assert.Equal(0L, Scalar(db, "SELECT count(*) FROM (SELECT diff_id, seq FROM files GROUP BY ALL HAVING count(*) > 1)"));
        Assert.Equal(2L, Scalar(db, "SELECT count(*) FROM scan_runs WHERE status = 'ok'"));
    }

    internal static void AssertLockMessage(string stderr, string db, int holderPid)
    {
        Assert.Contains($"database '{db}' is in use by process {holderPid}", stderr);
        Assert.Contains("another layerstats", stderr);
        Assert.Contains("run this again when that process has ended", stderr);
        Assert.DoesNotContain("IO Error", stderr); // not DuckDB's raw message
    }

    internal static (int Exit, string Stdout, string Stderr) Cli(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int exit = LayerStats.Cli.Program.RunAsync(args, stdout, stderr, CancellationToken.None).GetAwaiter().GetResult();
        return (exit, stdout.ToString(), stderr.ToString());
    }

    internal static Dictionary<string, object?> Summary(string db)
    {
        using var database = LayerStatsDatabase.OpenReadOnly(db);
        var result = ReportQueries.Run(database, "SELECT * FROM summary");
        return result.Columns.Select((c, i) => (c, result.Rows[0][i])).ToDictionary(x => x.c, x => x.Item2);
    }

    internal static List<string?> Strings(string db, string sql)
    {
        using var database = LayerStatsDatabase.OpenReadOnly(db);
        return ReportQueries.Run(database, sql).Rows.Select(r => r[0]?.ToString()).ToList();
    }

    internal static long Scalar(string db, string sql)
    {
        using var database = LayerStatsDatabase.OpenReadOnly(db);
        return Convert.ToInt64(ReportQueries.Run(database, sql).Rows[0][0], System.Globalization.CultureInfo.InvariantCulture);
    }
}
