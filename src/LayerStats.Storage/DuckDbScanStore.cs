using System.Numerics;
using DuckDB.NET.Data;
using LayerStats.Core.Analysis;
using LayerStats.Core.Images;
using LayerStats.Core.Layers;
using LayerStats.Core.Model;
using LayerStats.Core.Scanning;

namespace LayerStats.Storage;

/// <summary>
/// The DuckDB side of a scan. Called only by the pipeline's writer (one task): every layer load runs on a connection
/// of its own, so a layer's entries count (are in layer_contents) with its row or not at all — a big layer's rows are
/// committed in chunks under a layer_loads marker first (see <see cref="LayerLoad"/>) — and an image is committed with
/// its layers and references in one transaction. Each content's rows carry its content_id, by which the per-image
/// analysis reads them. During the read phase small layers and images commit in groups (DuckDbScanStore.Group.cs).
/// </summary>
public sealed partial class DuckDbScanStore(LayerStatsDatabase database) : IScanStore
{
    private readonly DuckDBConnection _connection = database.Connection;
    private readonly Lock _configLock = new();
    private readonly List<string> _warnings = [];
    private long _lastContentId = -1;

    public int BeginRun(ScanRunStart start)
    {
        using var cmd = Command(
            """
            INSERT INTO scan_runs (run_id, started_at, status, tool_version, file_hashing, inputs)
            SELECT coalesce(max(run_id), 0) + 1, ?, 'running', ?, ?, ? FROM scan_runs
            RETURNING run_id
            """,
            start.StartedAt, start.ToolVersion, start.Hashing.ToName(), start.Inputs);
        return Convert.ToInt32(cmd.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }

    public void FinishRun(int runId, ScanRunTotals totals)
    {
        // The snapshot depends on the run's set of images only: when the previous finished run saw the very same set
        // (an unchanged rescan), its figures are this run's, with no layer new or gone, and one statement (one commit)
        // writes them with the run's totals. Otherwise compute them, then write the totals.
        using (var same = Command(
                   SameImagesAsPreviousRunSql,
                   runId, DateTimeOffset.UtcNow, totals.Status, totals.ImagesOk, totals.ImagesFailed, totals.LayersRead,
                   totals.LayersSkipped, totals.BytesRead, totals.Errors))
        {
            if (same.ExecuteNonQuery() > 0)
            {
                return;
            }
        }

        RunSnapshot(runId);
        using var cmd = Command(
            """
            UPDATE scan_runs SET finished_at = ?, status = ?, images_ok = ?, images_failed = ?, layers_read = ?,
                layers_skipped = ?, bytes_read = ?, errors = ?
            WHERE run_id = ?
            """,
            DateTimeOffset.UtcNow, totals.Status, totals.ImagesOk, totals.ImagesFailed, totals.LayersRead,
            totals.LayersSkipped, totals.BytesRead, totals.Errors, runId);
        cmd.ExecuteNonQuery();
    }

    /// <summary>What went wrong without failing the scan (e.g. the end-of-run totals could not be computed); for the CLI to show.</summary>
    public IReadOnlyList<string> Warnings => _warnings;

    /// <summary>
    /// The end-of-run step (run_snapshot.sql): brings the derived tables of the layer contents up to date in batches (a
    /// transaction per round of batches) within the scan's own memory limit (no statement holds more than a batch's or a
    /// part's worth in memory; sorts and joins spill to DuckDB's temporary directory), then image_file_stats and the
    /// run's totals in another transaction, also within the scan's limit. When a transaction runs out of that memory,
    /// the rounds committed before it stay and the rest runs again with the memory a report gets. If a
    /// transaction fails otherwise, nothing of it is kept and the step stops: the rounds before it stay (the derived tables then
    /// cover fewer layer contents than images reference, so the views compute the same figures from the files table
    /// until the next scan finishes the work), and the run's totals stay empty; the scan itself has already committed
    /// every image.
    /// Memory (issue 5, benchmarks/README.md "Peak memory"): the step runs with the connection's threads (a scan's one,
    /// DatabaseOptions.Scan; it used to take a thread per core, which cost ~30-40 MB more at the peak and made a
    /// two-layer million-file image fall back to the report limit); it starts by collecting the managed heap (whatever
    /// the read phase left that no collection has freed yet) and gives DuckDB's freed native memory back after every
    /// section (NativeMemory.Purge).
    /// </summary>
    internal void RunSnapshot(int runId)
    {
        var sections = SnapshotSections();
        ReleaseMemory();
        TraceMemory("start", TimeSpan.Zero);
        try
        {
            try
            {
                RunSnapshotSteps(runId, sections);
            }
            catch (DuckDBException ex) when (DuckDbErrors.IsOutOfMemory(ex)
                                              && database.MemoryLimitMegabytes < DatabaseOptions.Reports.MemoryLimitMegabytes)
            {
                // It did not fit the scan's limit (a layer content bigger than a batch can hold, a late round at fleet scale):
                // the rounds committed so far stay, and the rest runs with the memory a report gets. Complete derived
                // tables are worth more than the bound; benchmarks/README.md says when this happens.
                SnapshotTrace?.Invoke("retry at the report memory limit", TimeSpan.Zero);
                Execute($"SET memory_limit = '{DatabaseOptions.Reports.MemoryLimitMegabytes}MB'");
                RunSnapshotSteps(runId, sections);
            }
        }
        catch (DuckDBException ex)
        {
            _warnings.Add($"the end-of-run totals and derived tables were not updated ({ex.Message}); reports compute the figures from the files table instead");
        }
        finally
        {
            foreach (string table in (string[])["derived_todo", "derived_matched", "derived_images", "derived_ids", "derived_chain"])
            {
                Execute($"DROP TABLE IF EXISTS {table}");
            }

            Execute("RESET dynamic_or_filter_threshold");

            Execute(FormattableString.Invariant($"SET memory_limit = '{database.MemoryLimitMegabytes}MB'"));
            _ = NativeMemory.Purge();
        }
    }

    private void RunSnapshotSteps(int runId, IReadOnlyDictionary<string, string> sections)
    {
        {
            using (var tx = _connection.BeginTransaction())
            {
                if (Scalar(sections["stale"]) is true)
                {
                    foreach (string table in (string[])["content_stats_base", "content_stats_delta", "layer_file_stats", "layer_path_stats", "image_file_stats", "derived_contents"])
                    {
                        Execute($"DROP TABLE {table}");
                    }

                    Execute("DROP TABLE IF EXISTS derived_pending");

                    Execute(LayerStatsDatabase.ReadEmbeddedSql("schema.sql"));
                }

                RunSnapshotSection(sections, "plan", null);
                tx.Commit();
            }

            Execute(FormattableString.Invariant($"SET VARIABLE derived_batch_rows = {Math.Max(1, DerivedBatchRows)}"));
            int rounds = 0;
            while (Count("SELECT count(*) FROM derived_todo") > 0)
            {
                rounds++;
                // A round: a few batches, committed with their figures per content kept in derived_pending; the last
                // round (or the only one) merges them all into content_stats. Every commit leaves content_stats plus
                // derived_pending holding the figures of derived_contents (run_snapshot.sql, head).
                using var tx = _connection.BeginTransaction();
                RunSnapshotSection(sections, "round", null);
                int batches = 0;
                for (; batches < Math.Max(1, DerivedRoundBatches) && Count("SELECT count(*) FROM derived_todo") > 0; batches++)
                {
                    RunSnapshotSection(sections, "batch", null);
                }

                bool last = Count("SELECT count(*) FROM derived_todo") == 0;
                bool pending = Count("SELECT count(*) FROM derived_pending") > 0;
                if (!last || pending)
                {
                    RunSnapshotSection(sections, "pend", null);
                }

                if (last)
                {
                    MergeContentStats(sections, oneBatch: batches == 1 && !pending);
                }
                else
                {
                    Execute("DROP TABLE derived_partials");
                }

                tx.Commit();
            }

            if (rounds == 0 && TableExists("derived_pending") && Count("SELECT count(*) FROM derived_pending") > 0)
            {
                // Figures a step left pending with nothing left to read (not from this code, whose last round merges
                // what is pending in its transaction; a defence): merged now.
                using var tx = _connection.BeginTransaction();
                RunSnapshotSection(sections, "round", null);
                MergeContentStats(sections, oneBatch: false);
                tx.Commit();
            }

            // The derived tables of the layer contents are complete: the images' figures from them, in a transaction of
            // their own (an image missing from image_file_stats is computed by the view).
            // At the memory limit in force: the scan's, or after an "Out of Memory" the report's (see RunSnapshot, which
            // then runs these steps again: the rounds are done, so only this part is left).
            // First the small TEMP tables of the images' layer sequences, committed (one statement at a time), so that the
            // planner sees their row counts in the transaction's statements (run_snapshot.sql, section images).
            RunSnapshotSection(sections, "images", null);
            using var imagesTx = _connection.BeginTransaction();
            RunSnapshotSection(sections, "image_rows", null);
            long imageParts = Count("SELECT getvariable('derived_image_parts')");
            for (long part = 0; part < imageParts; part++)
            {
                Execute(FormattableString.Invariant($"SET VARIABLE derived_image_part = {part}"));
                RunSnapshotSection(sections, "image_part", null);
            }

            RunSnapshotSection(sections, "images_done", null);
            RunSnapshotSection(sections, "totals", runId);
            imagesTx.Commit();
        }
    }

    /// <summary>
    /// content_stats written anew with the figures of derived_partials and derived_pending added (run_snapshot.sql,
    /// sections merge and part, once per range of the contents' hash), into a new base or delta; derived_partials and
    /// derived_pending dropped. <paramref name="oneBatch"/>: the figures are one batch's (one row per content), whose
    /// path lists need no sort.
    /// </summary>
    private void MergeContentStats(IReadOnlyDictionary<string, string> sections, bool oneBatch)
    {
        if (Count("SELECT (SELECT count(*) FROM derived_partials) + (SELECT count(*) FROM derived_pending)") == 0)
        {
            Execute("DROP TABLE derived_partials");
            Execute("DROP TABLE derived_pending");
            return;
        }

        Execute($"SET VARIABLE derived_one_batch = {(oneBatch ? "true" : "false")}");
        bool toDelta = WritesDelta();
        Execute($"SET VARIABLE derived_delta = {(toDelta ? "true" : "false")}");
        RunSnapshotSection(sections, "merge", null);
        long parts = Count("SELECT getvariable('derived_parts')");
        // The base rows the delta takes (derived_matched) as a filter in the scan of the base, not a join
        // after reading every row of it (DuckDB pushes a join's keys into the scan up to this many).
        // (Reset after the parts, and in RunSnapshot's finally when a statement fails.)
        Execute(toDelta ? "SET dynamic_or_filter_threshold = 1000000" : "RESET dynamic_or_filter_threshold");
        // Parts 0 .. parts - 1 by range of the content's hash; with more than one, a last part for a NULL hash.
        UInt128 width = parts <= 1 ? UInt128.MaxValue : UInt128.MaxValue / (UInt128)parts + 1;
        for (long part = 0; part < (parts > 1 ? parts + 1 : parts); part++)
        {
            bool nulls = parts > 1 && part == parts;
            UInt128 lo = nulls ? 0 : (UInt128)part * width;
            UInt128 hi = nulls || part >= parts - 1 ? UInt128.MaxValue : lo + width - 1;
            Execute(FormattableString.Invariant(
                $"SET VARIABLE derived_range = {{'lo': CAST('{lo}' AS UHUGEINT), 'hi': CAST('{hi}' AS UHUGEINT), 'nulls': {(nulls ? "true" : "false")}}}"));
            RunSnapshotSection(sections, "part", null);
        }

        Execute("RESET dynamic_or_filter_threshold");
        RunSnapshotSection(sections, toDelta ? "merged_delta" : "merged", null);
    }

    private bool TableExists(string name) =>
        Count($"SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = 'main' AND table_name = '{name}'") > 0;

    /// <summary>
    /// Whether the merge writes only content_stats_delta (the delta's rows and the step's contents) rather than all of
    /// content_stats into a new base: while the delta, with at most every content of the round added, stays within
    /// <see cref="DerivedDeltaRows"/> or 1/64 of the base. Then a scan that adds a few layer contents to a fleet's
    /// store reads the base's keys but does not write it again (at 50 M file rows and 32 M contents the sections took
    /// 64 s, now 0.34 s: benchmarks/README.md, "A nightly scan into a fleet's store"); and the rowids every read of the view
    /// content_stats leaves out of the base stay few (a 1/64 share of its rows at most).
    /// </summary>
    private bool WritesDelta()
    {
        long delta = Count("SELECT count(*) FROM content_stats_delta");
        long adding = Count("SELECT (SELECT count(*) FROM derived_partials) + (SELECT count(*) FROM derived_pending)");
        long baseRows = Count("SELECT count(*) FROM content_stats_base");
        return delta + adding <= Math.Max(DerivedDeltaRows, baseRows / 64);
    }

    /// <summary>The delta's size (in contents) up to which a round writes only the delta, whatever the base (see <see cref="WritesDelta"/>).</summary>
    internal long DerivedDeltaRows { get; init; } = DefaultDerivedDeltaRows;

    internal const long DefaultDerivedDeltaRows = 100_000;

    /// <summary>Rows of <c>files</c> per batch of the derived tables' maintenance (at least one layer content per batch).</summary>
    internal long DerivedBatchRows { get; init; } = DefaultDerivedBatchRows;

    internal const long DefaultDerivedBatchRows = 1_000_000;

    /// <summary>Batches per transaction (round): what a transaction holds before it commits (with its figures per content in derived_pending until the last round merges them into content_stats).</summary>
    internal int DerivedRoundBatches { get; init; } = 8;

    private long Count(string sql) => Convert.ToInt64(Scalar(sql), System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Called after every section of run_snapshot.sql with its name and duration (the store benchmark).</summary>
    internal Action<string, TimeSpan>? SnapshotTrace { get; init; }

    private void RunSnapshotSection(IReadOnlyDictionary<string, string> sections, string name, int? runId)
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        using (var cmd = runId is { } id ? Command(sections[name], id) : Command(sections[name]))
        {
            cmd.ExecuteNonQuery();
        }

        SnapshotTrace?.Invoke(name, watch.Elapsed);
        _ = NativeMemory.Purge();
        TraceMemory(name, watch.Elapsed);
    }

    /// <summary>
    /// The managed heap collected and compacted with its free memory given back (GCCollectionMode.Aggressive: a few ms
    /// when little is live), and DuckDB's freed native memory returned.
    /// </summary>
    private static void ReleaseMemory()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        _ = NativeMemory.Purge();
    }

