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
