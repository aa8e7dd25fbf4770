using LayerStats.Storage;

namespace LayerStats.Tests.Storage;

/// <summary>
/// The end-of-run maintenance of the derived tables (run_snapshot.sql), run in batches of a few rows so that every
/// content's occurrences, first path and example paths come from several batches, compared with the definitions over
/// <c>files</c> and with what the views compute live; on a first fill, an incremental run, and a start-over.
/// </summary>
public sealed class DerivedTablesTests
{
    /// <summary>The derived tables as their definitions (docs/schema.md) state them, from the rows they derive from.</summary>
    private static readonly (string Table, string Actual, string Expected)[] Definitions =
    [
        ("content_stats",
            "SELECT xxh128, size, occurrences, layers, first_path, example_paths, first_directory, first_extension FROM content_stats",
            """
            SELECT xxh128, size, count(*), count(DISTINCT diff_id), min(path),
                   CASE WHEN count(*) >= 2 THEN list(DISTINCT path ORDER BY path)[1:5] END,
                   ls_directory(min(path)), ls_extension(min(path))
            FROM content_files GROUP BY xxh128, size
            """),
        ("layer_file_stats",
            "SELECT diff_id, files, bytes, within_layer_duplicate_bytes FROM layer_file_stats",
            """
            SELECT diff_id, sum(n), sum(size * n), sum(size * (n - 1))
            FROM (SELECT diff_id, xxh128, size, count(*) AS n FROM content_files GROUP BY ALL) GROUP BY diff_id
            """),
        ("layer_path_stats",
            "SELECT diff_id, directory, extension, files, bytes FROM layer_path_stats",
            "SELECT diff_id, ls_directory(path), ls_extension(path), count(*), sum(size) FROM content_files GROUP BY ALL"),
        ("image_file_stats",
            "SELECT image_id, file_duplicate_bytes FROM image_file_stats",
            """
            SELECT i.image_id, CAST(coalesce(sum(c.size * (c.n - 1)), 0) AS BIGINT)
            FROM images i
            LEFT JOIN (SELECT d.image_id, f.xxh128, f.size, count(*) AS n
                       FROM (SELECT DISTINCT image_id, diff_id FROM image_layers) d JOIN content_files f ON f.diff_id = d.diff_id
                       GROUP BY ALL) c ON c.image_id = i.image_id
            GROUP BY i.image_id
            """),
        ("derived_contents", "SELECT diff_id, content_run_id FROM derived_contents", "SELECT diff_id, run_id FROM referenced_contents"),
    ];

    /// <summary>What the reports read from the derived tables while they are fresh, and otherwise compute from files.</summary>
    private static readonly string[] Views =
    [
        "SELECT * FROM summary",
        "SELECT * FROM file_contents ORDER BY xxh128, size",
        "SELECT * FROM duplicate_files ORDER BY content_hash, size",
        "SELECT * FROM duplicate_bytes_by_directory ORDER BY directory",
        "SELECT * FROM duplicate_bytes_by_extension ORDER BY extension",
        "SELECT digest, files FROM layer_summary ORDER BY digest",
        "SELECT * FROM image_file_duplicates ORDER BY image_id",
        "SELECT * FROM gate_images ORDER BY image_id",
    ];

    /// <summary>Delta thresholds (DuckDbScanStore.DerivedDeltaRows): 0 writes content_stats whole into the base every time.</summary>
    private const long Always = long.MaxValue / 4, Never = 0;

