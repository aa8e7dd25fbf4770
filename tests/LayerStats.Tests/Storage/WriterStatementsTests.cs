using LayerStats.Core.Analysis;
using LayerStats.Core.Images;
using LayerStats.Core.Layers;
using LayerStats.Core.Model;
using LayerStats.Core.Scanning;
using LayerStats.Core.Sources;
using LayerStats.Storage;

namespace LayerStats.Tests.Storage;

/// <summary>
/// The writer's cheaper paths: plain inserts where the store knows a row is absent (and the upserts where it is not),
/// and the per-image analysis from the entries the writer has just loaded instead of the store's rows.
/// </summary>
public sealed class WriterStatementsTests
{
    private static readonly Digest DiffId = Digest.Compute("content"u8);
    private static readonly Digest BlobDigest = Digest.Compute("blob"u8);

    [Fact]
    public void A_new_image_gets_one_reference_row_per_key_with_the_last_index_digest_stated_and_shares_a_config()
    {
        using var dir = new TempDir();
        using var open = new OpenStore(dir.File("t.duckdb"), FileHashing.Xxh128);
        var (db, store, run) = (open.Database, open.Store, open.Run);
        Load(store, run, BlobDigest, FileHashing.Xxh128);

        var index1 = Digest.Compute("index 1"u8);
        var index2 = Digest.Compute("index 2"u8);
        var first = Image("first", "shared config"u8);
        var second = Image("second", "shared config"u8);
        ImageReference[] references =
        [
            new("src.tar", "repo", "1.0", null),
            new("src.tar", "repo", "1.0", index1),
            new("src.tar", "repo", "1.0", index2),
            new("src.tar", "repo", "1.0", null), // the same key: one row, the last index digest stated
            new("src.tar", "repo", null, null),
            new("other.tar", null, null, null),
        ];

        Assert.False(store.TouchImage(run, first.Id, references));
        store.CommitImage(run, Record(first, references));
        store.CommitImage(run, Record(second, [new("src.tar", "repo", "2.0", null)]));

        var rows = ReportQueries.Run(db, "SELECT image_id, source, repository, tag, index_digest, first_run_id, last_run_id FROM image_refs ORDER BY image_id, source, repository, tag").Rows;
        Assert.Equal(
            new[]
            {
                Ref(first, "other.tar", "", "", null, run, run),
                Ref(first, "src.tar", "repo", "", null, run, run),
                Ref(first, "src.tar", "repo", "1.0", index2.ToString(), run, run),
                Ref(second, "src.tar", "repo", "2.0", null, run, run),
            }.OrderBy(r => (string)r[0]!, StringComparer.Ordinal).ThenBy(r => (string)r[1]!, StringComparer.Ordinal).ThenBy(r => (string)r[2]!, StringComparer.Ordinal).ThenBy(r => (string)r[3]!, StringComparer.Ordinal),
            rows.Select(r => r.ToArray()));
        Assert.Equal(1L, Count(db, "SELECT count(*) FROM configs"));
        Assert.Equal(2L, Count(db, $"SELECT count(*) FROM run_images WHERE run_id = {run}"));
        var layers = ReportQueries.Run(db, $"SELECT position, digest, diff_id, created_by FROM image_layers WHERE image_id = '{first.Id}'").Rows;
        var layer = Assert.Single(layers);
        Assert.Equal(new object?[] { 0, BlobDigest.ToString(), DiffId.ToString(), "RUN make" }, layer.ToArray());

        // A second run: the image is stored, so it is touched and gains the new reference by upsert.
        int run2 = store.BeginRun(new ScanRunStart(DateTimeOffset.UtcNow, "test", FileHashing.Xxh128, 1));
        store.CommitImage(run2, Record(first, [new("src.tar", "repo", "1.0", null), new("new.tar", "repo", "1.0", index1)]));
        Assert.Equal(4L, Count(db, $"SELECT count(*) FROM image_refs WHERE image_id = '{first.Id}'"));
        Assert.Equal(index2.ToString(), ReportQueries.Run(db, $"SELECT index_digest FROM image_refs WHERE image_id = '{first.Id}' AND tag = '1.0' AND source = 'src.tar'").Rows[0][0]);
        Assert.Equal(run2, Convert.ToInt32(ReportQueries.Run(db, $"SELECT last_run_id FROM images WHERE image_id = '{first.Id}'").Rows[0][0]));
        Assert.Equal(1L, Count(db, $"SELECT count(*) FROM run_images WHERE run_id = {run2}"));
        Assert.Equal(2L, Count(db, "SELECT count(*) FROM images"));
    }