    /// <summary>
    /// LAYERSTATS_MEMORY_TRACE=1: after every section of the end-of-run step, one line on standard error: the process's
    /// resident memory (anonymous, file-backed), the managed heap, DuckDB's buffer manager and jemalloc's account
    /// (benchmarks/scan/rss-sample.py stamps and interleaves them with its samples).
    /// </summary>
    private static readonly bool MemoryTrace = Environment.GetEnvironmentVariable("LAYERSTATS_MEMORY_TRACE") == "1";

    private void TraceMemory(string name, TimeSpan elapsed)
    {
        if (!MemoryTrace)
        {
            return;
        }

        string status = "";
        try
        {
            status = string.Join(' ', File.ReadLines("/proc/self/status")
                .Where(l => l.StartsWith("RssAnon", StringComparison.Ordinal) || l.StartsWith("RssFile", StringComparison.Ordinal))
                .Select(l => string.Join(' ', l.Split((char[])[' ', '\t'], StringSplitOptions.RemoveEmptyEntries))));
        }
        catch (IOException)
        {
        }

        long duckdb = Count("SELECT CAST(coalesce(sum(memory_usage_bytes), 0) AS BIGINT) FROM duckdb_memory()");
        var gc = GC.GetGCMemoryInfo();
        Console.Error.WriteLine(FormattableString.Invariant(
            $"[memory] {name,-12} {elapsed.TotalSeconds,7:F3} s  {status}  .NET heap {gc.HeapSizeBytes >> 20} committed {gc.TotalCommittedBytes >> 20} MiB  duckdb {duckdb >> 20} MiB  {NativeMemory.Stats()}"));
    }

    private object? Scalar(string sql)
    {
        using var cmd = Command(sql);
        return cmd.ExecuteScalar();
    }

    private void Execute(string sql)
    {
        using var cmd = Command(sql);
        cmd.ExecuteNonQuery();
    }

    public StoredLayer? FindLayer(Digest digest)
    {
        using var cmd = Command("SELECT size, diff_id, uncompressed_size, is_foreign FROM layers WHERE digest = ?", digest.ToString());
        using var reader = cmd.ExecuteReader();
        if (!reader.Read())
        {
            return null;
        }

        return new StoredLayer(
            digest,
            reader.GetInt64(0),
            Digest.Parse(reader.GetString(1)),
            reader.IsDBNull(2) ? null : reader.GetInt64(2),
            reader.GetBoolean(3));
    }

    public IReadOnlyDictionary<Digest, StoredLayer> FindLayers(IReadOnlyCollection<Digest> digests)
    {
        var found = new Dictionary<Digest, StoredLayer>();
        foreach (var chunk in digests.Chunk(LookupChunk))
        {
            foreach (var digest in chunk)
            {
                _absentLayers.Add(digest.ToString()); // removed below for the stored ones
            }

            using var cmd = Command(
                $"SELECT digest, size, diff_id, uncompressed_size, is_foreign FROM layers WHERE digest IN ({Placeholders(chunk.Length)})",
                chunk.Select(d => (object?)d.ToString()).ToArray());
            using var reader = cmd.ExecuteReader();
            while (reader.Read())
            {
                string key = reader.GetString(0);
                _absentLayers.Remove(key);
                var digest = Digest.Parse(key);
                found[digest] = new StoredLayer(
                    digest,
                    reader.GetInt64(1),
                    Digest.Parse(reader.GetString(2)),
                    reader.IsDBNull(3) ? null : reader.GetInt64(3),
                    reader.GetBoolean(4));
            }
        }

        return found;
    }

