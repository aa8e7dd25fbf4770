using LayerStats.Core.Layers;
using LayerStats.Core.Model;
using LayerStats.Core.Scanning;
using LayerStats.Core.Sources;
using LayerStats.Fixtures;
using LayerStats.Storage;
using LayerStats.Tests.Safety;

namespace LayerStats.Tests.Storage;

/// <summary>
/// A layer of more entries than a chunk commits its rows a chunk at a time under a <c>layer_loads</c> marker
/// (DuckDbScanStore.LayerLoad): the result equals a load in one transaction row for row, nothing incomplete is ever a
/// layer content, and a load that fails or loses to another load of the same content leaves no row behind.
/// </summary>
public sealed class ChunkedLoadTests
{
    private static readonly Digest DiffId = Digest.Compute("chunked content"u8);

    [Fact]
    public void A_scan_in_small_chunks_equals_a_scan_in_one_transaction_per_layer_row_for_row()
    {
        using var dir = new TempDir();
        // Three images over one base, plus the base stored again with other compression (same diff_id, another blob):
        // two loads of one content at once, whichever of them chunks or commits first.
        // The pipeline hands entries over in batches of LayerReader.BatchSize (4096), the finest a chunk can be: layers of
        // 2-3 batches, and a chunk of 1 row, so that every batch but the first of a layer commits a chunk.
        var inputs = SafetyImages.Write(dir.Path, count: 3, baseFiles: 9000, appFiles: 4500).ToList();
        var baseAgain = new ImageBuilder().Layer(BuiltLayer.From(Tree("base", 9000), LayerCompression.Zstd), "ADD rootfs").Build();
        string again = dir.File("base-zstd.tar");
        ArchiveWriter.OciArchive(again, OciEntry.Of(baseAgain, "base:zstd"));
        inputs.Add(again);

        var (oneTransaction, _) = Scan(dir.File("one.duckdb"), inputs, chunkRows: DuckDbScanStore.DefaultLoadChunkRows);
        var (chunked, chunks) = Scan(dir.File("chunked.duckdb"), inputs, chunkRows: 1);

        // At least one chunk per app layer (2 batches each) and one of the base (3 batches): whichever of its two loads
        // reaches a second batch first claims the chunking; how many more it commits before the other load supersedes it
        // depends on timing (the two base blobs are read at once, largest first).
        Assert.True(chunks >= 4, $"only {chunks} chunks committed");
        Assert.Empty(oneTransaction.Errors);
        Assert.Empty(chunked.Errors);
        AssertSameRows(dir.File("one.duckdb"), dir.File("chunked.duckdb"));
        Assert.Equal(0L, Scalar(dir.File("chunked.duckdb"), "SELECT count(*) FROM layer_loads"));
    }

    [Fact]
    public void A_layer_that_fails_after_several_chunks_leaves_no_rows_and_no_marker_and_the_other_images_complete()
    {
        using var dir = new TempDir();
        string[] good = SafetyImages.Write(dir.Path, count: 2, baseFiles: 600, appFiles: 300);
        var big = new ImageBuilder().Layer(BuiltLayer.From(Tree("big", 20000), LayerCompression.Gzip), "ADD big").Build();
        var cut = Corrupt.TruncateLayer(big, 0, keepBytes: big.Layers[0].Blob.Length * 9 / 10); // the gzip tail is gone
        string broken = dir.File("broken.tar");
        ArchiveWriter.OciArchive(broken, OciEntry.Of(cut, "broken:1"));
        string[] inputs = [good[0], broken, good[1]];

        var (reference, _) = Scan(dir.File("reference.duckdb"), good, chunkRows: DuckDbScanStore.DefaultLoadChunkRows);
        var (summary, chunks) = Scan(dir.File("t.duckdb"), inputs, chunkRows: 1);

        // 20,041 entries, ~18,000 of them before the cut: 4-5 batches, so 3-4 chunks, all of the failing layer (the
        // good images' layers are one batch each).
        Assert.True(chunks >= 3, $"only {chunks} chunks committed before the failure");
        var error = Assert.Single(summary.Errors);
        Assert.Equal(broken, error.Source);
        Assert.Equal(2, summary.ImagesOk);
        string db = dir.File("t.duckdb");
        string bigDiffId = BuiltLayer.Sha256(big.Layers[0].Uncompressed);
        Assert.Equal(0L, Scalar(db, $"SELECT count(*) FROM files WHERE diff_id = '{bigDiffId}'"));
        Assert.Equal(0L, Scalar(db, "SELECT count(*) FROM layer_loads"));
        Assert.Equal(0L, Scalar(db, $"SELECT count(*) FROM layer_contents WHERE diff_id = '{bigDiffId}'"));
        Assert.Equal(reference.ImagesOk, summary.ImagesOk);
        AssertSameRows(dir.File("reference.duckdb"), db);
    }