    [Fact]
    public void Images_and_configs_looked_up_ahead_are_stored_once_and_a_failed_commit_leaves_its_config_to_the_next_image()
    {
        using var dir = new TempDir();
        using var open = new OpenStore(dir.File("t.duckdb"), FileHashing.Xxh128);
        var (db, store, run) = (open.Database, open.Store, open.Run);
        Load(store, run, BlobDigest, FileHashing.Xxh128);
        var before = Image("before", "stored before"u8);
        store.CommitImage(run, Record(before, [new("src.tar", null, null, null)]));

        // A store that knows nothing yet (the next scan): its look-up finds the image and config stored, the others not.
        using var next = new DuckDbScanStore(db);
        var a = Image("a", "shared"u8);
        var b = Image("b", "shared"u8);
        var again = Image("again", "stored before"u8);
        var e = Image("e", "fresh"u8);
        var f = Image("f", "fresh"u8);
        next.LookUpImages([a, b, again, e, f, before]);
        Assert.True(next.TouchImage(run, before.Id, [])); // stored: touched, not taken for absent
        Assert.False(next.TouchImage(run, a.Id, []));
        foreach (var image in new[] { a, b, again })
        {
            next.CommitImage(run, Record(image, [new("src.tar", null, null, null)]));
        }

        Assert.Equal(2L, Count(db, "SELECT count(*) FROM configs"));
        Assert.Equal(4L, Count(db, "SELECT count(*) FROM images"));

        // e is stored behind the store's back after the look-up: its commit fails and is rolled back with its config,
        // which f, with the same config, then stores.
        LayerStatsDatabase.Execute(db.Connection, $"INSERT INTO images SELECT * REPLACE ('{e.Id}' AS image_id) FROM images WHERE image_id = '{a.Id}'");
        Assert.ThrowsAny<Exception>(() => next.CommitImage(run, Record(e, [new("src.tar", null, null, null)])));
        Assert.Equal(0L, Count(db, $"SELECT count(*) FROM configs WHERE digest = '{e.ConfigDigest}'"));
        next.CommitImage(run, Record(f, [new("src.tar", null, null, null)]));
        Assert.Equal(1L, Count(db, $"SELECT count(*) FROM configs WHERE digest = '{f.ConfigDigest}'"));
        Assert.Equal(3L, Count(db, "SELECT count(*) FROM configs"));
    }

    [Fact]
    public void The_optimizer_is_on_again_after_an_image_commit_and_after_one_that_fails()
    {
        using var dir = new TempDir();
        using var open = new OpenStore(dir.File("t.duckdb"), FileHashing.Xxh128);
        var (db, store, run) = (open.Database, open.Store, open.Run);
        Load(store, run, BlobDigest, FileHashing.Xxh128);
        Assert.True(OptimizerOn(db));

        var first = Image("first", "a"u8);
        Assert.False(store.TouchImage(run, first.Id, []));
        store.CommitImage(run, Record(first, [new("src.tar", null, null, null)]));
        Assert.True(OptimizerOn(db));

        // An image stored behind the store's back after its look-up: the plain insert fails, the transaction is rolled
        // back (the config row with it), and the connection's optimizer is on again.
        var second = Image("second", "b"u8);
        Assert.False(store.TouchImage(run, second.Id, []));
        LayerStatsDatabase.Execute(db.Connection, $"INSERT INTO images SELECT * REPLACE ('{second.Id}' AS image_id) FROM images");
        Assert.ThrowsAny<Exception>(() => store.CommitImage(run, Record(second, [new("src.tar", null, null, null)])));
        Assert.True(OptimizerOn(db));
        Assert.Equal(1L, Count(db, "SELECT count(*) FROM configs"));
        Assert.Equal(1L, Count(db, "SELECT count(*) FROM image_refs"));
        Assert.Equal(1L, Count(db, "SELECT count(*) FROM run_images"));
    }