    [Theory]
    [InlineData(Never, Never)]
    [InlineData(Always, Always)]
    [InlineData(Never, Always)] // a fleet's nightly scan: a delta over a base, with contents of both
    [InlineData(Always, Never)] // the delta and the new contents written into a new base
    public void Batches_of_a_few_rows_give_exactly_the_figures_of_the_definitions_and_of_the_live_views(long firstDelta, long laterDelta)
    {
        using var dir = new TempDir();
        using var db = LayerStatsDatabase.Open(dir.File("d.duckdb"));
        // Layers 0-11: rows appended layer by layer; 12-17: their rows interleaved (row ids of a layer not contiguous).
        Fill(db, layers: (0, 18), interleavedFrom: 12, images: (0, 5));
        Assert.Equal(0, Snapshot(db, 1, firstDelta));
        Assert.True(Fresh(db));
        long baseRows = Scalar(db, "SELECT count(*) FROM content_stats_base");
        Assert.Equal(firstDelta == Always, baseRows == 0);
        Assert.Equal(firstDelta == Always, Scalar(db, "SELECT count(*) FROM content_stats_delta") > 0);
        // Contents spread over many layers, so their first and example paths cross batches.
        Assert.True(Scalar(db, "SELECT count(*) FROM content_stats WHERE layers >= 4 AND len(example_paths) = 5") >= 3);
        Assert.True(Scalar(db, "SELECT count(DISTINCT diff_id) FROM layer_file_stats") >= 15);
        AssertDefinitions(db);
        AssertViewsAsLive(db);

        // A later run adds images with new layer contents and layers already covered: merged into what is there.
        Fill(db, layers: (18, 26), interleavedFrom: 22, images: (5, 9));
        Assert.False(Fresh(db));
        var live = Views.Select(v => Rows(db, v)).ToList();
        var baseBefore = Rows(db, "SELECT * FROM content_stats_base ORDER BY ALL");
        var settingBefore = Rows(db, "SELECT current_setting('dynamic_or_filter_threshold')");
        Assert.Equal(0, Snapshot(db, 2, laterDelta));
        Assert.Equal(settingBefore, Rows(db, "SELECT current_setting('dynamic_or_filter_threshold')")); // raised for the delta's parts only
        Assert.True(Fresh(db));
        if (laterDelta == Always)
        {
            // Only the delta was written: the base is as it was, and the delta replaces some of its rows.
            Assert.Equal(baseBefore, Rows(db, "SELECT * FROM content_stats_base ORDER BY ALL"));
            if (firstDelta == Never)
            {
                // Delta rows that replace base rows name them by rowid: every content of the base the delta holds.
                Assert.True(Scalar(db, "SELECT count(*) FROM content_stats_delta WHERE replaces IS NOT NULL") > 0);
                Assert.Equal(
                    Rows(db, "SELECT d.replaces FROM content_stats_delta d JOIN (SELECT rowid AS r, * FROM content_stats_base) b ON b.xxh128 IS NOT DISTINCT FROM d.xxh128 AND b.size = d.size ORDER BY 1"),
                    Rows(db, "SELECT replaces FROM content_stats_delta WHERE replaces IS NOT NULL ORDER BY 1"));
                Assert.Equal(0, Scalar(db, "SELECT count(*) FROM content_stats_delta d JOIN (SELECT rowid AS r, * FROM content_stats_base) b ON b.r = d.replaces WHERE b.xxh128 IS DISTINCT FROM d.xxh128 OR b.size <> d.size"));
            }
            else
            {
                Assert.Equal(0, Scalar(db, "SELECT count(*) FROM content_stats_delta WHERE replaces IS NOT NULL"));
            }
        }
        else
        {
            Assert.Equal(0, Scalar(db, "SELECT count(*) FROM content_stats_delta"));
        }

        AssertDefinitions(db);
        for (int i = 0; i < Views.Length; i++)
        {
            Assert.Equal(live[i], Rows(db, Views[i]));
        }

        // A covered layer content replaced (stored again by another run): everything is computed again.
        Execute(db, "UPDATE layer_contents SET run_id = 3 WHERE diff_id = printf('sha256:%064x', 4)");
        Assert.False(Fresh(db));
        Assert.Equal(0, Snapshot(db, 3, laterDelta));
        Assert.True(Fresh(db));
        AssertDefinitions(db);
        AssertViewsAsLive(db);
    }

