using DuckDB.NET.Data;
using LayerStats.Core.Images;
using LayerStats.Core.Layers;
using LayerStats.Core.Model;
using LayerStats.Core.Scanning;
using LayerStats.Core.Sources;
using LayerStats.Storage;
using LayerStats.Tests.Safety;

namespace LayerStats.Tests.Storage;

/// <summary>
/// Group commit (DuckDbScanStore.BeginGroup): small layer loads, blob rows and images written into one transaction
/// are stored exactly as when each commits alone; nothing of a group is visible before it commits; a read of what
/// another connection committed meanwhile (a big layer's rows) sees it; a failed grouped write rolls the whole group
/// back and the store asks the database again afterwards.
/// </summary>
public sealed class GroupCommitTests
{
    [Fact]
    public void A_scan_with_group_commits_equals_one_that_commits_every_layer_and_image_alone()
    {
        using var dir = new TempDir();
        // Twelve images on one base of 9,000 entries (more than a group takes: loaded on a connection of its own, and
        // too many to keep: each image's analysis reads it back from the store) with small app layers (grouped).
        var inputs = SafetyImages.Write(dir.Path, count: 12, baseFiles: 9000, appFiles: 300);

        var (alone, aloneWrites) = Scan(dir.File("alone.duckdb"), inputs, group: false);
        var (grouped, groupedWrites) = Scan(dir.File("grouped.duckdb"), inputs, group: true);

        Assert.Equal(0, aloneWrites);
        // 12 app layers and 12 images at least (the base commits on its own connection; its blob row may be grouped).
        Assert.True(groupedWrites >= 24, $"only {groupedWrites} writes went into groups");
        Assert.Empty(alone.Errors);
        Assert.Empty(grouped.Errors);
        Assert.Equal(12, grouped.ImagesOk);
        ChunkedLoadTests.AssertSameRows(dir.File("alone.duckdb"), dir.File("grouped.duckdb"));
        foreach (string sql in new[]
        {
            "SELECT image_id, position, digest, diff_id, created_by FROM image_layers ORDER BY ALL",
            "SELECT image_id, source, repository, tag, index_digest FROM image_refs ORDER BY ALL",
            "SELECT count(*) FROM run_images",
        })
        {
            Assert.Equal(Rows(dir.File("alone.duckdb"), sql), Rows(dir.File("grouped.duckdb"), sql));
        }
    }

    [Fact]
    public void A_group_is_invisible_until_it_commits_and_reads_what_a_big_load_committed_meanwhile()
    {
        using var dir = new TempDir();
        using var open = new OpenStore(dir.File("t.duckdb"));
        var store = open.Store;
        using var other = open.Database.Duplicate();
        var small = Digest.Compute("small content"u8);
        var big = Digest.Compute("big content"u8);

        store.BeginGroup();
        Assert.True(Load(store, open.Run, small, "small blob", 3));
        Assert.True(store.GroupPending);
        Assert.Equal(1, store.GroupWrites);
        Assert.Equal(0L, Count(other, "SELECT count(*) FROM files"));
        Assert.Equal(0L, Count(other, "SELECT count(*) FROM layer_contents"));

        // More entries than a group takes: loaded and committed on a connection of its own, at once.
        Assert.True(Load(store, open.Run, big, "big blob", DuckDbScanStore.GroupedLoadRows + 10));
        Assert.Equal((long)DuckDbScanStore.GroupedLoadRows + 10, Count(other, "SELECT count(*) FROM files"));
        Assert.Equal(1, store.GroupWrites);

        // The group's transaction began before the big load committed, and does not see its rows; the store reads them
        // elsewhere. The group's own rows it reads in the group.
        Assert.Equal(DuckDbScanStore.GroupedLoadRows + 10, store.StreamAnalysisEntries(big).Count());
        Assert.Equal(["d/f0", "d/f1", "d/f2"], store.StreamAnalysisEntries(small).Select(e => e.Path).Order(StringComparer.Ordinal));

        store.CommitGroup();
        Assert.False(store.GroupPending);
        store.EndGroup();
        Assert.Equal(3L, Count(other, $"SELECT count(*) FROM files WHERE diff_id = '{small}'"));
        Assert.Equal(1L, Count(other, $"SELECT count(*) FROM layer_contents WHERE diff_id = '{small}' AND entries = 3"));
        Assert.Equal(2L, Count(other, "SELECT count(*) FROM layers"));
        Assert.Equal(1L, Count(other, $"SELECT count(DISTINCT content_id) FROM files WHERE diff_id = '{small}'"));
    }