    [Fact]
    public void The_prepared_inserts_write_each_value_and_each_null_where_it_belongs()
    {
        using var dir = new TempDir();
        using var open = new OpenStore(dir.File("t.duckdb"), FileHashing.Xxh128);
        var (db, store, run) = (open.Database, open.Store, open.Run);
        var second = Digest.Compute("second blob"u8);
        var foreign = Digest.Compute("foreign blob"u8);
        Load(store, run, BlobDigest, FileHashing.Xxh128);
        // A foreign layer (no compression, no size) through the same prepared statement shape as a loaded one, absent.
        Assert.Empty(store.FindLayers(new HashSet<Digest> { second, foreign }));
        store.AddLayer(run, new LayerRecord(foreign, 7, MediaTypes.OciLayer, null, DiffId, null, true));
        store.AddLayer(run, new LayerRecord(second, 8, MediaTypes.OciLayer, Compression.Zstd, DiffId, 3072, false));
        store.AddLayer(run, new LayerRecord(second, 8, MediaTypes.OciLayer, Compression.Zstd, DiffId, 3072, false)); // stored now: upsert
        Assert.Equal(
            new[]
            {
                new object?[] { BlobDigest.ToString(), 10L, MediaTypes.OciLayer, "none", DiffId.ToString(), 3072L, false, run },
                new object?[] { foreign.ToString(), 7L, MediaTypes.OciLayer, null, DiffId.ToString(), null, true, run },
                new object?[] { second.ToString(), 8L, MediaTypes.OciLayer, "zstd", DiffId.ToString(), 3072L, false, run },
            }.OrderBy(r => (string)r[0]!, StringComparer.Ordinal),
            ReportQueries.Run(db, "SELECT * FROM layers ORDER BY digest").Rows.Select(r => r.ToArray()));
        Assert.Equal(
            new object?[] { DiffId.ToString(), 3072L, 2, "xxh128", run, Count(db, "SELECT DISTINCT content_id FROM files") },
            ReportQueries.Run(db, "SELECT * FROM layer_contents").Rows.Single().ToArray());

        // Every nullable column of images set, then every one NULL; created_by set for some layers and not others.
        var created = new DateTimeOffset(2024, 5, 6, 7, 8, 9, TimeSpan.FromHours(2)).AddTicks(1_234_560);
        var full = Image("full", "full"u8, ""","variant":"v8","created":"2024-05-06T07:08:09.123456+02:00","history":[{"created_by":"RUN a"},{"created_by":"RUN b","empty_layer":true},{},{"created_by":"RUN c"}]""", 3);
        var bare = Image("bare", "bare"u8, ""","history":[{},{}]""", 2, manifest: false);
        var index = Digest.Compute("index"u8);
        store.CommitImage(run, new ImageRecord(full, [new("src.tar", "repo", "1", index)], 30, 9216, new ImageFigures(5, 1, 0.75, 40, 0.25, 100, 60)));
        store.CommitImage(run, new ImageRecord(bare, [new("bare.tar", null, null, null)], 20, 6144, new ImageFigures(0, 0, 1.0, 0, double.NaN, 3, 0)));

        var images = ReportQueries.Run(
            db,
            "SELECT * EXCLUDE (created), epoch_us(created) FROM images ORDER BY layer_count DESC").Rows.Select(r => r.ToArray()).ToList();
        long createdMicros = (created.UtcTicks - DateTimeOffset.UnixEpoch.Ticks) / 10;
        Assert.Equal(
            new object?[]
            {
                full.Id.ToString(), full.Id.ToString(), MediaTypes.OciManifest, full.ConfigDigest.ToString(), "linux", "amd64", "v8",
                3, 30L, 9216L, 5L, 1L, 0.75, 40L, 0.25, 100L, 60L, run, run, createdMicros,
            },
            images[0]);
        Assert.Equal(
            new object?[]
            {
                bare.Id.ToString(), null, MediaTypes.OciManifest, bare.ConfigDigest.ToString(), "linux", "amd64", null,
                2, 20L, 6144L, 0L, 0L, 1.0, 0L, null, 3L, 0L, run, run, null,
            },
            images[1]);
        Assert.Equal(
            new[]
            {
                new object?[] { full.Id.ToString(), 0, LayerDigest(0).ToString(), DiffId.ToString(), "RUN a" },
                new object?[] { full.Id.ToString(), 1, LayerDigest(1).ToString(), DiffId.ToString(), null },
                new object?[] { full.Id.ToString(), 2, LayerDigest(2).ToString(), DiffId.ToString(), "RUN c" },
                new object?[] { bare.Id.ToString(), 0, LayerDigest(0).ToString(), DiffId.ToString(), null },
                new object?[] { bare.Id.ToString(), 1, LayerDigest(1).ToString(), DiffId.ToString(), null },
            },
            ReportQueries.Run(db, $"SELECT * FROM image_layers ORDER BY image_id = '{full.Id}' DESC, position").Rows.Select(r => r.ToArray()));
        Assert.Equal(
            new[]
            {
                Ref(bare, "bare.tar", "", "", null, run, run),
                Ref(full, "src.tar", "repo", "1", index.ToString(), run, run),
            },
            ReportQueries.Run(db, $"SELECT * FROM image_refs ORDER BY source").Rows.Select(r => r.ToArray()));
        Assert.Equal(2L, Count(db, $"SELECT count(*) FROM run_images WHERE run_id = {run}"));
        Assert.Equal(2L, Count(db, "SELECT count(*) FROM configs"));
        Assert.Equal(
            System.Text.Encoding.UTF8.GetString(full.ConfigBytes.Span),
            System.Text.Encoding.UTF8.GetString((byte[])ReportQueries.Run(db, $"SELECT content FROM configs WHERE digest = '{full.ConfigDigest}'").Rows[0][0]!));
    }

