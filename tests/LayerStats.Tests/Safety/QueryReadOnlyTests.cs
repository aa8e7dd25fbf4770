using LayerStats.Tests.EndToEnd;

namespace LayerStats.Tests.Safety;

/// <summary><c>query</c> opens the database read-only: a statement that changes it is refused unless <c>--write</c>.</summary>
public sealed class QueryReadOnlyTests
{
    private static string Sample(string name) => TestPaths.Repo("sample-data", "images", name);

    [Theory]
    [InlineData("DELETE FROM images")]
    [InlineData("UPDATE images SET layer_count = 0")]
    [InlineData("DROP TABLE files")]
    [InlineData("CREATE TABLE notes (t VARCHAR)")]
    [InlineData("INSERT INTO scan_errors SELECT * FROM scan_errors")]
    [InlineData("DELETE FROM images; SELECT 1")]
    public void A_write_statement_without_write_is_refused_and_changes_nothing(string sql)
    {
        using var cli = new CliHarness();
        Assert.Equal(0, cli.Scan(Sample("hello.docker-legacy.tar.gz"), Sample("worker.docker25.tar")).Exit);
        var before = cli.Summary();
        long files = cli.Scalar("SELECT count(*) FROM files");

        var (exit, stdout, stderr) = cli.Run("query", "--db", cli.Database, sql);

        Assert.Equal(4, exit);
        Assert.Equal("", stdout);
        Assert.Contains("query is read-only; add --write to change the database", stderr);
        Assert.Equal(before, cli.Summary());
        Assert.Equal(files, cli.Scalar("SELECT count(*) FROM files"));
        Assert.Equal(0L, cli.Scalar("SELECT count(*) FROM information_schema.tables WHERE table_name = 'notes'"));
    }

    [Fact]
    public void With_write_the_statement_changes_the_database()
    {
        using var cli = new CliHarness();
        Assert.Equal(0, cli.Scan(Sample("hello.docker-legacy.tar.gz"), Sample("worker.docker25.tar")).Exit);
        long errors = cli.Scalar("SELECT count(*) FROM scan_errors");
        long runs = cli.Scalar("SELECT count(*) FROM scan_runs");
        Assert.Equal(1L, runs);

        var insert = cli.Run("query", "--db", cli.Database, "--write",
            "INSERT INTO scan_runs (run_id, started_at, status, tool_version, file_hashing, inputs) " +
            "SELECT run_id + 100, started_at, 'note', tool_version, file_hashing, inputs FROM scan_runs");
        Assert.True(insert.Exit == 0, insert.Stderr);
        var create = cli.Run("query", "--db", cli.Database, "--write", "CREATE TABLE notes AS SELECT 'kept' AS t");
        Assert.True(create.Exit == 0, create.Stderr);

        // Read back through a fresh read-only open: the writes were committed.
        Assert.Equal(2L, cli.Scalar("SELECT count(*) FROM scan_runs"));
        Assert.Equal(1L, cli.Scalar("SELECT count(*) FROM scan_runs WHERE run_id = 101 AND status = 'note'"));
        Assert.Equal("kept", cli.Query("SELECT t FROM notes").Rows[0][0]);
        Assert.Equal(errors, cli.Scalar("SELECT count(*) FROM scan_errors"));

        // --write runs reads too, and a later read-only query sees the change.
        var read = cli.Run("query", "--db", cli.Database, "--format", "csv", "SELECT t FROM notes");
        Assert.Equal(0, read.Exit);
        Assert.Equal("t\r\nkept\r\n", read.Stdout.Replace("\r\n", "\n").Replace("\n", "\r\n"));
        var delete = cli.Run("query", "--db", cli.Database, "--write", "DELETE FROM scan_runs WHERE run_id = 101");
        Assert.True(delete.Exit == 0, delete.Stderr);
        Assert.Equal(1L, cli.Scalar("SELECT count(*) FROM scan_runs"));
    }

    [Fact]
    public void Every_statement_of_a_query_runs_and_prints_its_result()
    {
        using var cli = new CliHarness();
        Assert.Equal(0, cli.Scan(Sample("hello.docker-legacy.tar.gz")).Exit);

        var read = cli.Run("query", "--db", cli.Database, "--format", "csv", "SELECT 41 + 1 AS a; SELECT count(*) AS images FROM images");
        Assert.Equal(0, read.Exit);
        Assert.Equal("a\n42\nimages\n1\n", read.Stdout);

        // A write after a read is not silently dropped: without --write it is refused, with it it runs.
        Assert.Equal(4, cli.Run("query", "--db", cli.Database, "SELECT 1; DELETE FROM scan_errors").Exit);
        var write = cli.Run("query", "--db", cli.Database, "--write", "--format", "csv", "SELECT 1 AS x; CREATE TABLE notes AS SELECT 'kept' AS t; SELECT t FROM notes");
        Assert.True(write.Exit == 0, write.Stderr);
        Assert.EndsWith("t\nkept\n", write.Stdout, StringComparison.Ordinal);
        Assert.Equal(1L, cli.Scalar("SELECT count(*) FROM notes"));
    }

    [Fact]
    public void Write_does_not_create_a_database_that_is_not_there()
    {
        using var dir = new TempDir();
        string db = dir.File("absent.duckdb");
        var (exit, _, stderr) = ConcurrentScanTests.Cli("query", "--db", db, "--write", "CREATE TABLE t (a INT)");
        Assert.Equal(4, exit);
        Assert.Contains($"no LayerStats database at '{db}'", stderr);
        Assert.False(File.Exists(db));
    }
}