    [Fact]
    public void A_load_that_commits_a_content_first_deletes_the_chunks_of_another_load_of_it()
    {
        using var dir = new TempDir();
        using var db = LayerStatsDatabase.Open(dir.File("t.duckdb"));
        using var store = new DuckDbScanStore(db) { LoadChunkRows = 10 };
        int run = store.BeginRun(new ScanRunStart(DateTimeOffset.UtcNow, "test", FileHashing.Xxh128, 1));
        var entries = Entries(35);

        using (var chunking = store.BeginLayerLoad(run, DiffId, FileHashing.Xxh128))
        using (var single = store.BeginLayerLoad(run, DiffId, FileHashing.Xxh128))
        {
            Append(chunking, entries);
            // 3 chunks of 10 committed, under the marker; not yet a layer content.
            Assert.Equal(30L, Count(db, "SELECT count(*) FROM files"));
            Assert.Equal(30L, Count(db, "SELECT entries_committed FROM layer_loads"));
            Assert.Null(store.FindContent(DiffId));

            Append(single, entries); // the other load chunks this content: this one stays one transaction
            Assert.Equal(30L, Count(db, "SELECT count(*) FROM files"));
            Assert.True(single.Commit(Blob("a"), ContentRecord(35)));
            Assert.Equal(35L, Count(db, "SELECT count(*) FROM files"));
            Assert.Equal(0L, Count(db, "SELECT count(*) FROM layer_loads"));

            Append(chunking, entries); // superseded: appends nothing
            Assert.False(chunking.Commit(Blob("b"), ContentRecord(35)));
        }

        Assert.Equal(35L, Count(db, "SELECT count(*) FROM files"));
        Assert.Equal(35L, Count(db, "SELECT count(DISTINCT seq) FROM files"));
        Assert.Equal(2L, Count(db, "SELECT count(*) FROM layers"));
        Assert.Equal(0L, Count(db, "SELECT count(*) FROM layer_loads"));
    }

    [Fact]
    public void A_chunked_load_that_commits_first_makes_the_other_load_drop_its_rows()
    {
        using var dir = new TempDir();
        using var db = LayerStatsDatabase.Open(dir.File("t.duckdb"));
        using var store = new DuckDbScanStore(db) { LoadChunkRows = 10 };
        int run = store.BeginRun(new ScanRunStart(DateTimeOffset.UtcNow, "test", FileHashing.Xxh128, 1));
        var entries = Entries(25);

        using (var chunking = store.BeginLayerLoad(run, DiffId, FileHashing.Xxh128))
        using (var single = store.BeginLayerLoad(run, DiffId, FileHashing.Xxh128))
        {
            Append(chunking, entries);
            Append(single, entries);
            Assert.True(chunking.Commit(Blob("a"), ContentRecord(25)));
            Assert.False(single.Commit(Blob("b"), ContentRecord(25)));
        }

        Assert.Equal(25L, Count(db, "SELECT count(*) FROM files"));
        Assert.Equal(25L, Count(db, "SELECT count(DISTINCT seq) FROM files"));
        Assert.Equal(0L, Count(db, "SELECT count(*) FROM layer_loads"));
    }

    [Fact]
    public void A_replacement_of_weaker_hashing_keeps_the_old_rows_until_it_commits_and_when_it_fails()
    {
        using var dir = new TempDir();
        using var db = LayerStatsDatabase.Open(dir.File("t.duckdb"));
        using var store = new DuckDbScanStore(db) { LoadChunkRows = 10 };
        int run = store.BeginRun(new ScanRunStart(DateTimeOffset.UtcNow, "test", FileHashing.Xxh128, 1));
        using (var load = store.BeginLayerLoad(run, DiffId, FileHashing.Xxh128))
        {
            Append(load, Entries(25));
            Assert.True(load.Commit(Blob("a"), ContentRecord(25)));
        }

        var strong = Entries(25).Select(e => e with { Sha256 = new byte[32] }).ToArray();
        using (var failing = store.BeginLayerLoad(run, DiffId, FileHashing.Xxh128AndSha256))
        {
            Append(failing, strong);
            // No chunk: the old content stays whole (and the only rows) while the new one loads.
            Assert.Equal(25L, Count(db, "SELECT count(*) FROM files"));
            Assert.Equal(0L, Count(db, "SELECT count(*) FROM layer_loads"));
            failing.Abort();
        }

        Assert.Equal(0L, Count(db, "SELECT count(*) FROM files WHERE sha256 IS NOT NULL"));
        Assert.Equal(FileHashing.Xxh128, store.FindContent(DiffId));

        using (var replacing = store.BeginLayerLoad(run, DiffId, FileHashing.Xxh128AndSha256))
        {
            Append(replacing, strong);
            Assert.True(replacing.Commit(Blob("a"), ContentRecord(25) with { Hashing = FileHashing.Xxh128AndSha256 }));
        }

        Assert.Equal(25L, Count(db, "SELECT count(*) FROM files WHERE sha256 IS NOT NULL"));
        Assert.Equal(25L, Count(db, "SELECT count(*) FROM files"));
    }