    [Fact]
    public void Layer_loads_share_connections_and_a_database_closed_without_disposing_its_store_lets_its_file_go()
    {
        using var dir = new TempDir();
        string path = dir.File("t.duckdb");
        var db = LayerStatsDatabase.Open(path);
        var store = new DuckDbScanStore(db);
        int run = store.BeginRun(new ScanRunStart(DateTimeOffset.UtcNow, "test", FileHashing.Xxh128, 1));
        var diffIds = new List<Digest>();
        for (int i = 0; i < 6; i++)
        {
            var diffId = Digest.Compute(System.Text.Encoding.UTF8.GetBytes($"content {i}"));
            diffIds.Add(diffId);
            var entries = new[] { new FileEntry(0, $"f{i}", EntryKind.File, i, 0x1A4, 0, 0, DateTimeOffset.UnixEpoch, null, (UInt128)i, null) };
            using var load = store.BeginLayerLoad(run, diffId, FileHashing.Xxh128);
            load.Append(entries);
            if (i == 2)
            {
                load.Abort(); // a load that fails: its connection is not reused, its rows go
                continue;
            }

            // Two loads open at once on their own connections (as the writer interleaves layers of two images).
            using var other = i == 3 ? store.BeginLayerLoad(run, Digest.Compute("never committed"u8), FileHashing.Xxh128) : null;
            other?.Append(entries);
            var blob = Digest.Compute(System.Text.Encoding.UTF8.GetBytes($"blob {i}"));
            Assert.True(load.Commit(new LayerRecord(blob, 10 + i, MediaTypes.OciLayer, Compression.Gzip, diffId, 512 * (i + 1), false), new LayerContentRecord(diffId, 512 * (i + 1), 1, FileHashing.Xxh128)));
        }

        var foreign = Digest.Compute("foreign"u8);
        Assert.Empty(store.FindLayers(new HashSet<Digest> { foreign }));
        store.AddLayer(run, new LayerRecord(foreign, 1, MediaTypes.OciLayer, null, diffIds[0], null, true)); // prepared on the store's connection
        Assert.Equal(6L, Count(db, "SELECT count(*) FROM layers"));
        Assert.Equal(5L, Count(db, "SELECT count(*) FROM files"));
        Assert.Equal(
            new[] { 0L, 1L, 3L, 4L, 5L },
            ReportQueries.Run(db, "SELECT f.size FROM files f JOIN layer_contents c USING (diff_id, content_id) ORDER BY f.size").Rows.Select(r => Convert.ToInt64(r[0])));
        Assert.Equal(0L, Count(db, $"SELECT count(*) FROM layer_contents WHERE diff_id = '{diffIds[2]}'"));

        // The store is not disposed: closing the database closes the loads' connections and drops the prepared statements,
        // so the file is free. A new database at the same path is empty (a kept DuckDB instance would still show the rows).
        db.Dispose();
        foreach (var file in Directory.GetFiles(dir.Path))
        {
            File.Delete(file);
        }

        using var fresh = LayerStatsDatabase.Open(path);
        Assert.Equal(0L, Count(fresh, "SELECT count(*) FROM layers"));
        GC.KeepAlive(store);
    }