    [Fact]
    public void One_batch_for_everything_gives_the_same_tables_as_batches_of_one_layer()
    {
        using var dir = new TempDir();
        using var big = LayerStatsDatabase.Open(dir.File("big.duckdb"));
        using var small = LayerStatsDatabase.Open(dir.File("small.duckdb"));
        foreach (var db in new[] { big, small })
        {
            Fill(db, layers: (0, 26), interleavedFrom: 20, images: (0, 9));
        }

        int bigImageParts = 0;
        var store = new DuckDbScanStore(big) { DerivedBatchRows = long.MaxValue / 4, SnapshotTrace = (name, _) => bigImageParts += name == "image_part" ? 1 : 0 };
        int batches = 0, imageParts = 0;
        var tracing = new DuckDbScanStore(small)
        {
            DerivedBatchRows = 1,
            SnapshotTrace = (name, _) => (batches, imageParts) = (batches + (name == "batch" ? 1 : 0), imageParts + (name == "image_part" ? 1 : 0)),
        };
        store.RunSnapshot(1);
        tracing.RunSnapshot(1);
        Assert.Empty(store.Warnings);
        Assert.Empty(tracing.Warnings);
        // A batch per referenced layer content (0-25 but 23, which no image references), the empty one (5) with the next.
        Assert.Equal(25, Scalar(small, "SELECT count(*) FROM referenced_contents"));
        Assert.Equal(24, batches);
        // The image step in one part, and in a part per quarter row of its candidate files (run_snapshot.sql, image_rows).
        Assert.Equal(1, bigImageParts);
        Assert.True(imageParts >= 40, $"{imageParts} image parts");
        // Contents repeated across an image's layers (not only within one layer), so the parts have overlaps to find.
        Assert.True(Scalar(small, """
            SELECT count(*) FROM image_file_stats s
            WHERE s.file_duplicate_bytes > (SELECT coalesce(sum(w.within_layer_duplicate_bytes), 0)
                                            FROM (SELECT DISTINCT diff_id FROM image_layers WHERE image_id = s.image_id) l
                                            JOIN layer_file_stats w USING (diff_id))
            """) >= 3);
        foreach (var (table, actual, _) in Definitions)
        {
            Assert.Equal(Rows(big, actual + " ORDER BY ALL"), Rows(small, actual + " ORDER BY ALL"));
            Assert.True(Scalar(big, $"SELECT count(*) FROM {table}") > 0, table);
        }
    }

    [Theory]
    [InlineData(Never)]
    [InlineData(Always)]
    public void Rounds_of_one_batch_and_a_killed_step_resumed_give_the_rows_of_one_round(long laterDelta)
    {
        using var dir = new TempDir();
        using var one = LayerStatsDatabase.Open(dir.File("one.duckdb"));
        using var many = LayerStatsDatabase.Open(dir.File("many.duckdb"));
        foreach (var db in new[] { one, many })
        {
            Fill(db, layers: (0, 18), interleavedFrom: 12, images: (0, 5));
            SpreadHashes(db);
        }

        // One batch, one round, one part.
        var oneStore = new DuckDbScanStore(one) { DerivedBatchRows = long.MaxValue / 4 };
        oneStore.RunSnapshot(1);
        Assert.Empty(oneStore.Warnings);

        // A round per batch of 25 rows, killed (an exception, as a kill ends the process) in its fourth round: the
        // three rounds before stay, with their figures pending; content_stats is not merged and the views compute live.
        int pends = 0;
        var killed = new DuckDbScanStore(many)
        {
            DerivedBatchRows = 25,
            DerivedRoundBatches = 1,
            SnapshotTrace = (name, _) =>
            {
                if (name == "pend" && ++pends == 4)
                {
                    throw new OperationCanceledException("killed");
                }
            },
        };
        Assert.Throws<OperationCanceledException>(() => killed.RunSnapshot(1));
        long covered = Scalar(many, "SELECT count(*) FROM derived_contents");
        Assert.InRange(covered, 3, Scalar(one, "SELECT count(*) FROM referenced_contents") - 2);
        Assert.True(Scalar(many, "SELECT count(*) FROM derived_pending") > 0);
        Assert.Equal(0, Scalar(many, "SELECT count(*) FROM content_stats"));
        Assert.False(Fresh(many));
        foreach (string view in Views)
        {
            Assert.Equal(Rows(one, view), Rows(many, view));
        }

        // Resumed: the rounds left, then one merge of everything pending, in many parts (ranges of the hash) and the
        // part of a NULL hash.
        var steps = new List<string>();
        var resumed = new DuckDbScanStore(many) { DerivedBatchRows = 25, DerivedRoundBatches = 1, SnapshotTrace = (name, _) => steps.Add(name) };
        resumed.RunSnapshot(1);
        Assert.Empty(resumed.Warnings);
        Assert.InRange(steps.Count(s => s == "round"), 2, Scalar(one, "SELECT count(*) FROM referenced_contents") - covered);
        Assert.Equal(1, steps.Count(s => s == "merge"));
        Assert.True(steps.Count(s => s == "part") >= 5, $"{steps.Count(s => s == "part")} parts");
        Assert.Equal(0, Scalar(many, "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'derived_pending'"));
        Assert.True(Fresh(many));
        AssertSameTables(one, many);
        AssertDefinitions(many);
        AssertViewsAsLive(many);

        // A later run with more rounds than one: merged once into the base (or the delta) there is.
        foreach (var db in new[] { one, many })
        {
            Fill(db, layers: (18, 26), interleavedFrom: 22, images: (5, 9));
            SpreadHashes(db);
        }

        new DuckDbScanStore(one) { DerivedBatchRows = long.MaxValue / 4, DerivedDeltaRows = laterDelta }.RunSnapshot(2);
        steps.Clear();
        var later = new DuckDbScanStore(many) { DerivedBatchRows = 25, DerivedRoundBatches = 1, DerivedDeltaRows = laterDelta, SnapshotTrace = (name, _) => steps.Add(name) };
        later.RunSnapshot(2);
        Assert.Empty(later.Warnings);
        Assert.True(steps.Count(s => s == "round") >= 4);
        Assert.Equal(1, steps.Count(s => s == "merge"));
        Assert.Equal(laterDelta == Always, Scalar(many, "SELECT count(*) FROM content_stats_delta") > 0);
        Assert.True(Fresh(many));
        AssertSameTables(one, many);
        AssertDefinitions(many);
        AssertViewsAsLive(many);
    }