    public IReadOnlyDictionary<Digest, FileHashing> FindContents(IReadOnlyCollection<Digest> diffIds)
    {
        var found = new Dictionary<Digest, FileHashing>();
        foreach (var chunk in diffIds.Chunk(LookupChunk))
        {
            foreach (var diffId in chunk)
            {
                _contents[diffId.ToString()] = null; // set below for the stored ones
            }

            using var cmd = Command(
                $"SELECT diff_id, file_hashing FROM layer_contents WHERE diff_id IN ({Placeholders(chunk.Length)})",
                chunk.Select(d => (object?)d.ToString()).ToArray());
            using var reader = cmd.ExecuteReader();
            while (reader.Read())
            {
                string key = reader.GetString(0);
                var hashing = ParseHashing(reader.GetString(1));
                _contents[key] = hashing;
                found[Digest.Parse(key)] = hashing;
            }
        }

        return found;
    }

    public FileHashing? FindContent(Digest diffId) => LookUpContent(diffId.ToString());

    private FileHashing? LookUpContent(string diffId)
    {
        using var cmd = Command("SELECT file_hashing FROM layer_contents WHERE diff_id = ?", diffId);
        var hashing = cmd.ExecuteScalar() is string name ? ParseHashing(name) : (FileHashing?)null;
        _contents[diffId] = hashing;
        return hashing;
    }

    /// <summary>
    /// The hashing with which <paramref name="diffId"/> is stored (committed), or null: from what this store has looked
    /// up or committed itself, else asked. What a look-up found stays true until this store writes: it is the database's
    /// only writer while it lives (DuckDB's file lock keeps other processes out; in a scan, the pipeline's writer alone
    /// writes, through this store), and layer_contents rows change only in its layer loads' commits.
    /// </summary>
    private FileHashing? KnownContent(string diffId) =>
        _contents.TryGetValue(diffId, out var known) ? known : LookUpContent(diffId);

    /// <summary>The committed layer_contents state of each diff_id this store has looked up or committed (see <see cref="KnownContent"/>).</summary>
    private readonly Dictionary<string, FileHashing?> _contents = new(StringComparer.Ordinal);

    /// <summary>
    /// Blob digests a look-up found without a layers row and this store has not inserted since: their row is inserted
    /// with a plain INSERT, which DuckDB runs in a fifth of the time of INSERT ... ON CONFLICT DO NOTHING (same reasoning
    /// as <see cref="KnownContent"/>).
    /// </summary>
    private readonly HashSet<string> _absentLayers = new(StringComparer.Ordinal);

    /// <summary>Image ids a look-up (<see cref="TouchImage"/>) found not stored and this store has not committed since.</summary>
    private readonly HashSet<string> _absentImages = new(StringComparer.Ordinal);

    private const string InsertLayerSql = "INSERT INTO layers VALUES (?, ?, ?, ?, ?, ?, ?, ?)";


    /// <summary>
    /// The plan's look-up in one statement: the stored blobs with their content's hashing (a join), and the stored contents
    /// among the configs' diff_ids. The keys go in as two comma-separated texts that DuckDB splits, not as one parameter
    /// each: binding a parameter per key cost ~25 ms for a plan of 200 images, and an unchanged rescan of a few images is
    /// one statement, not two. (Digests hold no comma: "algorithm:hex", checked by <see cref="Digest.Parse"/>.)
    /// </summary>
    public StoredLookup FindStored(IReadOnlyList<string> digests, IReadOnlyList<string> diffIds)
    {
        var found = new StoredLookup();
        // What this look-up finds, and does not, is what the layer loads and commits then rely on (see KnownContent).
        foreach (string digest in digests)
        {
            _absentLayers.Add(digest); // removed below for the stored ones
        }

        foreach (string diffId in diffIds)
        {
            _contents[diffId] = null; // set below for the stored ones
        }

        using var cmd = Command(
            """
            SELECT l.digest, l.size, l.diff_id, l.uncompressed_size, l.is_foreign, c.file_hashing
            FROM layers l LEFT JOIN layer_contents c ON c.diff_id = l.diff_id
            WHERE l.digest IN (SELECT unnest(string_split($1, ',')))
            UNION ALL
            SELECT NULL, NULL, diff_id, NULL, NULL, file_hashing FROM layer_contents
            WHERE diff_id IN (SELECT unnest(string_split($2, ',')))
            """,
            KeyList(digests), KeyList(diffIds));
        using var reader = cmd.ExecuteReader();
        while (reader.Read())
        {
            string diffId = reader.GetString(2);
            if (reader.IsDBNull(0))
            {
                var hashing = ParseHashing(reader.GetString(5));
                _contents[diffId] = hashing;
                found.Contents[diffId] = new StoredContent(hashing);
                continue;
            }

            _absentLayers.Remove(reader.GetString(0));

            var layer = new StoredLayer(
                Digest.Parse(reader.GetString(0)),
                reader.GetInt64(1),
                Digest.Parse(diffId),
                reader.IsDBNull(3) ? null : reader.GetInt64(3),
                reader.GetBoolean(4));
            found.Layers[reader.GetString(0)] = layer;
            if (!layer.IsForeign && !reader.IsDBNull(5))
            {
                var hashing = ParseHashing(reader.GetString(5));
                _contents[diffId] = hashing;
                found.Contents[diffId] = new StoredContent(hashing);
            }
        }

        return found;
    }

    /// <summary>Digests (as text) joined by commas, for <c>string_split</c>; a digest that is not one is refused.</summary>
    private static string KeyList(IReadOnlyList<string> digests)
    {
        var text = new System.Text.StringBuilder(digests.Count * 72);
        for (int i = 0; i < digests.Count; i++)
        {
            if (!Digest.TryParse(digests[i], out _))
            {
                throw new ArgumentException($"not a digest: '{digests[i]}'", nameof(digests));
            }

            text.Append(i == 0 ? "" : ",").Append(digests[i]);
        }

        return text.ToString();
    }

    /// <summary>A stored config blob by digest (verified when stored), or null. Thread-safe: sources call it from several tasks.</summary>
    public byte[]? FindConfig(Digest digest)
    {
        lock (_configLock)
        {
            using var cmd = Command("SELECT content FROM configs WHERE digest = ?", digest.ToString());
            using var reader = cmd.ExecuteReader();
            if (!reader.Read())
            {
                return null;
            }

            using var stream = reader.GetStream(0);
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            return copy.ToArray();
        }
    }

    public ILayerLoad BeginLayerLoad(int runId, Digest expectedDiffId, FileHashing hashing) => _grouping
        ? new GroupedLoad(this, runId, expectedDiffId, hashing, NextContentId())
        : new LayerLoad(this, RentLoadConnection(), runId, expectedDiffId, hashing, NextContentId());

    /// <summary>
    /// Connections of layer loads that ended cleanly, with their prepared statements, for the next loads: a connection's
    /// prepared statements are planned once instead of once per layer (two INSERTs a layer). At most
    /// <see cref="PooledLoadConnections"/>; all closed when the store is disposed or the database's connection closes.
    /// </summary>
    private readonly Stack<LoadConnection> _loadConnections = new();

    private const int PooledLoadConnections = 4;

    private bool _poolHooked;

    private LoadConnection RentLoadConnection()
    {
        lock (_loadConnections)
        {
            if (_loadConnections.TryPop(out var pooled))
            {
                return pooled;
            }

            if (!_poolHooked)
            {
                _connection.StateChange += (_, e) =>
                {
                    if (e.CurrentState != System.Data.ConnectionState.Open)
                    {
                        CloseLoadConnections();
                    }
                };
                _poolHooked = true;
            }
        }

        var connection = database.Duplicate();
        return new LoadConnection(connection, new StatementCache(connection));
    }

    /// <summary>Takes back the connection of a load that ended cleanly (no transaction open, no appender).</summary>
    private void ReturnLoadConnection(LoadConnection connection)
    {
        lock (_loadConnections)
        {
            if (_loadConnections.Count < PooledLoadConnections && _connection.State == System.Data.ConnectionState.Open)
            {
                _loadConnections.Push(connection);
                return;
            }
        }

        connection.Dispose();
    }

    private void CloseLoadConnections()
    {
        lock (_loadConnections)
        {
            while (_loadConnections.TryPop(out var pooled))
            {
                pooled.Dispose();
            }
        }
    }

    /// <summary>A layer load's connection and its prepared statements.</summary>
    private sealed class LoadConnection(DuckDBConnection connection, StatementCache statements) : IDisposable
    {
        public DuckDBConnection Connection { get; } = connection;

        public StatementCache Statements { get; } = statements;