    [Fact]
    public void Opening_a_database_for_writing_deletes_the_rows_of_a_load_a_killed_scan_left()
    {
        using var dir = new TempDir();
        string path = dir.File("t.duckdb");
        var other = Digest.Compute("other"u8);
        using (var db = LayerStatsDatabase.Open(path))
        using (var store = new DuckDbScanStore(db) { LoadChunkRows = 10 })
        {
            int run = store.BeginRun(new ScanRunStart(DateTimeOffset.UtcNow, "test", FileHashing.Xxh128, 1));
            using (var load = store.BeginLayerLoad(run, other, FileHashing.Xxh128))
            {
                Append(load, Entries(5));
                Assert.True(load.Commit(new LayerRecord(Digest.Compute("o"u8), 1, MediaTypes.OciLayer, Compression.None, other, 1, false), new LayerContentRecord(other, 1, 5, FileHashing.Xxh128)));
            }

            // What a SIGKILL in the middle of a chunked load leaves: committed chunks and their marker.
            LayerStatsDatabase.Execute(db.Connection, $"INSERT INTO files SELECT '{DiffId}', seq + 1000, path, kind, size, mode, uid, gid, mtime, link_target, xxh128, sha256, 99 FROM files");
            LayerStatsDatabase.Execute(db.Connection, $"INSERT INTO layer_loads VALUES ('{DiffId}', {run}, now(), 5)");
            LayerStatsDatabase.Execute(db.Connection, $"INSERT INTO image_layers VALUES ('sha256:img', 0, 'sha256:blob', '{DiffId}', NULL)");
        }

        using (var readOnly = LayerStatsDatabase.OpenReadOnly(path))
        {
            // A reader sees the rows in `files`, but in no view.
            Assert.Equal(10L, Count(readOnly, "SELECT count(*) FROM files"));
            Assert.Equal(1L, Count(readOnly, "SELECT count(*) FROM layer_loads"));
            Assert.Equal(0L, Count(readOnly, $"SELECT count(*) FROM content_files WHERE diff_id = '{DiffId}'"));
        }

        using (var db = LayerStatsDatabase.Open(path))
        {
            Assert.Equal(5L, Count(db, "SELECT count(*) FROM files"));
            Assert.Equal(0L, Count(db, $"SELECT count(*) FROM files WHERE diff_id = '{DiffId}'"));
            Assert.Equal(0L, Count(db, "SELECT count(*) FROM layer_loads"));
        }
    }

    [Fact]
    public void While_a_layer_loads_in_chunks_DuckDB_has_the_lower_memory_limit_and_the_scan_limit_comes_back_after()
    {
        using var dir = new TempDir();
        var options = DatabaseOptions.Scan;
        Assert.True(options.ChunkedLoadMemoryLimitMegabytes < options.MemoryLimitMegabytes);
        using var db = LayerStatsDatabase.Open(dir.File("t.duckdb"), options);
        using var store = new DuckDbScanStore(db) { LoadChunkRows = 10 };
        int run = store.BeginRun(new ScanRunStart(DateTimeOffset.UtcNow, "test", FileHashing.Xxh128, 1));
        string scanLimit = DuckDbLimit(options.MemoryLimitMegabytes);
        string chunkedLimit = DuckDbLimit(options.ChunkedLoadMemoryLimitMegabytes);
        Assert.NotEqual(scanLimit, chunkedLimit);
        Assert.Equal(scanLimit, MemoryLimit(db));

        using (var load = store.BeginLayerLoad(run, DiffId, FileHashing.Xxh128))
        {
            load.Append(Entries(10));
            Assert.Equal(scanLimit, MemoryLimit(db)); // 10 rows: one transaction so far
            load.Append(Entries(10));
            Assert.Equal(1, store.ChunksCommitted);
            Assert.Equal(chunkedLimit, MemoryLimit(db));
            Assert.True(load.Commit(Blob("a"), ContentRecord(20)));
            Assert.Equal(scanLimit, MemoryLimit(db));
        }

        // A chunked load that ends without its commit (a broken layer) gives the limit back too.
        var other = Digest.Compute("another chunked content"u8);
        using (var load = store.BeginLayerLoad(run, other, FileHashing.Xxh128))
        {
            Append(load, Entries(25));
            Assert.Equal(chunkedLimit, MemoryLimit(db));
        }

        Assert.Equal(scanLimit, MemoryLimit(db));
        Assert.Equal(0L, Count(db, "SELECT count(*) FROM layer_loads"));
        Assert.Equal(0L, Count(db, $"SELECT count(*) FROM files WHERE diff_id = '{other}'"));
    }