    [Theory]
    [InlineData(Never)]
    [InlineData(Always)]
    public void A_merge_of_many_batches_takes_the_paths_of_a_content_one_batch_holds_as_they_are(long deltaRows)
    {
        using var dir = new TempDir();
        using var db = LayerStatsDatabase.Open(dir.File("d.duckdb"));
        Fill(db, layers: (0, 26), interleavedFrom: 20, images: (0, 9));
        SpreadHashes(db);
        // Besides the contents spread over many layers (batches), contents of one layer each: a few files of every layer
        // get a hash of their own (the same for two files of a layer with 12 entries or more: a content twice in a layer).
        Execute(db, "UPDATE files SET xxh128 = 7000 + content_id, size = 5 WHERE kind = 'file' AND seq IN (4, 12)");
        Execute(db, "UPDATE files SET xxh128 = 9000 + 100 * content_id + seq WHERE kind = 'file' AND seq IN (1, 2)");
        Assert.Equal(0, Snapshot(db, 1, deltaRows));
        Assert.True(Fresh(db));
        // Both kinds, in a merge of many batches: contents in one layer only (so one batch), with one or two occurrences,
        // and contents in many.
        Assert.True(Scalar(db, "SELECT count(*) FROM content_stats WHERE layers = 1 AND occurrences = 1") >= 20);
        Assert.True(Scalar(db, "SELECT count(*) FROM content_stats WHERE layers = 1 AND occurrences = 2 AND len(example_paths) = 2") >= 5);
        Assert.True(Scalar(db, "SELECT count(*) FROM content_stats WHERE layers >= 4 AND len(example_paths) = 5") >= 3);
        AssertDefinitions(db);
        AssertViewsAsLive(db);
    }

    [Theory]
    [InlineData(Never)]
    [InlineData(Always)]
    public void One_batch_takes_the_path_of_a_content_seen_once_from_its_row_and_sorts_the_paths_of_the_others(long deltaRows)
    {
        // A scan's step is one batch of contents mostly seen once (run_snapshot.sql, section batch): those take their
        // row's path, the others the first 5 of their sorted distinct paths; both as the definitions say.
        using var dir = new TempDir();
        using var db = LayerStatsDatabase.Open(dir.File("d.duckdb"));
        Fill(db, layers: (0, 26), interleavedFrom: 20, images: (0, 9));
        SpreadHashes(db);
        // Contents seen once (one of them without a hash), contents twice in one layer, and one content twice at the same
        // path in two layers (two occurrences, one distinct path: example_paths of one path).
        Execute(db, "UPDATE files SET xxh128 = 9000 + 100 * content_id + seq WHERE kind = 'file' AND seq IN (1, 2)");
        Execute(db, "UPDATE files SET xxh128 = 7000 + content_id, size = 5 WHERE kind = 'file' AND seq IN (4, 12)");
        Execute(db, "UPDATE files SET xxh128 = NULL, size = 77 WHERE kind = 'file' AND seq = 1 AND content_id = 6");
        Execute(db, "UPDATE files SET xxh128 = 123456789, size = 9, path = 'same/päth.TXT' WHERE kind = 'file' AND seq = 0 AND content_id IN (1, 2)");
        int batches = 0;
        var store = new DuckDbScanStore(db)
        {
            DerivedBatchRows = long.MaxValue / 4,
            DerivedDeltaRows = deltaRows,
            SnapshotTrace = (name, _) => batches += name == "batch" ? 1 : 0,
        };
        store.RunSnapshot(1);
        Assert.Empty(store.Warnings);
        Assert.Equal(1, batches);
        Assert.True(Fresh(db));
        Assert.True(Scalar(db, "SELECT count(*) FROM content_stats WHERE occurrences = 1 AND example_paths IS NULL AND first_path IS NOT NULL") >= 40);
        Assert.Equal(1, Scalar(db, "SELECT count(*) FROM content_stats WHERE xxh128 IS NULL AND size = 77 AND occurrences = 1"));
        Assert.True(Scalar(db, "SELECT count(*) FROM content_stats WHERE layers = 1 AND occurrences = 2 AND len(example_paths) = 2") >= 5);
        Assert.Equal(1, Scalar(db, "SELECT count(*) FROM content_stats WHERE xxh128 = 123456789 AND occurrences = 2 AND layers = 2 AND example_paths = ['same/päth.TXT'] AND first_extension = 'txt'"));
        Assert.True(Scalar(db, "SELECT count(*) FROM content_stats WHERE layers >= 4 AND len(example_paths) = 5") >= 3);
        AssertDefinitions(db);
        AssertViewsAsLive(db);
    }