        public void Dispose()
        {
            Statements.Dispose();
            Connection.Dispose();
        }
    }

    /// <summary>
    /// content_id for the next load: one more than any in the file (rows of a load that never committed included), then
    /// counted here; only the writer begins loads.
    /// </summary>
    private long NextContentId()
    {
        if (_lastContentId < 0)
        {
            using var cmd = Command(
                "SELECT greatest((SELECT coalesce(max(content_id), 0) FROM layer_contents), (SELECT coalesce(max(content_id), 0) FROM files))");
            _lastContentId = Convert.ToInt64(cmd.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
        }

        return ++_lastContentId;
    }

    /// <summary>
    /// Rows a layer load holds in one transaction before it commits them as a chunk (see <see cref="LayerLoad"/>):
    /// 122,880 = one DuckDB row group, so a commit writes whole row groups. A layer of a million tiny files peaks at
    /// ~235 MiB RssAnon loaded in such chunks against ~290 in one transaction; smaller chunks saved a little more memory
    /// for more CPU (benchmarks/README.md, "A big layer's rows committed in chunks"). A layer of at most this many
    /// entries stays one transaction.
    /// </summary>
    public const int DefaultLoadChunkRows = 122_880;

    /// <summary>
    /// The chunk size of this store's layer loads: <see cref="DefaultLoadChunkRows"/>, or, for tests only (a child
    /// scan killed in the middle of a multi-chunk layer), the environment variable <c>LAYERSTATS_TEST_LOAD_CHUNK_ROWS</c>.
    /// </summary>
    internal int LoadChunkRows { get; init; } = ChunkRowsFromEnvironment();

    /// <summary>
    /// Layer loads append through DuckDB.NET's appender (the path before <see cref="FileRowAppender"/>) instead of
    /// filling DuckDB's data chunks directly: for tests and the benchmark that compare the two.
    /// </summary>
    internal bool DuckDbNetAppender { get; init; }

    private static int ChunkRowsFromEnvironment() =>
        int.TryParse(Environment.GetEnvironmentVariable("LAYERSTATS_TEST_LOAD_CHUNK_ROWS"), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int rows) && rows > 0
            ? rows
            : DefaultLoadChunkRows;

    /// <summary>Chunks committed by this store's layer loads (for tests: that a layer was loaded in several).</summary>
    internal int ChunksCommitted { get; private set; }

    /// <summary>The load committing chunks of each diff_id (at most one, so that its rows are the only uncommitted-content rows of that diff_id).</summary>
    private readonly Dictionary<string, LayerLoad> _chunking = new(StringComparer.Ordinal);

    /// <summary>
    /// Lets <paramref name="load"/> commit chunks of <paramref name="diffId"/>: only while no other load does, and the
    /// content is not stored (a load that commits it later supersedes this one first, <see cref="SupersedeChunking"/>).
    /// </summary>
    private bool TryClaimChunking(string diffId, LayerLoad load)
    {
        if (_chunking.TryGetValue(diffId, out var holder))
        {
            return holder == load;
        }

        if (KnownContent(diffId) is not null)
        {
            return false;
        }

        _chunking.Add(diffId, load);
        if (_chunking.Count == 1)
        {
            SetMemoryLimit(load.Connection, ReadPhaseMemoryLimit);
        }

        return true;
    }

    private void ReleaseChunking(string diffId, LayerLoad load)
    {
        if (_chunking.TryGetValue(diffId, out var holder) && holder == load)
        {
            _chunking.Remove(diffId);
            if (_chunking.Count == 0)
            {
                SetMemoryLimit(load.Connection, ReadPhaseMemoryLimit);
            }
        }
    }

    /// <summary>
    /// DuckDB's memory limit for the read phase now: the scan's, or, while a layer loads in chunks, the lower
    /// <see cref="LayerStatsDatabase.ChunkedLoadMemoryLimitMegabytes"/> (its row groups go to the file as it goes; their
    /// blocks need not stay in the pool).
    /// </summary>
    private int ReadPhaseMemoryLimit => _chunking.Count > 0
        ? Math.Min(database.ChunkedLoadMemoryLimitMegabytes, database.MemoryLimitMegabytes)
        : database.MemoryLimitMegabytes;

    /// <summary>Sets DuckDB's memory limit (one for the whole database) through <paramref name="connection"/>, a load's own: the
    /// store's connection may hold a streamed result open. A failure leaves the limit as it was.</summary>
    private static void SetMemoryLimit(DuckDBConnection connection, int megabytes)
    {
        try
        {
            using var cmd = Command(connection, FormattableString.Invariant($"SET memory_limit = '{megabytes}MB'"));
            cmd.ExecuteNonQuery();
        }
        catch (DuckDBException)
        {
            // Only a bound on memory: the load goes on under the limit it had.
        }
    }

    /// <summary>Before <paramref name="committer"/> commits <paramref name="diffId"/>: another load's committed chunks of it go.</summary>
    private void SupersedeChunking(string diffId, LayerLoad committer)
    {
        if (_chunking.TryGetValue(diffId, out var holder) && holder != committer)
        {
            holder.Supersede();
        }
    }

    /// <summary>Deletes the committed chunks of an incomplete load of <paramref name="diffId"/> and its marker (never the rows of a stored content).</summary>
    private static void DeleteChunks(DuckDBConnection connection, string diffId)
    {
        using (var files = Command(connection, "DELETE FROM files WHERE diff_id = ? AND NOT EXISTS (SELECT 1 FROM layer_contents WHERE diff_id = ?)", diffId, diffId))
        {
            files.ExecuteNonQuery();
        }

        using var marker = Command(connection, "DELETE FROM layer_loads WHERE diff_id = ?", diffId);
        marker.ExecuteNonQuery();
    }

    /// <summary>
    /// On opening a database for writing, before anything else: deletes the rows of layer loads that a killed scan left
    /// incomplete (their <c>layer_loads</c> markers), in one transaction. Returns the number of loads cleaned up.
    /// </summary>
    internal static int DeleteIncompleteLoads(DuckDBConnection connection)
    {
        var diffIds = new List<string>();
        using (var cmd = Command(connection, "SELECT DISTINCT diff_id FROM layer_loads"))
        using (var reader = cmd.ExecuteReader())
        {
            while (reader.Read())
            {
                diffIds.Add(reader.GetString(0));
            }
        }

        if (diffIds.Count == 0)
        {
            return 0;
        }

        using var tx = connection.BeginTransaction();
        foreach (string diffId in diffIds)
        {
            DeleteChunks(connection, diffId);
        }

        tx.Commit();
        return diffIds.Count;
    }

    public void AddLayer(int runId, LayerRecord layer)
    {
        string digest = layer.Digest.ToString();
        using (var write = BeginWrite(ownTransaction: false))
        {
            InsertLayerRow(_connection, _statements ??= new StatementCache(_connection), layer, digest, runId);
            write.Commit();
        }

        _absentLayers.Remove(digest);
    }

    /// <summary>
    /// Inserts a layers row on <paramref name="connection"/>: a prepared plain INSERT when the row is known to be absent
    /// (NULLs written into its text, see <see cref="NativeStatement"/>), else INSERT ... ON CONFLICT DO NOTHING as a command.
    /// </summary>
    private void InsertLayerRow(DuckDBConnection connection, StatementCache statements, LayerRecord layer, string digest, int runId)
    {
        string? compression = CompressionName(layer.Compression);
        if (!_absentLayers.Contains(digest))
        {
            using var cmd = Command(
                connection, InsertLayerSql + " ON CONFLICT DO NOTHING",
                digest, layer.Size, layer.MediaType, compression, layer.DiffId.ToString(), layer.UncompressedSize, layer.IsForeign, runId);
            cmd.ExecuteNonQuery();
            return;
        }

        var insert = statements.Get(InsertLayerSqls[(compression is null ? 1 : 0) | (layer.UncompressedSize is null ? 2 : 0)])
            .Text(digest).Int64(layer.Size).Text(layer.MediaType).TextOrSkip(compression).Text(layer.DiffId.ToString());
        if (layer.UncompressedSize is { } size)
        {
            insert.Int64(size);
        }

        insert.Boolean(layer.IsForeign).Int32(runId).Execute();
    }

    /// <summary>The plain layers INSERT for each pattern of NULLs (bit 0: compression, 1: uncompressed_size).</summary>
    private static readonly string[] InsertLayerSqls =
    [
        InsertLayerSql,
        "INSERT INTO layers VALUES (?, ?, ?, NULL, ?, ?, ?, ?)",
        "INSERT INTO layers VALUES (?, ?, ?, ?, ?, NULL, ?, ?)",
        "INSERT INTO layers VALUES (?, ?, ?, NULL, ?, NULL, ?, ?)",
    ];

    public IEnumerable<AnalysisEntry> StreamAnalysisEntries(Digest diffId)
    {
        // While a group is open, its transaction sees the database as it was when the group began: what loads on other
        // connections committed since (a big layer's rows) is read on a connection of its own; the group's own contents
        // in the group (its appender closed first, so that its rows are in the transaction).
        LoadConnection? other = null;
        if (_group is not null && !_groupContents.Contains(diffId.ToString()))
        {
            other = RentLoadConnection();
        }
        else
        {
            CloseGroupAppender();
        }

        try
        {
            foreach (var entry in ReadAnalysisEntries(other?.Connection ?? _connection, diffId))
            {
                yield return entry;
            }
        }
        finally
        {
            if (other is not null)
            {
                ReturnLoadConnection(other);
            }
        }
    }

    private IEnumerable<AnalysisEntry> ReadAnalysisEntries(DuckDBConnection connection, Digest diffId)
    {
        var (contentId, entries) = StoredContent(diffId);
        TraceMemory("analysis in", TimeSpan.Zero);
        var watch = System.Diagnostics.Stopwatch.StartNew();

        // A big content's rows stream through DuckDB's buffer pool, which would otherwise keep up to the scan's memory
        // limit of blocks read (and loaded before) beside the analysis trie: the pool is bounded lower while they stream
        // (benchmarks/README.md, "Peak memory"). The SET must come before the query: a statement run on the connection
        // while a streamed result is open ends that result.
        int? lowered = entries >= database.AnalysisLimitFromEntries && database.AnalysisMemoryLimitMegabytes < ReadPhaseMemoryLimit
            ? database.AnalysisMemoryLimitMegabytes
            : null;
        if (lowered is { } limit)
        {
            SetMemoryLimit(connection, limit);
        }

        try
        {
            // No ORDER BY: DuckDB streams the rows in chunks instead of sorting them all first; seq gives the archive
            // order. Streaming mode: DuckDB.NET otherwise materialises the whole result before the first row (~60 MB
            // for a million rows).
            using var cmd = LayerRowsCommand(connection, "path, kind, size, seq", diffId, contentId);
            cmd.UseStreamingMode = true;
            using var reader = cmd.ExecuteReader();
            while (reader.Read())
            {
                yield return new AnalysisEntry(reader.GetString(0), EntryKinds.Parse(reader.GetString(1)), reader.GetInt64(2), reader.GetInt32(3));
            }
        }
        finally
        {
            if (lowered is not null)
            {
                SetMemoryLimit(connection, ReadPhaseMemoryLimit);
            }
        }

        TraceMemory("analysis out", watch.Elapsed);
    }

    /// <summary>
    /// SELECT columns FROM files for one layer content: by its content_id (reads only the row groups that hold it), or
    /// by diff_id for a content stored before content_id existed (reads the whole table).
    /// </summary>
    private static DuckDBCommand LayerRowsCommand(DuckDBConnection connection, string columns, Digest diffId, long? contentId) =>
        contentId is { } id
            ? Command(connection, $"SELECT {columns} FROM files WHERE content_id = ?", id)
            : Command(connection, $"SELECT {columns} FROM files WHERE diff_id = ?", diffId.ToString());

    /// <summary>A stored content's content_id (null when stored before content_id existed) and number of rows, looked up once.</summary>
    private ContentRows StoredContent(Digest diffId)
    {
        string key = diffId.ToString();
        if (!_contentIds.TryGetValue(key, out var stored))
        {
            using var lookup = Command("SELECT content_id, entries FROM layer_contents WHERE diff_id = ?", key);
            using var reader = lookup.ExecuteReader();
            stored = reader.Read()
                ? new ContentRows(reader.IsDBNull(0) ? null : reader.GetInt64(0), reader.IsDBNull(1) ? 0 : reader.GetInt64(1))
                : new ContentRows(null, 0);
            _contentIds[key] = stored;
        }

        return stored;
    }

    /// <summary>The content_id and row count of each stored content this store has committed or looked up (images share base layers).</summary>
    private readonly Dictionary<string, ContentRows> _contentIds = new(StringComparer.Ordinal);

    /// <summary>A stored content's content_id (null when stored before content_id existed) and number of rows.</summary>
    private sealed record ContentRows(long? ContentId, long Entries);

    public void CommitImage(int runId, ImageRecord record)
    {
        var image = record.Image;
        string id = image.Id.ToString();
        using (var tx = BeginWrite())
        {
            bool exists;
            if (_absentImages.Contains(id))
            {
                exists = false; // TouchImage found it not stored, and only this store inserts images
            }
            else
            {
                using var check = Command("SELECT count(*) FROM images WHERE image_id = ?", id);
                exists = Convert.ToInt64(check.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture) > 0;
            }

            if (exists)
            {
                using (var touch = Command("UPDATE images SET last_run_id = ? WHERE image_id = ?", runId, id))
                {
                    touch.ExecuteNonQuery();
                }

                UpsertReferences(runId, id, record.References);
                MarkSeen(runId, id);
                tx.Commit();
                return;
            }

            // A new image: its statements are prepared once per connection (see NativeStatement), planned with the
            // optimizer (the config's look-up by the key's index) and only executed here.
            // Images may share a config blob. (WHERE NOT EXISTS, a look-up by the key's index: about half the CPU of ON
            // CONFLICT DO NOTHING in DuckDB.)
            string configDigest = image.ConfigDigest.ToString();
            if (_absentConfigs.Remove(configDigest))
            {
                Statement("INSERT INTO configs VALUES ($1, $2)").Text(configDigest).Blob(image.ConfigBytes.ToArray()).Execute();
            }
            else if (!_storedConfigs.Contains(configDigest))
            {
                Statement("INSERT INTO configs SELECT $1, $2 WHERE NOT EXISTS (SELECT 1 FROM configs WHERE digest = $1)")
                    .Text(configDigest).Blob(image.ConfigBytes.ToArray()).Execute();
            }


            // NULLs are written into the statement's text (a NULL bound to a typed parameter makes DuckDB plan it again):
            // one prepared statement per pattern of NULLs.
            var config = image.Config;
            var f = record.Figures;
            string? manifestDigest = image.ManifestDigest?.ToString();
            double? userWasted = double.IsFinite(f.UserWastedPercent) ? f.UserWastedPercent : null;
            int nulls = (manifestDigest is null ? 1 : 0) | (config.Platform.Variant is null ? 2 : 0) | (config.Created is null ? 4 : 0) | (userWasted is null ? 8 : 0);
            Statement(InsertImageSql[nulls])
                .Text(id).TextOrSkip(manifestDigest).Text(image.ManifestMediaType).Text(configDigest)
                .Text(config.Platform.Os).Text(config.Platform.Architecture).TextOrSkip(config.Platform.Variant).TimestampTzOrSkip(config.Created)
                .Int32(image.Layers.Count).Int64(record.CompressedBytes).Int64(record.UncompressedBytes).Int64(f.HiddenBytes).Int64(f.HiddenFiles)
                .Double(f.Efficiency).Int64(f.WastedBytes).DoubleOrSkip(userWasted)
                .Int64(f.DiveSizeBytes).Int64(f.DiveUserSizeBytes).Int32(runId).Int32(runId)
                .Execute();

            // Multi-row VALUES. Up to PreparedImageLayers rows: one prepared statement per row count and pattern of
            // NULL created_by; more (rare): a command as before.
            var createdBy = config.LayerCreatedBy();
            for (int start = 0; start < image.Layers.Count; start += LookupChunk / 5)
            {
                int count = Math.Min(LookupChunk / 5, image.Layers.Count - start);
                if (count <= PreparedImageLayers)
                {
                    int mask = 0;
                    for (int i = 0; i < count; i++)
                    {
                        mask |= createdBy[start + i] is null ? 1 << i : 0;
                    }

                    var insertLayers = Statement(ImageLayersSql(count, mask));
                    for (int i = start; i < start + count; i++)
                    {
                        insertLayers.Text(id).Int32(i).Text(image.Layers[i].Digest.ToString()).Text(config.DiffIds[i].ToString());
                        if (createdBy[i] is { } text)
                        {
                            insertLayers.Text(text);
                        }
                    }

                    insertLayers.Execute();
                    continue;
                }

                var parameters = new object?[count * 5];
                for (int i = start, at = 0; i < start + count; i++)
                {
                    parameters[at++] = id;
                    parameters[at++] = i;
                    parameters[at++] = image.Layers[i].Digest.ToString();
                    parameters[at++] = config.DiffIds[i].ToString();
                    parameters[at++] = createdBy[i];
                }

                using var command = Command($"INSERT INTO image_layers VALUES {Rows(count, 5)}", parameters);
                command.ExecuteNonQuery();
            }

            // A new image has no references and no run_images row yet: plain inserts (an upsert costs 4-5 times as much).
            InsertReferences(runId, id, record.References);
            Statement("INSERT INTO run_images VALUES (?, ?)").Int32(runId).Text(id).Execute();
            tx.Commit();
            _storedConfigs.Add(configDigest); // (forgotten with the group if it rolls back)
        }

        _absentImages.Remove(id);
    }

    /// <summary>The store connection's prepared statements (see <see cref="NativeStatement"/>).</summary>
    private StatementCache? _statements;

    private NativeStatement Statement(string sql) => (_statements ??= new StatementCache(_connection)).Get(sql);

    /// <summary>Rows of image_layers inserted by one prepared statement (per row count and pattern of NULLs: at most 2^n).</summary>
    private const int PreparedImageLayers = 6;

    /// <summary>The images INSERT for each pattern of NULLs (bit 0: manifest_digest, 1: variant, 2: created, 3: dive_user_wasted_percent).</summary>
    private static readonly string[] InsertImageSql = BuildInsertImageSql();

    private static string[] BuildInsertImageSql()
    {
        int[] nullable = [2, 7, 8, 16]; // 1-based columns
        var texts = new string[16];
        for (int mask = 0; mask < 16; mask++)
        {
            var values = new string[20];
            Array.Fill(values, "?");
            for (int bit = 0; bit < nullable.Length; bit++)
            {
                if ((mask & (1 << bit)) != 0)
                {
                    values[nullable[bit] - 1] = "NULL";
                }
            }

            texts[mask] = $"INSERT INTO images VALUES ({string.Join(", ", values)})";
        }

        return texts;
    }

    /// <summary>The image_layers INSERT of <paramref name="rows"/> rows, with NULL for created_by in the rows of <paramref name="nullCreatedBy"/>'s bits; made once.</summary>
    private string ImageLayersSql(int rows, int nullCreatedBy)
    {
        int key = (rows << PreparedImageLayers) | nullCreatedBy;
        if (!_imageLayersSql.TryGetValue(key, out string? sql))
        {
            var text = new System.Text.StringBuilder("INSERT INTO image_layers VALUES ");
            for (int i = 0; i < rows; i++)
            {
                text.Append(i == 0 ? "" : ", ").Append((nullCreatedBy & (1 << i)) != 0 ? "(?, ?, ?, ?, NULL)" : "(?, ?, ?, ?, ?)");
            }

            sql = text.ToString();
            _imageLayersSql.Add(key, sql);
        }

        return sql;
    }

    private readonly Dictionary<int, string> _imageLayersSql = [];

    /// <summary>
    /// The references of an image that has none stored: one row per key (source, repository, tag), in the order the keys
    /// first come, with the last index digest given for it, as upserting them in order would leave it.
    /// </summary>
    private void InsertReferences(int runId, string id, IReadOnlyList<ImageReference> references)
    {
        var rows = new List<ReferenceKey>(references.Count);
        var byKey = new Dictionary<(string Source, string Repository, string Tag), ReferenceKey>();
        foreach (var reference in references)
        {
            string repository = reference.Repository ?? "";
            string tag = reference.Tag ?? "";
            var key = (reference.Source, repository, tag);
            if (!byKey.TryGetValue(key, out var row))
            {
                row = new ReferenceKey(reference.Source, repository, tag);
                byKey.Add(key, row);
                rows.Add(row);
            }

            if (reference.IndexDigest is { } index)
            {
                row.IndexDigest = index.ToString();
            }
        }

        for (int start = 0; start < rows.Count; start += LookupChunk / 8)
        {
            int count = Math.Min(LookupChunk / 8, rows.Count - start);
            if (count == 1)
            {
                // The usual case: one reference, prepared (index_digest NULL written into the text, see CommitImage).
                var row = rows[start];
                Statement(row.IndexDigest is null ? InsertReferenceNoIndexSql : InsertReferenceSql)
                    .Text(id).Text(row.Source).Text(row.Repository).Text(row.Tag).TextOrSkip(row.IndexDigest)
                    .Int32(runId).Int32(runId)
                    .Execute();
                continue;
            }

            var parameters = new object?[count * 7];
            for (int i = start, at = 0; i < start + count; i++)
            {
                var row = rows[i];
                parameters[at++] = id;
                parameters[at++] = row.Source;
                parameters[at++] = row.Repository;
                parameters[at++] = row.Tag;
                parameters[at++] = row.IndexDigest;
                parameters[at++] = runId;
                parameters[at++] = runId;
            }

            using var cmd = Command($"INSERT INTO image_refs VALUES {Rows(count, 7)}", parameters);
            cmd.ExecuteNonQuery();
        }
    }

    private const string InsertReferenceSql = "INSERT INTO image_refs VALUES (?, ?, ?, ?, ?, ?, ?)";

    private const string InsertReferenceNoIndexSql = "INSERT INTO image_refs VALUES (?, ?, ?, ?, NULL, ?, ?)";

    /// <summary>One image_refs row of a new image (<see cref="InsertReferences"/>).</summary>
    private sealed class ReferenceKey(string source, string repository, string tag)
    {
        public string Source { get; } = source;

        public string Repository { get; } = repository;

        public string Tag { get; } = tag;

        public string? IndexDigest { get; set; }
    }

    /// <summary>"(?, ?), (?, ?)": <paramref name="rows"/> rows of <paramref name="columns"/> parameters.</summary>
    private static string Rows(int rows, int columns) =>
        string.Join(", ", Enumerable.Repeat($"({Placeholders(columns)})", rows));

    public bool TouchImage(int runId, Digest imageId, IReadOnlyList<ImageReference> references)
    {
        string id = imageId.ToString();
        if (_absentImages.Contains(id))
        {
            return false; // a look-up found it not stored, and only this store inserts images
        }

        using var tx = BeginWrite();
        using var touch = Command("UPDATE images SET last_run_id = ? WHERE image_id = ?", runId, id);
        if (touch.ExecuteNonQuery() == 0)
        {
            tx.Commit(wrote: false);
            _absentImages.Add(id);
            return false;
        }

        UpsertReferences(runId, id, references);
        MarkSeen(runId, id);
        tx.Commit();
        return true;
    }

    public void LookUpImages(IReadOnlyList<IImage> images)
    {
        if (images.Count == 0)
        {
            return;
        }

        var ids = images.Select(i => i.Id.ToString()).Distinct(StringComparer.Ordinal).ToList();
        var stored = Keys("SELECT image_id FROM images WHERE image_id IN (SELECT unnest(string_split($1, ',')))", ids);
        foreach (string id in ids)
        {
            if (!stored.Contains(id))
            {
                _absentImages.Add(id); // TouchImage and CommitImage then need no look-up of their own
            }
        }

        var configs = images.Select(i => i.ConfigDigest.ToString()).Distinct(StringComparer.Ordinal).ToList();
        var storedConfigs = Keys("SELECT digest FROM configs WHERE digest IN (SELECT unnest(string_split($1, ',')))", configs);
        foreach (string digest in configs)
        {
            (storedConfigs.Contains(digest) ? _storedConfigs : _absentConfigs).Add(digest);
        }
    }

    /// <summary>The first column of <paramref name="sql"/>'s rows, run with <paramref name="keys"/> as its one parameter (see <see cref="KeyList"/>).</summary>
    private HashSet<string> Keys(string sql, IReadOnlyList<string> keys)
    {
        var found = new HashSet<string>(StringComparer.Ordinal);
        using var cmd = Command(sql, KeyList(keys));
        using var reader = cmd.ExecuteReader();
        while (reader.Read())
        {
            found.Add(reader.GetString(0));
        }

        return found;
    }

    /// <summary>
    /// Config digests a look-up found not stored (inserted plainly, then stored), and configs stored (nothing to insert):
    /// the look-up of an INSERT ... WHERE NOT EXISTS reads the whole configs table, ~0.4 ms an image at 2,000 images.
    /// </summary>
    private readonly HashSet<string> _absentConfigs = new(StringComparer.Ordinal);
    private readonly HashSet<string> _storedConfigs = new(StringComparer.Ordinal);

    public IReadOnlySet<string> TouchImages(int runId, IReadOnlyList<ImageTouch> images)
    {
        var touched = new HashSet<string>(StringComparer.Ordinal);
        var ids = images.Select(i => i.ImageId).ToList();

        using var tx = _connection.BeginTransaction();
        // The ids as one comma-separated text (see FindStored): image ids are digests.
        using (var touch = Command("UPDATE images SET last_run_id = $1 WHERE image_id IN (SELECT unnest(string_split($2, ','))) RETURNING image_id", runId, KeyList(ids)))
        using (var reader = touch.ExecuteReader())
        {
            while (reader.Read())
            {
                touched.Add(reader.GetString(0));
            }
        }

        // One row per key (as upserting them one by one would leave it: the last reference stated wins, with the last index
        // digest stated), in the order the keys were first seen.
        var rows = new Dictionary<ReferenceRowKey, ReferenceRow>();
        var stored = new List<string>();
        var absent = new List<string>();
        foreach (var image in images)
        {
            if (!touched.Contains(image.ImageId))
            {
                absent.Add(image.ImageId);
                continue;
            }

            stored.Add(image.ImageId);
            foreach (var reference in image.References)
            {
                var key = new ReferenceRowKey(image.ImageId, reference.Source, reference.Repository ?? "", reference.Tag ?? "");
                if (rows.TryGetValue(key, out var row))
                {
                    row.Reference = reference with { IndexDigest = reference.IndexDigest ?? row.Reference.IndexDigest };
                }
                else
                {
                    rows.Add(key, new ReferenceRow(image.ImageId, reference));
                }
            }
        }

        UpsertReferenceRows(runId, rows.Values);
        if (stored.Count > 0)
        {
            using var cmd = Command("INSERT INTO run_images SELECT $1, unnest(string_split($2, ',')) ON CONFLICT DO NOTHING", runId, KeyList(stored));
            cmd.ExecuteNonQuery();
        }

        tx.Commit();
        _absentImages.UnionWith(absent);
        return touched;
    }

    /// <summary>
    /// The references of touched images upserted in one statement: each column goes in as one list parameter, which DuckDB
    /// unnests row by row. Binding a parameter per value (seven a row, in statements of 64 rows) took most of an unchanged
    /// rescan's plan: ~0.1-0.2 s for 2,000 images. A missing index digest goes in as '' (read back as NULL).
    /// </summary>
    private void UpsertReferenceRows(int runId, IEnumerable<ReferenceRow> rows)
    {
        var ids = new List<string>();
        var sources = new List<string>();
        var repositories = new List<string>();
        var tags = new List<string>();
        var indexes = new List<string>();
        foreach (var row in rows)
        {
            var reference = row.Reference;
            ids.Add(row.ImageId);
            sources.Add(reference.Source);
            repositories.Add(reference.Repository ?? "");
            tags.Add(reference.Tag ?? "");
            indexes.Add(reference.IndexDigest?.ToString() ?? "");
        }

        if (ids.Count == 0)
        {
            return;
        }

        using var cmd = Command(
            """
            INSERT INTO image_refs
            SELECT unnest($2), unnest($3), unnest($4), unnest($5), nullif(unnest($6), ''), $1, $1
            ON CONFLICT (image_id, source, repository, tag) DO UPDATE SET last_run_id = excluded.last_run_id,
                index_digest = coalesce(excluded.index_digest, image_refs.index_digest)
            """,
            runId, ids, sources, repositories, tags, indexes);
        cmd.ExecuteNonQuery();
    }

    /// <summary>
    /// The key of an image_refs row (<see cref="TouchImages"/>). A record class, not a tuple: a dictionary keyed by a tuple
    /// of four strings is code the published build leaves to the JIT (8 methods counted, 2026-11), one keyed by a class
    /// is precompiled.
    /// </summary>
    private sealed record ReferenceRowKey(string ImageId, string Source, string Repository, string Tag);

    /// <summary>An image_refs row being gathered by <see cref="TouchImages"/>.</summary>
    private sealed class ReferenceRow(string imageId, ImageReference reference)
    {
        public string ImageId { get; } = imageId;

        public ImageReference Reference { get; set; } = reference;
    }

    public void RecordError(int runId, ScanError error)
    {
        if (_group is not null)
        {
            _groupErrors.Add((runId, error)); // written with the group, or after it if it is rolled back
            return;
        }

        InsertError(runId, error);
    }

    private void InsertError(int runId, ScanError error)
    {
        using var cmd = Command(
            "INSERT INTO scan_errors VALUES (?, ?, ?, ?, ?, ?, ?)",
            runId, DateTimeOffset.UtcNow, error.Source, error.Image, error.Layer, error.Path, error.Message);
        cmd.ExecuteNonQuery();
    }

    public void Dispose()
    {
        // The database (and its connection) belongs to the caller; the prepared statements go now (they would hold the
        // database open), as they do when the connection closes.
        _statements?.Dispose();
        _statements = null;
        CloseLoadConnections();
    }

    private void MarkSeen(int runId, string id)
    {
        using var cmd = Command("INSERT INTO run_images VALUES (?, ?) ON CONFLICT DO NOTHING", runId, id);
        cmd.ExecuteNonQuery();
    }

    /// <summary>Keys per look-up statement (the statement's parameter list).</summary>
    private const int LookupChunk = 512;

    private static string Placeholders(int count) => Repeat("?", count);

    /// <summary><paramref name="item"/> <paramref name="count"/> times, comma-separated.</summary>
    private static string Repeat(string item, int count)
    {
        var text = new System.Text.StringBuilder((item.Length + 2) * count);
        for (int i = 0; i < count; i++)
        {
            text.Append(i == 0 ? "" : ", ").Append(item);
        }

        return text.ToString();
    }

    private const string SameImagesAsPreviousRunSql =
        """
        UPDATE scan_runs SET run_images = p.run_images, stored_bytes = p.stored_bytes, flat_bytes = p.flat_bytes,
            file_unique_content_bytes = p.file_unique_content_bytes, file_duplicate_bytes = p.file_duplicate_bytes,
            layers_new = 0, layers_gone = 0,
            finished_at = $2, status = $3, images_ok = $4, images_failed = $5, layers_read = $6, layers_skipped = $7,
            bytes_read = $8, errors = $9
        FROM scan_runs p
        WHERE scan_runs.run_id = $1
          AND p.run_id = (SELECT max(run_id) FROM scan_runs WHERE run_id < $1 AND status <> 'running')
          AND p.stored_bytes IS NOT NULL AND p.run_images IS NOT NULL
          AND p.run_images = (SELECT count(*) FROM run_images WHERE run_id = $1)
          AND NOT EXISTS (SELECT image_id FROM run_images WHERE run_id = $1
                          EXCEPT SELECT image_id FROM run_images WHERE run_id = p.run_id)
        """;

    private static IReadOnlyDictionary<string, string>? s_snapshotSections;

    /// <summary>run_snapshot.sql split at its "-- @section NAME" lines.</summary>
    internal static IReadOnlyDictionary<string, string> SnapshotSections()
    {
        if (s_snapshotSections is { } cached)
        {
            return cached;
        }

        var sections = new Dictionary<string, string>(StringComparer.Ordinal);
        string? name = null;
        var text = new System.Text.StringBuilder();
        foreach (string line in LayerStatsDatabase.ReadEmbeddedSql("run_snapshot.sql").Split('\n'))
        {
            if (line.StartsWith("-- @section ", StringComparison.Ordinal))
            {
                if (name is not null)
                {
                    sections[name] = text.ToString();
                }

                name = line["-- @section ".Length..].Trim();
                text.Clear();
            }
            else if (name is not null)
            {
                text.Append(line).Append('\n');
            }
        }

        if (name is not null)
        {
            sections[name] = text.ToString();
        }

        return s_snapshotSections = sections;
    }

    private void UpsertReferences(int runId, string id, IReadOnlyList<ImageReference> references)
    {
        foreach (var reference in references)
        {
            using var cmd = Command(
                """
                INSERT INTO image_refs VALUES (?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (image_id, source, repository, tag) DO UPDATE SET last_run_id = excluded.last_run_id,
                    index_digest = coalesce(excluded.index_digest, image_refs.index_digest)
                """,
                id, reference.Source, reference.Repository ?? "", reference.Tag ?? "", reference.IndexDigest?.ToString(), runId, runId);
            cmd.ExecuteNonQuery();
        }
    }

    internal static string? CompressionName(Compression? compression) => compression switch
    {
        null => null,
        Compression.None => "none",
        Compression.Gzip => "gzip",
        Compression.Zstd => "zstd",
        _ => throw new ArgumentOutOfRangeException(nameof(compression)),
    };

    private static FileHashing ParseHashing(string name) => name switch
    {
        "xxh128" => FileHashing.Xxh128,
        "xxh128+sha256" => FileHashing.Xxh128AndSha256,
        _ => throw new InvalidDataException($"unknown file hashing '{name}' in the database"),
    };

    private DuckDBCommand Command(string sql, params object?[] parameters) => Command(_connection, sql, parameters);

    internal static DuckDBCommand Command(DuckDBConnection connection, string sql, params object?[] parameters)
    {
        var cmd = connection.CreateCommand();
        cmd.CommandText = sql;
        foreach (var p in parameters)
        {
            cmd.Parameters.Add(new DuckDBParameter(p ?? DBNull.Value));
        }

        return cmd;
    }

    /// <summary>
    /// One layer's entries on a connection of its own. A layer of at most <see cref="LoadChunkRows"/> entries is one
    /// transaction that commits its rows with the layer's rows or not at all. A bigger one commits its rows a chunk at a
    /// time (DuckDB holds a transaction's appended rows in memory until it commits), under a <c>layer_loads</c> row that
    /// says they are incomplete; its <c>layer_contents</c> and <c>layers</c> rows, which make the rows part of the
    /// figures, are committed with the last chunk in one transaction that also deletes the marker. Rows of a load that
    /// fails are deleted at once; rows of a killed one when the next scan opens the database
    /// (<see cref="DeleteIncompleteLoads"/>).
    /// Chunks need rows that are this load's alone: a load chunks only when the content is not stored when it begins
    /// (not a replacement of weaker hashing, whose old rows must stay until the new ones commit) and no other load of
    /// the same content is chunking; such a load stays one transaction, as before.
    /// </summary>
    private sealed class LayerLoad : ILayerLoad
    {
        private readonly DuckDbScanStore _store;
        private readonly LoadConnection _pooled;
        private readonly DuckDBConnection _connection;
        private readonly string _diffId;
        private readonly long _contentId;
        private readonly int _runId;
        private DuckDBTransaction _transaction;
        private FileRowAppender? _appender;

        /// <summary>The reference path (<see cref="DuckDbScanStore.DuckDbNetAppender"/>): DuckDB.NET's appender.</summary>
        private DuckDBAppender? _referenceAppender;
        private bool _done;
        private bool _mayChunk;
        private long _rowsInTransaction;
        private long _committedRows;
        private Exception? _chunkFailure;

        /// <summary>Rows of this load are committed under a <c>layer_loads</c> marker (it holds the store's chunking claim on the content).</summary>
        private bool _chunked;

        /// <summary>Another load of the same content committed it first: this one's committed chunks are deleted, and it appends nothing more.</summary>
        private bool _superseded;

        /// <summary>The load ended by its Commit, whose statements all succeeded: its connection can serve another load.</summary>
        private bool _reusable;

        /// <summary>The load's own connection (for a setting of the whole database while no appender is open on it).</summary>
        internal DuckDBConnection Connection => _connection;

        public LayerLoad(DuckDbScanStore store, LoadConnection connection, int runId, Digest expectedDiffId, FileHashing hashing, long contentId)
        {
            _store = store;
            _pooled = connection;
            _connection = connection.Connection;
            _runId = runId;
            _diffId = expectedDiffId.ToString();
            _transaction = _connection.BeginTransaction();
            _contentId = contentId;
            if (store.KnownContent(_diffId) is { } stored)
            {
                if (!stored.Covers(hashing))
                {
                    // Stored with fewer hashes than this scan asks for: this load replaces them (or, rolled back, keeps them).
                    using var deleteFiles = Command(_connection, "DELETE FROM files WHERE diff_id = ?", _diffId);
                    deleteFiles.ExecuteNonQuery();
                    using var deleteContent = Command(_connection, "DELETE FROM layer_contents WHERE diff_id = ?", _diffId);
                    deleteContent.ExecuteNonQuery();
                }
            }
            else
            {
                _mayChunk = true;
            }
        }

        public void Append(ReadOnlySpan<FileEntry> entries)
        {
            if (_superseded || _chunkFailure is not null)
            {
                return;
            }

            if (_mayChunk && _rowsInTransaction >= _store.LoadChunkRows)
            {
                CommitChunk();
                if (_chunkFailure is not null)
                {
                    return;
                }
            }

            if (_store.DuckDbNetAppender)
            {
                _referenceAppender ??= _connection.CreateAppender("files");
                FileRowAppender.AppendWithDuckDbNet(_referenceAppender, _diffId, _contentId, entries);
            }
            else
            {
                _appender ??= new FileRowAppender(_connection, _diffId, _contentId);
                _appender.Append(entries);
            }

            _rowsInTransaction += entries.Length;
        }

        /// <summary>Commits the rows appended so far under the marker and goes on in a new transaction.</summary>
        private void CommitChunk()
        {
            // Closed before the claim, which may set the memory limit through this connection.
            CloseAppender();
            if (!_chunked && !_store.TryClaimChunking(_diffId, this))
            {
                // Another load of this content is chunking, or one has committed it meanwhile: this one stays one
                // transaction (its rows must never be committed beside rows of the same diff_id).
                _mayChunk = false;
                return;
            }

            _chunked = true;
            try
            {
                using (var marker = _committedRows == 0
                    ? Command(_connection, "INSERT INTO layer_loads VALUES (?, ?, ?, ?)", _diffId, _runId, DateTimeOffset.UtcNow, _rowsInTransaction)
                    : Command(_connection, "UPDATE layer_loads SET entries_committed = ? WHERE diff_id = ?", _committedRows + _rowsInTransaction, _diffId))
                {
                    marker.ExecuteNonQuery();
                }

                _transaction.Commit();
                _store.ChunksCommitted++;
                _committedRows += _rowsInTransaction;
                _rowsInTransaction = 0;
                _transaction.Dispose();
                _transaction = _connection.BeginTransaction();
            }
            catch (Exception ex) when (ex is DuckDBException or InvalidOperationException)
            {
                // Disk full, file too large...: the layer fails (Commit reports this error), as a failed final commit would.
                _chunkFailure = ex;
                Discard();
            }
        }

        public bool Commit(LayerRecord layer, LayerContentRecord content)
        {
            if (_chunkFailure is not null)
            {
                throw new IOException($"cannot store the entries: {_chunkFailure.Message}", _chunkFailure);
            }

            if (_superseded)
            {
                _done = true;
                if (_store.KnownContent(content.DiffId.ToString()) is { } winner && winner.Covers(content.Hashing))
                {
                    _store.AddLayer(_runId, layer);
                    _reusable = true;
                    return false;
                }

                throw new InvalidOperationException("its entries were dropped for another load of the same content, which then failed to commit");
            }

            CloseAppender();
            // What other loads committed after this one began (the store knows: they committed through it).
            var storedHashing = _store.KnownContent(content.DiffId.ToString());
            if (storedHashing is { } stored && stored.Covers(content.Hashing))
            {
                // Another blob with the same content committed first: keep its entries, drop ours. (A chunking load is
                // never here: the load that committed first superseded it, see below.)
                Discard();
                _store.AddLayer(_runId, layer);
                _reusable = !_chunked;
                return false;
            }

            // A load of the same content that is chunking has rows of its own under this diff_id, committed: they go
            // (committed before ours, so that no moment holds both) and that load appends nothing more.
            _store.SupersedeChunking(_diffId, this);

            // Plain inserts, prepared once per connection (see NativeStatement); a chunked load's marker goes with them.
            if (_chunked)
            {
                using var marker = Command(_connection, "DELETE FROM layer_loads WHERE diff_id = ?", _diffId);
                marker.ExecuteNonQuery();
            }

            _pooled.Statements.Get("INSERT INTO layer_contents (diff_id, uncompressed_size, entries, file_hashing, run_id, content_id) VALUES (?, ?, ?, ?, ?, ?)")
                .Text(content.DiffId.ToString()).Int64(content.UncompressedSize).Int32(content.Entries).Text(content.Hashing.ToName()).Int32(_runId).Int64(_contentId)
                .Execute();
            string digest = layer.Digest.ToString();
            _store.InsertLayerRow(_connection, _pooled.Statements, layer, digest, _runId);

            _transaction.Commit();
            _done = true;
            _store.ReleaseChunking(_diffId, this);
            _store._contentIds[_diffId] = new ContentRows(_contentId, content.Entries);
            _store._contents[content.DiffId.ToString()] = content.Hashing;
            _store._absentLayers.Remove(digest);
            _reusable = true;
            return true;
        }

        public void Abort()
        {
            if (_done)
            {
                return;
            }

            Discard();
        }

        /// <summary>Called by the load that commits the same content first: this load's committed chunks go now.</summary>
        internal void Supersede()
        {
            Discard();
            _superseded = true;
        }

        /// <summary>Rolls back the open transaction and deletes the chunks committed so far, with their marker.</summary>
        private void Discard()
        {
            _done = true;
            try
            {
                _appender?.Dispose();
            }
            catch (DuckDBException)
            {
                // The rows are rolled back below in any case.
            }

            _appender = null;
            try
            {
                _referenceAppender?.Dispose();
            }
            catch (DuckDBException)
            {
                // As above.
            }

            _referenceAppender = null;
            try
            {
                _transaction.Rollback();
            }
            catch (InvalidOperationException)
            {
                // A commit that failed (disk full, file too large) has already ended the transaction: nothing to
                // roll back, and the commit's own error is the one to report.
            }

            if (_chunked)
            {
                try
                {
                    using var tx = _connection.BeginTransaction();
                    DeleteChunks(_connection, _diffId);
                    tx.Commit();
                }
                catch (Exception ex) when (ex is DuckDBException or InvalidOperationException)
                {
                    // Left with their marker for the next scan to delete when it opens the database (disk full...).
                }

                _chunked = false;
                _store.ReleaseChunking(_diffId, this);
            }
        }

        public void Dispose()
        {
            bool reuse = false;
            try
            {
                Abort();
                _transaction.Dispose();
                reuse = _reusable && _appender is null && _referenceAppender is null;
            }
            finally
            {
                if (reuse)
                {
                    _store.ReturnLoadConnection(_pooled);
                }
                else
                {
                    _pooled.Dispose();
                }
            }
        }

        /// <summary>Writes the rows still held and closes the appender; a failure (disk full...) throws, the appender gone.</summary>
        private void CloseAppender()
        {
            FileRowAppender.Close(ref _appender);
            _referenceAppender?.Close();
            _referenceAppender = null;
        }
    }
}