    /// <summary>The optimizer folds a false filter into an empty result; without it the plan keeps the filter.</summary>
    private static bool OptimizerOn(LayerStatsDatabase db) =>
        !Convert.ToString(ReportQueries.Run(db, "EXPLAIN SELECT 42 WHERE 1 = 0").Rows[0][1], System.Globalization.CultureInfo.InvariantCulture)!.Contains("FILTER", StringComparison.Ordinal);

    [Fact]
    public void A_blob_whose_row_is_stored_is_loaded_again_with_stronger_hashing_and_a_new_blob_next_to_it()
    {
        using var dir = new TempDir();
        string path = dir.File("t.duckdb");
        using (var db = LayerStatsDatabase.Open(path))
        using (var store = new DuckDbScanStore(db))
        {
            int run = store.BeginRun(new ScanRunStart(DateTimeOffset.UtcNow, "test", FileHashing.Xxh128, 1));
            Load(store, run, BlobDigest, FileHashing.Xxh128);
        }

        // A later scan (another store) that asks for SHA-256 as well: the plan's look-up finds the blob's row, so its
        // load must not insert it as new; the second blob's row is known absent.
        var other = Digest.Compute("other blob"u8);
        using (var db = LayerStatsDatabase.Open(path))
        using (var store = new DuckDbScanStore(db))
        {
            int run = store.BeginRun(new ScanRunStart(DateTimeOffset.UtcNow, "test", FileHashing.Xxh128AndSha256, 1));
            var found = store.FindLayers(new HashSet<Digest> { BlobDigest, other });
            Assert.Equal([BlobDigest], found.Keys);
            Assert.Equal(FileHashing.Xxh128, store.FindContents(new HashSet<Digest> { DiffId })[DiffId]);
            Load(store, run, BlobDigest, FileHashing.Xxh128AndSha256);
            Assert.Equal(FileHashing.Xxh128AndSha256, store.FindContent(DiffId));
            store.AddLayer(run, new LayerRecord(other, 3, MediaTypes.OciLayer, Compression.None, DiffId, 4, false));
            store.AddLayer(run, new LayerRecord(other, 3, MediaTypes.OciLayer, Compression.None, DiffId, 4, false)); // no longer absent: no conflict
            Assert.Equal(2L, Count(db, "SELECT count(*) FROM layers"));
            Assert.Equal(2L, Count(db, "SELECT count(*) FROM files WHERE sha256 IS NOT NULL"));
            Assert.Equal(2L, Count(db, "SELECT count(*) FROM files"));
        }
    }