    /// <summary>
    /// The test contents' hashes (k × 2^64, k &lt; 23: all in the lowest 23rd of the range) spread over the whole range
    /// of xxh128, so that the merge's parts (ranges of it) each hold some; and a regular file without a hash (none
    /// from a scan, but the column allows it), in every layer.
    /// </summary>
    private static void SpreadHashes(LayerStatsDatabase db)
    {
        Execute(db, "UPDATE files SET xxh128 = (xxh128 // 18446744073709551616::UHUGEINT) * 14794885518301672324494548149207313541::UHUGEINT + xxh128 // 18446744073709551616::UHUGEINT WHERE xxh128 < 1000 * 18446744073709551616::UHUGEINT");
        Execute(db, "UPDATE files SET xxh128 = NULL WHERE kind = 'file' AND seq = 3");
    }

    /// <summary>The derived tables and the views give the same rows in both databases.</summary>
    private static void AssertSameTables(LayerStatsDatabase expected, LayerStatsDatabase actual)
    {
        foreach (var (table, sql, _) in Definitions)
        {
            Assert.True(Scalar(expected, $"SELECT count(*) FROM {table}") > 0, table);
            Assert.Equal(Rows(expected, sql + " ORDER BY ALL"), Rows(actual, sql + " ORDER BY ALL"));
        }

        foreach (string view in Views)
        {
            Assert.Equal(Rows(expected, view), Rows(actual, view));
        }
    }

    [Fact]
    public void Layer_contents_stored_before_content_id_existed_are_found_by_diff_id()
    {
        using var dir = new TempDir();
        using var db = LayerStatsDatabase.Open(dir.File("d.duckdb"));
        Fill(db, layers: (0, 26), interleavedFrom: 20, images: (0, 9));
        // As a store written before content_id: the even layers have none (files rows and layer_contents alike).
        Execute(db, "UPDATE layer_contents SET content_id = NULL WHERE content_id % 2 = 0");
        Execute(db, "UPDATE files SET content_id = NULL WHERE content_id % 2 = 0");
        Assert.Equal(0, Snapshot(db, 1));
        Assert.True(Fresh(db));
        AssertDefinitions(db);
    }

    [Fact]
    public void A_step_that_does_not_fit_the_scan_limit_is_finished_with_the_report_limit()
    {
        using var dir = new TempDir();
        string path = dir.File("t.duckdb");
        using (var db = LayerStatsDatabase.Open(path))
        {
            Fill(db, layers: (0, 26), interleavedFrom: 20, images: (0, 9));
        }

        // A limit no round fits in: the step runs out of memory, then finishes with what a report gets.
        using var tiny = LayerStatsDatabase.Open(path);
        Execute(tiny, "SET memory_limit = '1MB'");
        var steps = new List<string>();
        var store = new DuckDbScanStore(tiny) { DerivedBatchRows = 25, SnapshotTrace = (name, _) => steps.Add(name) };
        store.RunSnapshot(1);
        Assert.Empty(store.Warnings);
        Assert.Contains("retry at the report memory limit", steps);
        Assert.True(Fresh(tiny));
        AssertDefinitions(tiny);
        // And the scan's own limit is back.
        Assert.Equal(DatabaseOptions.Scan.MemoryLimitMegabytes, tiny.MemoryLimitMegabytes);
        Assert.Equal("76.2 MiB", Convert.ToString(ScalarObject(tiny, "SELECT current_setting('memory_limit')"), System.Globalization.CultureInfo.InvariantCulture)); // 80 MB
    }