    private static string MemoryLimit(LayerStatsDatabase db) =>
        Convert.ToString(ReportQueries.Run(db, "SELECT current_setting('memory_limit')").Rows[0][0], System.Globalization.CultureInfo.InvariantCulture)!;

    /// <summary>How DuckDB itself shows a limit of <paramref name="megabytes"/> MB (a fresh in-memory database).</summary>
    private static string DuckDbLimit(int megabytes)
    {
        using var connection = new DuckDB.NET.Data.DuckDBConnection("Data Source=:memory:");
        connection.Open();
        using var cmd = connection.CreateCommand();
        cmd.CommandText = $"SET memory_limit = '{megabytes}MB'";
        cmd.ExecuteNonQuery();
        cmd.CommandText = "SELECT current_setting('memory_limit')";
        return Convert.ToString(cmd.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture)!;
    }

    /// <summary>A scan in-process with the given chunk size; returns its summary and the chunks its loads committed.</summary>
    private static (ScanSummary Summary, int Chunks) Scan(string database, IReadOnlyList<string> inputs, int chunkRows) =>
        StoreScan.Run(database, inputs, db => new DuckDbScanStore(db) { LoadChunkRows = chunkRows }, store => store.ChunksCommitted);

    /// <summary>The files, contents, layers and summary of two databases are equal row for row.</summary>
    internal static void AssertSameRows(string expectedDatabase, string actualDatabase)
    {
        foreach (string sql in new[]
        {
            "SELECT diff_id, seq, path, kind, size, mode, uid, gid, mtime, link_target, xxh128, sha256 FROM files ORDER BY diff_id, seq",
            "SELECT diff_id, uncompressed_size, entries, file_hashing FROM layer_contents ORDER BY diff_id",
            "SELECT digest, size, diff_id, uncompressed_size FROM layers ORDER BY digest",
            "SELECT * EXCLUDE (first_run_id, last_run_id) FROM images ORDER BY image_id",
            "SELECT * FROM summary",
        })
        {
            Assert.Equal(Rows(expectedDatabase, sql), Rows(actualDatabase, sql));
        }
    }

    private static List<string> Rows(string database, string sql)
    {
        using var db = LayerStatsDatabase.OpenReadOnly(database);
        return ReportQueries.Run(db, sql).Rows
            .Select(r => string.Join("|", r.Select(v => v is byte[] b ? Convert.ToHexString(b) : Convert.ToString(v, System.Globalization.CultureInfo.InvariantCulture))))
            .ToList();
    }

    private static long Scalar(string database, string sql)
    {
        using var db = LayerStatsDatabase.OpenReadOnly(database);
        return Count(db, sql);
    }

    private static long Count(LayerStatsDatabase db, string sql) =>
        Convert.ToInt64(ReportQueries.Run(db, sql).Rows[0][0], System.Globalization.CultureInfo.InvariantCulture);

    private static FileEntry[] Entries(int count) =>
        Enumerable.Range(0, count)
            .Select(i => new FileEntry(i, $"d/f{i}", EntryKind.File, i, 420, 0, 0, DateTimeOffset.UnixEpoch, null, (UInt128)(i % 7), null))
            .ToArray();

    /// <summary>Appends in batches of 5, as the pipeline hands batches over.</summary>
    private static void Append(ILayerLoad load, FileEntry[] entries)
    {
        foreach (var batch in entries.Chunk(5))
        {
            load.Append(batch);
        }
    }

    private static LayerRecord Blob(string name) =>
        new(Digest.Compute(System.Text.Encoding.UTF8.GetBytes(name)), 10, MediaTypes.OciLayer, Compression.None, DiffId, 100, false);

    private static LayerContentRecord ContentRecord(int entries) => new(DiffId, 100, entries, FileHashing.Xxh128);

    private static LayerBuilder Tree(string seed, int files)
    {
        var layer = new LayerBuilder(implicitParents: true);
        for (int i = 0; i < files; i++)
        {
            layer.File($"{seed}/d{i % 40}/f{i}.txt", Content.Text($"{seed}-{i % 500}", 11));
        }

        return layer;
    }
}
