using LayerStats.Storage;

namespace LayerStats.Tests.Storage;

/// <summary>
/// A write-open runs the schema and view DDL only when the file was not set up by this build's SQL
/// (schema_info.ddl_fingerprint): an unchanged rescan skips it, a new tool version still replaces old views.
/// </summary>
public sealed class SchemaSetupTests
{
    [Fact]
    public void A_database_set_up_by_other_sql_gets_this_builds_views_on_the_next_write_open()
    {
        using var dir = new TempDir();
        string path = dir.File("t.duckdb");
        string fingerprint;
        using (var db = LayerStatsDatabase.Open(path))
        {
            fingerprint = (string)Scalar(db, "SELECT value FROM schema_info WHERE key = 'ddl_fingerprint'")!;
            Assert.Matches("^[0-9a-f]{64}$", fingerprint);
            // As an older layerstats would have left it: a view it did not have, and another fingerprint.
            Scalar(db, "DROP VIEW summary");
            Scalar(db, "UPDATE schema_info SET value = 'older' WHERE key = 'ddl_fingerprint'");
        }

        using (var db = LayerStatsDatabase.Open(path))
        {
            Assert.Equal(fingerprint, Scalar(db, "SELECT value FROM schema_info WHERE key = 'ddl_fingerprint'"));
            Assert.Equal(1L, Convert.ToInt64(Scalar(db, "SELECT count(*) FROM duckdb_views() WHERE view_name = 'summary'")));
            Assert.Equal(LayerStatsDatabase.SchemaVersion.ToString(System.Globalization.CultureInfo.InvariantCulture), Scalar(db, "SELECT value FROM schema_info WHERE key = 'schema_version'"));
        }
    }

    [Fact]
    public void A_database_set_up_by_this_build_is_opened_without_running_the_ddl()
    {
        using var dir = new TempDir();
        string path = dir.File("t.duckdb");
        using (var db = LayerStatsDatabase.Open(path))
        {
            // Were the DDL run again, it would recreate this view; with the fingerprint current it must not.
            Scalar(db, "DROP VIEW trend");
        }

        using (var db = LayerStatsDatabase.Open(path))
        {
            Assert.Equal(0L, Convert.ToInt64(Scalar(db, "SELECT count(*) FROM duckdb_views() WHERE view_name = 'trend'")));
        }
    }

    [Fact]
    public void A_database_of_another_schema_version_is_refused_even_with_a_current_fingerprint()
    {
        using var dir = new TempDir();
        string path = dir.File("t.duckdb");
        using (var db = LayerStatsDatabase.Open(path))
        {
            Scalar(db, "UPDATE schema_info SET value = '99' WHERE key = 'schema_version'");
        }

        var ex = Assert.Throws<InvalidOperationException>(() => LayerStatsDatabase.Open(path).Dispose());
        Assert.Contains("schema version 99", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_version_1_database_is_upgraded_by_the_next_write_open_with_its_content_stats_kept()
    {
        using var dir = new TempDir();
        string path = dir.File("t.duckdb");
        using (var db = LayerStatsDatabase.Open(path))
        {
            // Version 1's layout: content_stats a table (with rows), no delta, no view of that name.
            Scalar(db, """
                INSERT INTO content_stats_base VALUES
                  (1, 10, 2, 1, 'a/x', ['a/x', 'b/x'], 'a', '(none)', NULL),
                  (2, 20, 1, 1, 'c/y.so', NULL, 'c', 'so', NULL)
                """);
            SchemaVersion1.Apply(db);
        }

        // Read-only, it is read as it is: its content_stats is still the table.
        using (var db = LayerStatsDatabase.OpenReadOnly(path))
        {
            Assert.Equal("BASE TABLE", Scalar(db, "SELECT table_type FROM information_schema.tables WHERE table_name = 'content_stats'"));
            Assert.Equal(2L, Convert.ToInt64(Scalar(db, "SELECT count(*) FROM content_stats")));
        }

        using (var db = LayerStatsDatabase.Open(path))
        {
            Assert.Equal("2", Scalar(db, "SELECT value FROM schema_info WHERE key = 'schema_version'"));
            Assert.Equal(1L, Convert.ToInt64(Scalar(db, "SELECT count(*) FROM duckdb_views() WHERE view_name = 'content_stats'")));
            Assert.Equal("1,10,2,a/x,[a/x, b/x];2,20,1,c/y.so,", Scalar(db, """
                SELECT string_agg(concat_ws(',', xxh128, size, occurrences, first_path, coalesce(CAST(example_paths AS VARCHAR), '')), ';' ORDER BY xxh128)
                FROM content_stats
                """));
            Assert.Equal(0L, Convert.ToInt64(Scalar(db, "SELECT count(*) FROM content_stats_delta")));
        }

        using (var db = LayerStatsDatabase.OpenReadOnly(path))
        {
            Assert.Equal(2L, Convert.ToInt64(Scalar(db, "SELECT count(*) FROM content_stats")));
        }
    }

    [Fact]
    public void A_database_that_cannot_be_read_for_lack_of_memory_is_not_taken_for_a_new_file()
    {
        using var dir = new TempDir();
        string path = dir.File("t.duckdb");
        LayerStatsDatabase.Open(path).Dispose();

        // Reading schema_info out of memory is DuckDB's error, not "schema version 0" (which a missing table means).
        var ex = Record.Exception(() => LayerStatsDatabase.OpenReadOnly(path, new DatabaseOptions(MemoryLimitMegabytes: 1)).Dispose());
        Assert.NotNull(ex);
        Assert.DoesNotContain("schema version 0", ex.Message, StringComparison.Ordinal);
        Assert.Contains("memory", ex.Message, StringComparison.OrdinalIgnoreCase);
    }

    private static object? Scalar(LayerStatsDatabase db, string sql)
    {
        using var cmd = db.Connection.CreateCommand();
        cmd.CommandText = sql;
        return cmd.ExecuteScalar();
    }
}