    private static object? ScalarObject(LayerStatsDatabase db, string sql)
    {
        using var cmd = db.Connection.CreateCommand();
        cmd.CommandText = sql;
        return cmd.ExecuteScalar();
    }

    /// <summary>Runs the end-of-run step with batches of 25 rows; returns the number of warnings.</summary>
    private static int Snapshot(LayerStatsDatabase db, int run, long deltaRows = DuckDbScanStore.DefaultDerivedDeltaRows)
    {
        int batches = 0;
        var store = new DuckDbScanStore(db) { DerivedBatchRows = 25, DerivedDeltaRows = deltaRows, SnapshotTrace = (name, _) => batches += name == "batch" ? 1 : 0 };
        store.RunSnapshot(run);
        Assert.True(batches >= 4, $"{batches} batches");
        return store.Warnings.Count;
    }

    private static void AssertDefinitions(LayerStatsDatabase db)
    {
        foreach (var (table, actual, expected) in Definitions)
        {
            long rows = Scalar(db, $"SELECT count(*) FROM ({expected})");
            Assert.True(rows > 0, table);
            Assert.Equal(rows, Scalar(db, $"SELECT count(*) FROM {table}"));
            Assert.Equal(0, Scalar(db, $"SELECT count(*) FROM ({actual} EXCEPT {expected})"));
            Assert.Equal(0, Scalar(db, $"SELECT count(*) FROM ({expected} EXCEPT {actual})"));
        }
    }

    /// <summary>The views give the same rows from the derived tables as computed live (derived tables seen as stale).</summary>
    private static void AssertViewsAsLive(LayerStatsDatabase db)
    {
        var fresh = Views.Select(v => Rows(db, v)).ToList();
        using var tx = db.Connection.BeginTransaction();
        Execute(db, "DELETE FROM derived_contents WHERE diff_id = (SELECT min(diff_id) FROM derived_contents)");
        Assert.False(Fresh(db));
        for (int i = 0; i < Views.Length; i++)
        {
            Assert.Equal(fresh[i], Rows(db, Views[i]));
        }

        tx.Rollback();
    }