    [Fact]
    public void The_figures_from_the_kept_entries_are_those_from_the_stored_rows()
    {
        using var dir = new TempDir();
        var inputs = Directory.GetFileSystemEntries(TestPaths.Repo("sample-data", "images")).Order(StringComparer.Ordinal).ToList();
        string kept = dir.File("kept.duckdb");
        string stored = dir.File("stored.duckdb");
        string later = dir.File("later.duckdb");
        Assert.Equal(0, Scan(kept, inputs, ScanPipeline.DefaultKeptEntriesLimit, out int shared));
        Assert.True(shared > 0, "images on the same base went on from the analysis of the first of them");
        // Nothing kept and nothing shared: each image's analysis reads each of its layers from the store.
        Assert.Equal(0, Scan(stored, inputs, keptEntriesLimit: 0, out shared, sharedBudgetBytes: 0));
        Assert.Equal(0, shared);
        // worker:1.1 first: base's layers are then stored, and base, web and worker:1.0 come later, new, on them.
        Assert.Equal(0, Scan(later, inputs.Where(i => i.EndsWith("worker.docker25.tar", StringComparison.Ordinal)).ToList(), ScanPipeline.DefaultKeptEntriesLimit, out _));
        Assert.True(Scan(later, inputs, ScanPipeline.DefaultKeptEntriesLimit, out _) > 0, "stored base layers were kept for the images that share them");

        const string Figures =
            "SELECT image_id, hidden_bytes, hidden_files, dive_efficiency, dive_wasted_bytes, dive_user_wasted_percent, dive_size_bytes, dive_user_size_bytes FROM images ORDER BY image_id";
        using var keptDb = LayerStatsDatabase.OpenReadOnly(kept);
        using var storedDb = LayerStatsDatabase.OpenReadOnly(stored);
        var keptRows = ReportQueries.Run(keptDb, Figures).Rows.Select(r => r.ToArray()).ToList();
        Assert.True(keptRows.Count >= 5, $"{keptRows.Count} images");
        Assert.Equal(ReportQueries.Run(storedDb, Figures).Rows.Select(r => r.ToArray()), keptRows);
        using (var laterDb = LayerStatsDatabase.OpenReadOnly(later))
        {
            Assert.Equal(keptRows, ReportQueries.Run(laterDb, Figures).Rows.Select(r => r.ToArray()));
        }

        // And both are the analysis of each image's rows as stored, in archive order (an independent reading).
        Assert.Contains(keptRows, r => Convert.ToInt64(r[1]) > 0); // the samples hide bytes: the figures are not all zero
        foreach (var row in keptRows)
        {
            string id = (string)row[0]!;
            var diffIds = ReportQueries.Run(keptDb, $"SELECT diff_id FROM image_layers WHERE image_id = '{id}' ORDER BY position").Rows.Select(r => (string)r[0]!).ToList();
            var layers = diffIds
                .Select(d => (IReadOnlyList<AnalysisEntry>)ReportQueries.Run(keptDb, $"SELECT path, kind, size, seq FROM files WHERE diff_id = '{d}' ORDER BY seq").Rows
                    .Select(r => new AnalysisEntry((string)r[0]!, EntryKinds.Parse((string)r[1]!), Convert.ToInt64(r[2]), Convert.ToInt32(r[3])))
                    .ToList())
                .ToList();
            var f = ImageAnalysis.Analyze(layers);
            Assert.Equal(f.HiddenBytes, Convert.ToInt64(row[1]));
            Assert.Equal(f.HiddenFiles, Convert.ToInt64(row[2]));
            Assert.Equal(f.Efficiency, Convert.ToDouble(row[3]));
            Assert.Equal(f.WastedBytes, Convert.ToInt64(row[4]));
            Assert.Equal(f.DiveSizeBytes, Convert.ToInt64(row[6]));
            Assert.Equal(f.DiveUserSizeBytes, Convert.ToInt64(row[7]));
        }
    }

