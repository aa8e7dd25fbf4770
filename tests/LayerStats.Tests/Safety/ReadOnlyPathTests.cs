using LayerStats.Tests.EndToEnd;

namespace LayerStats.Tests.Safety;

/// <summary>
/// A database path that cannot be written (file mode 0444, a directory without write permission, a read-only
/// file system): scan fails at once with a clear message and exit 4, the database is left as it was, and reports
/// (read-only opens) still work. Root ignores permission bits, so as root the child runs as 'nobody' (setpriv).
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class ReadOnlyPathTests
{
    private static readonly string[] Hello = [TestPaths.Repo("sample-data", "images", "hello.docker-legacy.tar.gz")];
    private static readonly string[] Worker = [TestPaths.Repo("sample-data", "images", "worker.docker25.tar")];

    private static string[]? AsUnprivileged => Child.IsRoot ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] : null;

    [Fact]
    public void A_database_file_without_write_permission_is_refused_clearly_and_left_as_it_was()
    {
        using var dir = new TempDir();
        string db = ScannedDatabase(dir);
        var before = ConcurrentScanTests.Summary(db);
        File.SetUnixFileMode(db, UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

        var scan = Child.Run(["scan", "--db", db, "--quiet", .. Worker], AsUnprivileged);

        AssertRefused(scan, db);
        var report = Child.Run(["report", "summary", "--db", db, "--format", "json"], AsUnprivileged);
        Assert.True(report.Exit == 0, report.Stderr);
        Assert.Contains("\"images\": 1,", report.Stdout);
        Assert.Equal(before, ConcurrentScanTests.Summary(db));
        DiskFullTests.AssertConsistent(db);
    }

    [Fact]
    public void A_new_database_in_a_directory_without_write_permission_is_refused_clearly()
    {
        using var dir = new TempDir();
        string locked = dir.File("locked");
        Directory.CreateDirectory(locked);
        File.SetUnixFileMode(locked, ReadAndSearch);
        string db = Path.Combine(locked, "stats.duckdb");

        var scan = Child.Run(["scan", "--db", db, "--quiet", .. Hello], AsUnprivileged);

        AssertRefused(scan, db);
        Assert.False(File.Exists(db));
        File.SetUnixFileMode(locked, ReadAndSearch | UnixFileMode.UserWrite);
    }

    [Fact]
    public void A_writable_database_in_a_directory_without_write_permission_is_refused_clearly_and_left_as_it_was()
    {
        // DuckDB writes its log beside the file: the file alone being writable is not enough.
        using var dir = new TempDir();
        string locked = dir.File("locked");
        Directory.CreateDirectory(locked);
        string db = Path.Combine(locked, "stats.duckdb");
        Assert.Equal(0, ConcurrentScanTests.Cli("scan", "--db", db, "--quiet", Hello[0]).Exit);
        var before = ConcurrentScanTests.Summary(db);
        if (Child.IsRoot)
        {
            DiskFullTests.Sh("chown", "65534", db); // writable by 'nobody', who runs the child
        }

        File.SetUnixFileMode(locked, ReadAndSearch);
        var scan = Child.Run(["scan", "--db", db, "--quiet", .. Worker], AsUnprivileged);

        AssertRefused(scan, db);
        Assert.Contains("stats.duckdb.wal", scan.Stderr);
        Assert.False(File.Exists(db + ".wal"));
        Assert.Equal(before, ConcurrentScanTests.Summary(db));
        File.SetUnixFileMode(locked, ReadAndSearch | UnixFileMode.UserWrite);
        Assert.Equal(0, ConcurrentScanTests.Cli("scan", "--db", db, "--quiet", Worker[0]).Exit);
        DiskFullTests.AssertConsistent(db);
    }

    [Fact]
    public void A_database_on_a_read_only_file_system_is_refused_clearly_and_still_reported()
    {
        if (!Child.IsRoot)
        {
            // Mounting needs root; the permission test above covers the same refusal without it.
            A_database_file_without_write_permission_is_refused_clearly_and_left_as_it_was();
            return;
        }

        using var dir = new TempDir();
        string mount = dir.File("rofs");
        Directory.CreateDirectory(mount);
        DiskFullTests.Sh("mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", mount);
        try
        {
            string db = Path.Combine(mount, "stats.duckdb");
            Assert.Equal(0, ConcurrentScanTests.Cli("scan", "--db", db, "--quiet", Hello[0]).Exit);
            var before = ConcurrentScanTests.Summary(db);
            DiskFullTests.Sh("mount", "-o", "remount,ro", mount);

            var scan = Child.Run(["scan", "--db", db, "--quiet", .. Worker]);
            AssertRefused(scan, db);
            Assert.Contains("Read-only file system", scan.Stderr);
            var query = Child.Run(["query", "--db", db, "SELECT count(*) AS n FROM images"]);
            Assert.True(query.Exit == 0, query.Stderr);
            Assert.Equal(before, ConcurrentScanTests.Summary(db));
        }
        finally
        {
            DiskFullTests.Sh("umount", "--lazy", mount); // lazy: a child that has just exited may still hold the mount
        }
    }

    private const UnixFileMode ReadAndSearch =
        UnixFileMode.UserRead | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute
        | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;

    private static string ScannedDatabase(TempDir dir)
    {
        string db = dir.File("stats.duckdb");
        Assert.Equal(0, ConcurrentScanTests.Cli("scan", "--db", db, "--quiet", Hello[0]).Exit);
        return db;
    }

    private static void AssertRefused((int Exit, string Stdout, string Stderr) scan, string db)
    {
        Assert.Equal(4, scan.Exit);
        Assert.Contains($"cannot open database '{db}' for writing", scan.Stderr);
        Assert.Contains("not writable by this user, or is on a read-only file system", scan.Stderr);
        Assert.DoesNotContain("Unhandled exception", scan.Stderr);
    }
}