    /// <summary>
    /// Layer contents lo..hi-1 (layer 23 in no image) with 0-40 entries each: regular files (some contents twice in a
    /// layer, one hash with two sizes), directories, hardlinks; paths spread so that a content's paths come from many
    /// layers. Images lo..hi-1: image i has base layers (i % 2), (i % 2) + 2, then layers of its own from the range.
    /// </summary>
    private static void Fill(LayerStatsDatabase db, (int Lo, int Hi) layers, int interleavedFrom, (int Lo, int Hi) images)
    {
        string Files(string range, string filter) => $"""
            INSERT INTO files
            SELECT printf('sha256:%064x', l), f,
                   'p' || ((l * 7 + f * 5) % 6) || '/d' || (f % 3) || '/n' || ((l + f) % 9)
                       || ['.so.1', '.py', '', '.tar.gz', '.1'][1 + (l + 2 * f) % 5],
                   CASE WHEN f % 7 = 6 THEN 'dir' WHEN f % 11 = 10 THEN 'hardlink' ELSE 'file' END,
                   CASE WHEN f % 7 = 6 OR f % 11 = 10 THEN 0 ELSE 100 + ((l * 31 + f * 17) % 23) * 3 + CASE WHEN f % 13 = 0 THEN 1 ELSE 0 END END,
                   420, 0, 0, NULL, NULL,
                   CASE WHEN f % 7 = 6 OR f % 11 = 10 THEN NULL ELSE CAST((l * 31 + f * 17) % 23 AS UHUGEINT) * 18446744073709551616::UHUGEINT END,
                   NULL, l
            FROM {range}
            WHERE {filter}
            ORDER BY l, f
            """;
        string entries = "(CASE WHEN l = 5 THEN 0 WHEN l = 7 THEN 3 ELSE 10 + (l * 13) % 31 END)";
        int lo = layers.Lo, hi = layers.Hi, mid = interleavedFrom;
        Execute(db, $"INSERT INTO scan_runs (run_id, started_at, status, tool_version, file_hashing, inputs) SELECT coalesce(max(run_id), 0) + 1, now(), 'running', 'test', 'xxh128', 1 FROM scan_runs");
        Execute(db, $"""
            INSERT INTO layer_contents SELECT printf('sha256:%064x', l), 1000 * l, {entries}, 'xxh128', (SELECT max(run_id) FROM scan_runs), l FROM range({lo}, {hi}) t(l)
            """);
        Execute(db, $"""
            INSERT INTO layers SELECT printf('sha256:%064x', 1000 + l), 100 * l + 1, 'application/vnd.oci.image.layer.v1.tar', 'none',
                printf('sha256:%064x', l), 1000 * l, false, (SELECT max(run_id) FROM scan_runs) FROM range({lo}, {hi}) t(l)
            """);
        Execute(db, Files($"range({lo}, {mid}) a(l), range(40) b(f)", $"f < {entries}"));
        // Interleaved: the first half of every layer's rows, then the second half.
        Execute(db, Files($"range({mid}, {hi}) a(l), range(40) b(f)", $"f < {entries} AND f < 20"));
        Execute(db, Files($"range({mid}, {hi}) a(l), range(40) b(f)", $"f < {entries} AND f >= 20"));
        Execute(db, $"""
            INSERT INTO image_layers
            SELECT printf('sha256:%064x', 5000 + i), p, printf('sha256:%064x', 1000 + l), printf('sha256:%064x', l), NULL
            FROM (SELECT i, 0 AS p, i % 2 AS l FROM range({images.Lo}, {images.Hi}) t(i)
                  UNION ALL SELECT i, 1, i % 2 + 2 FROM range({images.Lo}, {images.Hi}) t(i)
                  UNION ALL SELECT i, 2 + j, {lo} + ((i * 5 + j * 3) % ({hi} - {lo})) FROM range({images.Lo}, {images.Hi}) t(i), range(4) u(j))
            WHERE l <> 23
            """);
        // Every layer but 23 in some image.
        Execute(db, $"""
            INSERT INTO image_layers
            SELECT printf('sha256:%064x', 5000 + {images.Lo}), 6 + row_number() OVER (ORDER BY l), printf('sha256:%064x', 1000 + l), printf('sha256:%064x', l), NULL
            FROM range({lo}, {hi}) t(l)
            WHERE l <> 23 AND printf('sha256:%064x', l) NOT IN (SELECT diff_id FROM image_layers)
            """);
        Execute(db, $"""
            INSERT INTO images
            SELECT printf('sha256:%064x', 5000 + i), NULL, 'application/vnd.docker.distribution.manifest.v2+json', printf('sha256:%064x', 5000 + i),
                   'linux', 'amd64', NULL, NULL, 6, 0, 0, 0, 0, 1.0, 0, NULL, 0, 0, 1, 1
            FROM range({images.Lo}, {images.Hi}) t(i)
            """);
        Execute(db, "INSERT INTO run_images SELECT (SELECT max(run_id) FROM scan_runs), image_id FROM images");
    }

    private static bool Fresh(LayerStatsDatabase db) => Scalar(db, "SELECT CAST(fresh AS INTEGER) FROM derived_state") == 1;

    private static List<string> Rows(LayerStatsDatabase db, string sql)
    {
        using var cmd = db.Connection.CreateCommand();
        cmd.CommandText = sql;
        using var reader = cmd.ExecuteReader();
        var rows = new List<string>();
        while (reader.Read())
        {
            rows.Add(string.Join(" | ", Enumerable.Range(0, reader.FieldCount).Select(i => reader.IsDBNull(i) ? "NULL" : Text(reader.GetValue(i)))));
        }

        return rows;
    }

    private static string Text(object value) => value is System.Collections.IEnumerable list and not string
        ? "[" + string.Join(", ", list.Cast<object?>().Select(v => v?.ToString() ?? "NULL")) + "]"
        : Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture) ?? "";

    private static long Scalar(LayerStatsDatabase db, string sql)
    {
        using var cmd = db.Connection.CreateCommand();
        cmd.CommandText = sql;
        return Convert.ToInt64(cmd.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }

    private static void Execute(LayerStatsDatabase db, string sql)
    {
        using var cmd = db.Connection.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }
}