    /// <summary>Scans in-process; returns the number of stored layers whose entries the analysis kept, and the layers
    /// whose analysis an image took from another's on the same base.</summary>
    private static int Scan(string database, IReadOnlyList<string> inputs, int keptEntriesLimit, out int sharedLayers, long sharedBudgetBytes = SharedPrefixAnalysis.DefaultBudgetBytes)
    {
        using var db = LayerStatsDatabase.Open(database);
        using var store = new DuckDbScanStore(db);
        var sources = inputs.Select(i => ImageSources.Open(i)).ToList();
        try
        {
            var pipeline = new ScanPipeline(store, new ScanOptions(Jobs: 2)) { KeptEntriesLimit = keptEntriesLimit, SharedAnalysisBudgetBytes = sharedBudgetBytes };
            var summary = pipeline.RunAsync(sources, CancellationToken.None).GetAwaiter().GetResult();
            Assert.Empty(summary.Errors);
            sharedLayers = pipeline.AnalysisLayersShared;
            return pipeline.StoredLayersKept;
        }
        finally
        {
            foreach (var source in sources)
            {
                source.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
        }
    }

    private static void Load(DuckDbScanStore store, int run, Digest blob, FileHashing hashing)
    {
        var entries = new[]
        {
            new FileEntry(0, "a", EntryKind.File, 1, 0x1A4, 0, 0, DateTimeOffset.UnixEpoch, null, 5, hashing == FileHashing.Xxh128 ? null : new byte[32]),
            new FileEntry(1, "b", EntryKind.File, 2, 0x1A4, 0, 0, DateTimeOffset.UnixEpoch, null, 6, hashing == FileHashing.Xxh128 ? null : new byte[32]),
        };
        using var load = store.BeginLayerLoad(run, DiffId, hashing);
        load.Append(entries);
        Assert.True(load.Commit(new LayerRecord(blob, 10, MediaTypes.OciLayer, Compression.None, DiffId, 3072, false), new LayerContentRecord(DiffId, 3072, entries.Length, hashing)));
    }

    private static object?[] Ref(IImage image, string source, string repository, string tag, string? index, int first, int last) =>
        [image.Id.ToString(), source, repository, tag, index, first, last];

    private static long Count(LayerStatsDatabase db, string sql) => Convert.ToInt64(ReportQueries.Run(db, sql).Rows[0][0]);

    private static ImageRecord Record(IImage image, IReadOnlyList<ImageReference> references) =>
        new(image, references, 10, 3072, new ImageFigures(0, 0, 1.0, 0, double.NaN, 3, 0));

    private static Digest LayerDigest(int position) => position == 0 ? BlobDigest : Digest.Compute(System.Text.Encoding.UTF8.GetBytes($"layer {position}"));

    /// <summary>An image of <paramref name="layers"/> layers of content <see cref="DiffId"/> (the first <see cref="BlobDigest"/>), its config with <paramref name="more"/> fields.</summary>
    private static SourceImage Image(string name, ReadOnlySpan<byte> configText, string more, int layers, bool manifest = true)
    {
        string diffIds = string.Join(",", Enumerable.Repeat($"\"{DiffId}\"", layers));
        byte[] config = System.Text.Encoding.UTF8.GetBytes(
            $$"""{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[{{diffIds}}]}{{more}},"comment":"{{System.Text.Encoding.UTF8.GetString(configText)}}"}""");
        var configDigest = Digest.Compute(config);
        var id = manifest ? Digest.Compute(System.Text.Encoding.UTF8.GetBytes("manifest " + name)) : configDigest;
        var blobs = Enumerable.Range(0, layers).Select(i => new BlobLayer(new Descriptor(MediaTypes.OciLayer, LayerDigest(i), 10), DiffId, null)).ToList();
        return new SourceImage(id, manifest ? id : null, MediaTypes.OciManifest, configDigest, config, ManifestParser.ParseConfig(config, "config"), blobs);
    }

    /// <summary>An image of one layer (<see cref="BlobDigest"/>); images with the same <paramref name="configText"/> share a config blob.</summary>
    private static SourceImage Image(string name, ReadOnlySpan<byte> configText)
    {
        byte[] config = System.Text.Encoding.UTF8.GetBytes(
            $$"""{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["{{DiffId}}"]},"history":[{"created_by":"RUN make"}],"comment":"{{System.Text.Encoding.UTF8.GetString(configText)}}"}""");
        var manifest = Digest.Compute(System.Text.Encoding.UTF8.GetBytes("manifest " + name));
        var layer = new BlobLayer(new Descriptor(MediaTypes.OciLayer, BlobDigest, 10), DiffId, null);
        return new SourceImage(manifest, manifest, MediaTypes.OciManifest, Digest.Compute(config), config, ManifestParser.ParseConfig(config, "config"), [layer]);
    }
}
