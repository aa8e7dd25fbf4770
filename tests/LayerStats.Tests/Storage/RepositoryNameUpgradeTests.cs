using LayerStats.Storage;

namespace LayerStats.Tests.Storage;

/// <summary>
/// Schema version 1 stored image_refs.repository as each source wrote it; version 2 stores it canonical. A write-open of
/// a version-1 file rewrites the names in the transaction that sets version 2, merging rows whose key then meets.
/// </summary>
public sealed class RepositoryNameUpgradeTests
{
    [Fact]
    public void A_version_1_database_gets_canonical_names_and_meeting_rows_merge()
    {
        using var dir = new TempDir();
        string path = dir.File("old.duckdb");
        WriteVersion1(path);

        // Read-only, a version-1 file is read as it is.
        using (var old = LayerStatsDatabase.OpenReadOnly(path))
        {
            Assert.Equal("1", Scalar(old, "SELECT value FROM schema_info WHERE key = 'schema_version'"));
            Assert.Equal(1L, Convert.ToInt64(Scalar(old, "SELECT count(*) FROM image_refs WHERE repository = 'web'")));
        }

        using (var db = LayerStatsDatabase.Open(path))
        {
            Assert.Equal("2", Scalar(db, "SELECT value FROM schema_info WHERE key = 'schema_version'"));
            Assert.Equal(
                [
                    // 'web', 'docker.io/library/web' and 'index.docker.io/library/web' of one image and source: one row,
                    // runs 1 to 3, the index digest of the latest row that had one.
                    "img1|a.tar|docker.io/library/web|latest|sha256:new|1|3",
                    "img2|b.tar|Web|1||1|1", // not a valid name: as written
                    "img2|b.tar|docker.io/team/app|1||1|2",
                    "img2|b.tar|localhost:5000/app|1|sha256:l|2|2",
                    "img2|b.tar||latest||1|1",
                    "img3|c|docker.io/library/web|latest|sha256:x|2|2", // already canonical, another image: untouched
                ],
                Rows(db));
        }

        // Upgraded once: a second open finds version 2 and changes nothing.
        using (var db = LayerStatsDatabase.Open(path))
        {
            Assert.Equal(6, Rows(db).Count);
        }
    }

    [Fact]
    public void A_database_of_a_newer_schema_version_is_refused_read_only()
    {
        using var dir = new TempDir();
        string path = dir.File("new.duckdb");
        using (var db = LayerStatsDatabase.Open(path))
        {
            Scalar(db, "UPDATE schema_info SET value = '3' WHERE key = 'schema_version'");
        }

        var ex = Assert.Throws<InvalidOperationException>(() => LayerStatsDatabase.OpenReadOnly(path).Dispose());
        Assert.Contains("schema version 3", ex.Message, StringComparison.Ordinal);
    }

    /// <summary>A file as layerstats with schema version 1 left it: names as the sources wrote them.</summary>
    private static void WriteVersion1(string path)
    {
        using var db = LayerStatsDatabase.Open(path);
        Scalar(db, """
            INSERT INTO image_refs VALUES
              ('img1', 'a.tar', 'web', 'latest', NULL, 1, 2),
              ('img1', 'a.tar', 'docker.io/library/web', 'latest', 'sha256:new', 3, 3),
              ('img1', 'a.tar', 'index.docker.io/library/web', 'latest', 'sha256:old', 1, 1),
              ('img2', 'b.tar', 'team/app', '1', NULL, 1, 1),
              ('img2', 'b.tar', 'docker.io/team/app', '1', NULL, 2, 2),
              ('img2', 'b.tar', 'localhost:5000/app', '1', 'sha256:l', 2, 2),
              ('img2', 'b.tar', 'Web', '1', NULL, 1, 1),
              ('img2', 'b.tar', '', 'latest', NULL, 1, 1),
              ('img3', 'c', 'docker.io/library/web', 'latest', 'sha256:x', 2, 2)
            """);
        SchemaVersion1.Apply(db);
    }

    private static List<string> Rows(LayerStatsDatabase db)
    {
        using var cmd = db.Connection.CreateCommand();
        cmd.CommandText = """
            SELECT concat_ws('|', image_id, source, repository, tag, coalesce(index_digest, ''), first_run_id, last_run_id)
            FROM image_refs
            """;
        using var reader = cmd.ExecuteReader();
        var rows = new List<string>();
        while (reader.Read())
        {
            rows.Add(reader.GetString(0));
        }

        rows.Sort(StringComparer.Ordinal);
        return rows;
    }

    private static object? Scalar(LayerStatsDatabase db, string sql)
    {
        using var cmd = db.Connection.CreateCommand();
        cmd.CommandText = sql;
        return cmd.ExecuteScalar();
    }
}