    [Fact]
    public void A_failed_grouped_write_rolls_the_group_back_and_the_store_asks_the_database_again()
    {
        using var dir = new TempDir();
        using var open = new OpenStore(dir.File("t.duckdb"));
        var store = open.Store;
        using var other = open.Database.Duplicate();
        var content = Digest.Compute("grouped content"u8);
        var clash = new LayerRecord(Digest.Compute("clashing blob"u8), 10, MediaTypes.OciLayer, Compression.None, content, 100, false);

        // The store looks the blob up and finds it absent (so it would insert it plainly); another connection then stores it.
        Assert.Empty(store.FindLayers([clash.Digest]));
        Execute(other, $"INSERT INTO layers VALUES ('{clash.Digest}', 10, 'x', NULL, '{content}', 100, false, 1)");

        store.BeginGroup();
        Assert.True(Load(store, open.Run, content, "first blob", 5));
        store.RecordError(open.Run, new ScanError("source", "an error recorded while the group is open", null, null, null));
        Assert.Equal(0L, Count(other, "SELECT count(*) FROM scan_errors"));

        Assert.ThrowsAny<Exception>(() => store.AddLayer(open.Run, clash)); // the layers key is taken: the group is lost
        Assert.False(store.GroupPending);
        Assert.Equal(0L, Count(other, "SELECT count(*) FROM files"));
        Assert.Equal(0L, Count(other, "SELECT count(*) FROM layer_contents"));
        Assert.Equal(1L, Count(other, "SELECT count(*) FROM scan_errors")); // written after the roll-back

        // The store no longer takes the content for stored: a new load of it writes its rows (in a new group).
        Assert.True(Load(store, open.Run, content, "second blob", 5));
        store.CommitGroup();
        store.EndGroup();
        Assert.Equal(5L, Count(other, $"SELECT count(*) FROM files WHERE diff_id = '{content}'"));
        Assert.Equal(1L, Count(other, $"SELECT count(*) FROM layers WHERE digest = '{Digest.Compute("second blob"u8)}'"));
        Assert.Equal(0L, Count(other, $"SELECT count(*) FROM layers WHERE digest = '{Digest.Compute("first blob"u8)}'"));
    }

    [Fact]
    public void One_appender_writes_the_rows_of_several_contents_each_under_its_own_diff_id_and_content_id()
    {
        using var dir = new TempDir();
        using var db = LayerStatsDatabase.Open(dir.File("t.duckdb"));
        string[] diffIds = [.. Enumerable.Range(0, 3).Select(i => Digest.Compute([(byte)i]).ToString())];
        // 3,000 rows each: the chunk of 2,048 rows ends inside the first and the second content.
        using (var tx = db.Connection.BeginTransaction())
        {
            using var appender = new FileRowAppender(db.Connection, diffIds[0], 100);
            for (int c = 0; c < diffIds.Length; c++)
            {
                if (c > 0)
                {
                    appender.SetContent(diffIds[c], 100 + c);
                }

                appender.Append(Entries(3000));
            }

            appender.Close();
            tx.Commit();
        }

        var rows = Rows(db.Connection, "SELECT diff_id, content_id, count(*), min(seq), max(seq) FROM files GROUP BY ALL ORDER BY content_id");
        Assert.Equal([.. diffIds.Select((d, c) => $"{d}|{100 + c}|3000|0|2999")], rows);
    }

    /// <summary>A layer load of <paramref name="entries"/> rows under <paramref name="diffId"/>, committed with a blob row.</summary>
    private static bool Load(DuckDbScanStore store, int run, Digest diffId, string blob, int entries)
    {
        using var load = store.BeginLayerLoad(run, diffId, FileHashing.Xxh128);
        foreach (var batch in Entries(entries).Chunk(LayerReader.BatchSize))
        {
            load.Append(batch);
        }

        var layer = new LayerRecord(Digest.Compute(System.Text.Encoding.UTF8.GetBytes(blob)), 10, MediaTypes.OciLayer, Compression.None, diffId, 100, false);
        return load.Commit(layer, new LayerContentRecord(diffId, 100, entries, FileHashing.Xxh128));
    }

    private static FileEntry[] Entries(int count) =>
        [.. Enumerable.Range(0, count).Select(i => new FileEntry(i, $"d/f{i}", EntryKind.File, i, 420, 0, 0, DateTimeOffset.UnixEpoch, null, (UInt128)(i % 7), null))];

    private static (ScanSummary Summary, long GroupWrites) Scan(string database, IReadOnlyList<string> inputs, bool group) =>
        StoreScan.Run(database, inputs, db => new DuckDbScanStore(db) { GroupCommits = group }, store => store.GroupWrites);

    private static long Count(DuckDBConnection connection, string sql)
    {
        using var cmd = connection.CreateCommand();
        cmd.CommandText = sql;
        return Convert.ToInt64(cmd.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }

    private static void Execute(DuckDBConnection connection, string sql)
    {
        using var cmd = connection.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    private static List<string> Rows(DuckDBConnection connection, string sql) =>
        [.. connection.Rows(sql).Select(r => string.Join("|", r.Select(v => Convert.ToString(v, System.Globalization.CultureInfo.InvariantCulture))))];

    private static List<string> Rows(string database, string sql)
    {
        using var db = LayerStatsDatabase.OpenReadOnly(database);
        return [.. ReportQueries.Run(db, sql).Rows.Select(r => string.Join("|", r.Select(v => Convert.ToString(v, System.Globalization.CultureInfo.InvariantCulture))))];
    }
}
