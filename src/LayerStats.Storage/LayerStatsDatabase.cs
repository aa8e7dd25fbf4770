using System.Reflection;
using DuckDB.NET.Data;

namespace LayerStats.Storage;

/// <summary>
/// The LayerStats database file: opens it, creates or checks the schema (embedded, versioned SQL) and
/// (re)creates the views every report reads.
/// </summary>
public sealed class LayerStatsDatabase : IDisposable
{
    /// <summary>
    /// The schema version this build writes. 2: image_refs.repository is canonical ('docker.io/library/web'; version 1
    /// stored it as each source wrote it, 'web'), and content_stats is a view over content_stats_base and
    /// content_stats_delta (version 1 kept it as one table). A write-open upgrades a version-1 file in one transaction
    /// (<see cref="RepositoryNameUpgrade"/>; its content_stats table becomes content_stats_base, figures kept); a
    /// read-only open reads one as it is (its own views read its own tables).
    /// </summary>
    public const int SchemaVersion = 2;

    /// <summary>The oldest schema version this build reads (read-only) and upgrades (on a write-open).</summary>
    public const int OldestReadableSchemaVersion = 1;

    /// <summary>The view definitions, in order: the figures (views.sql), then what the reports read (report_views.sql).</summary>
    private static readonly string[] ViewFiles = ["views.sql", "report_views.sql"];

    private LayerStatsDatabase(DuckDBConnection connection, string path, bool readOnly)
    {
        Connection = connection;
        Path = path;
        ReadOnly = readOnly;
    }

    public DuckDBConnection Connection { get; }

    public string Path { get; }

    public bool ReadOnly { get; }

    /// <summary>Where a write-open's time went, in order (<c>scan --timings</c>); empty for a read-only open.</summary>
    public IReadOnlyList<OpenPhase> OpenPhases { get; private init; } = Array.Empty<OpenPhase>();

    /// <summary>The DuckDB memory limit this connection was opened with.</summary>
    public int MemoryLimitMegabytes { get; private init; }

    /// <summary>DuckDB's memory limit while a big stored content streams into an analysis (DatabaseOptions.AnalysisMemoryLimitMegabytes).</summary>
    public int AnalysisMemoryLimitMegabytes { get; private init; }

    /// <summary>The row count from which a stored content streams under <see cref="AnalysisMemoryLimitMegabytes"/>.</summary>
    public long AnalysisLimitFromEntries { get; private init; } = long.MaxValue;

    /// <summary>DuckDB's memory limit while a big layer loads in chunks (DatabaseOptions.ChunkedLoadMemoryLimitMegabytes).</summary>
    public int ChunkedLoadMemoryLimitMegabytes { get; private init; }

    /// <summary>Opens (creating when needed) a database for writing.</summary>
    public static LayerStatsDatabase Open(string path, DatabaseOptions? options = null)
    {
        options ??= DatabaseOptions.Scan;
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        var connection = Connect(path, readOnly: false);
        var connected = System.Diagnostics.Stopwatch.GetElapsedTime(started);
        try
        {
            Configure(connection, options);
            var configured = System.Diagnostics.Stopwatch.GetElapsedTime(started);
            Migrate(connection);
            var migrated = System.Diagnostics.Stopwatch.GetElapsedTime(started);
            // Before anything else: the rows of layer loads a killed scan left incomplete (schema.sql, layer_loads).
            DuckDbScanStore.DeleteIncompleteLoads(connection);
            var cleaned = System.Diagnostics.Stopwatch.GetElapsedTime(started);
            return new LayerStatsDatabase(connection, path, readOnly: false)
            {
                OpenPhases = new OpenPhase[]
                {
                    new("load DuckDB, open the file", connected),
                    new("settings", configured - connected),
                    new("schema check", migrated - configured),
                    new("incomplete loads", cleaned - migrated),
                },
                MemoryLimitMegabytes = options.MemoryLimitMegabytes,
                AnalysisMemoryLimitMegabytes = options.AnalysisMemoryLimitMegabytes,
                AnalysisLimitFromEntries = options.AnalysisLimitFromEntries,
                ChunkedLoadMemoryLimitMegabytes = options.ChunkedLoadMemoryLimitMegabytes,
                _purger = options.AllocatorPurgeMilliseconds > 0 ? new NativeMemory.Purger(TimeSpan.FromMilliseconds(options.AllocatorPurgeMilliseconds)) : null,
            };
        }
        catch (DuckDBException ex) when (IsNotWritable(ex.Message))
        {
            // The file opened, but its write-ahead log ('FILE.wal', beside it) could not be created.
            connection.Dispose();
            throw OpenFailure(path, readOnly: false, ex);
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>Opens an existing database read-only (reports and queries).</summary>
    public static LayerStatsDatabase OpenReadOnly(string path, DatabaseOptions? options = null)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"no LayerStats database at '{path}' (run 'layerstats scan --db {path} ...' first)", path);
        }

        options ??= DatabaseOptions.Reports;
        var connection = Connect(path, readOnly: true);
        try
        {
            Configure(connection, options);
            int version = ReadSchemaVersion(connection);
            if (version is < OldestReadableSchemaVersion or > SchemaVersion)
            {
                throw new InvalidOperationException($"'{path}' has schema version {version}; this layerstats reads versions {OldestReadableSchemaVersion} to {SchemaVersion}");
            }

            return new LayerStatsDatabase(connection, path, readOnly: true) { MemoryLimitMegabytes = options.MemoryLimitMegabytes };
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>A second connection to the same database, for a transaction of its own.</summary>
    public DuckDBConnection Duplicate()
    {
        // DuckDB.NET shares one database instance between connections to the same file in a process.
        var connection = new DuckDBConnection(Connection.ConnectionString);
        connection.Open();
        return connection;
    }

    /// <summary>Writes the log into the file (what closing the database would do), so a scan can time it.</summary>
    public void Checkpoint() => Execute(Connection, "CHECKPOINT");

    public void Dispose()
    {
        _purger?.Dispose();
        Connection.Dispose();
    }

    /// <summary>Gives DuckDB's freed native memory back on a timer while the database is open (DatabaseOptions.AllocatorPurgeMilliseconds).</summary>
    private NativeMemory.Purger? _purger;

    internal static string ReadEmbeddedSql(string name)
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream($"LayerStats.Storage.Sql.{name}")
            ?? throw new InvalidOperationException($"embedded SQL '{name}' is missing");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    private static DuckDBConnection Connect(string path, bool readOnly)
    {
        string full = System.IO.Path.GetFullPath(path);
        var builder = new DuckDBConnectionStringBuilder { DataSource = full };
        if (readOnly)
        {
            builder["access_mode"] = "READ_ONLY";
        }

        var connection = new DuckDBConnection(builder.ConnectionString);
        try
        {
            connection.Open();
        }
        catch (Exception ex)
        {
            connection.Dispose();
            throw OpenFailure(path, readOnly, ex);
        }

        return connection;
    }

    /// <summary>
    /// Says in plain words why DuckDB could not open the file. DuckDB takes an OS file lock: one process writes a
    /// database at a time, and a database being written cannot be opened read-only by another process either.
    /// LayerStats does not wait for the lock; it fails at once (exit 4) and names the holder.
    /// </summary>
    private static IOException OpenFailure(string path, bool readOnly, Exception ex)
    {
        string message = ex.Message;
        if (message.Contains("Could not set lock on file", StringComparison.Ordinal))
        {
            var holder = System.Text.RegularExpressions.Regex.Match(message, @"held in (?<exe>.*?) \(PID (?<pid>\d+)\)");
            string who = holder.Success ? $"process {holder.Groups["pid"].Value} ({holder.Groups["exe"].Value})" : "another process";
            return new DatabaseLockedException(
                $"database '{path}' is in use by {who}, most likely another layerstats scan or query --write: " +
                $"a database has one writer at a time and cannot be {(readOnly ? "read" : "opened")} while it is written; " +
                "run this again when that process has ended", ex);
        }

        if (IsNotWritable(message))
        {
            return new IOException(
                readOnly
                    ? $"cannot open database '{path}' for reading: it is not readable by this user ({message})"
                    : $"cannot open database '{path}' for writing: the file or its directory is not writable by this user, " +
                      $"or is on a read-only file system (a scan needs both: DuckDB keeps its log '{System.IO.Path.GetFileName(path)}.wal' " +
                      $"beside the file) ({message})",
                ex);
        }

        return new IOException($"cannot open database '{path}': {message}", ex);
    }

    private static bool IsNotWritable(string message) =>
        message.Contains("Permission denied", StringComparison.OrdinalIgnoreCase)
        || message.Contains("Read-only file system", StringComparison.OrdinalIgnoreCase)
        || message.Contains("Operation not permitted", StringComparison.OrdinalIgnoreCase);

    private static void Configure(DuckDBConnection connection, DatabaseOptions options)
    {
        Execute(connection, $"SET memory_limit = '{options.MemoryLimitMegabytes}MB'");
        Execute(connection, $"SET threads = {options.EffectiveThreads}");
        Execute(connection, "SET preserve_insertion_order = false");
    }

    /// <summary>
    /// Creates the schema on a new file, checks the version of an existing one and (re)creates the views. The DDL is
    /// skipped when the file already holds this build's schema and views (its fingerprint in schema_info), so an
    /// unchanged rescan does not pay for ~60 statements on every open.
    /// </summary>
    private static void Migrate(DuckDBConnection connection)
    {
        string fingerprint = DdlFingerprint.Value;
        var info = ReadInfos(connection, "schema_version", "ddl_fingerprint");
        if (info.TryGetValue("schema_version", out string? storedVersion) && storedVersion == SchemaVersion.ToString(System.Globalization.CultureInfo.InvariantCulture)
            && info.TryGetValue("ddl_fingerprint", out string? stored) && stored == fingerprint)
        {
            // One small write all the same (a write that changes nothing is not logged), so that a file or directory
            // that cannot be written fails here, at open, with a clear message, rather than at the scan's first write.
            WriteInfo(connection, "last_write_open", DateTimeOffset.UtcNow.ToString("O", System.Globalization.CultureInfo.InvariantCulture));
            return;
        }

        using (var tx = connection.BeginTransaction())
        {
            // Read before the transaction (a new file has no schema_info, and a failed statement would end the transaction).
            int version = storedVersion is null ? 0 : int.Parse(storedVersion, System.Globalization.CultureInfo.InvariantCulture);
            if (version == 1)
            {
                // Version 1 kept content_stats as one table; it is now the base under the view of that name.
                Execute(connection, "ALTER TABLE content_stats RENAME TO content_stats_base");
                Execute(connection, "ALTER TABLE content_stats_base ADD COLUMN replaces BIGINT");
            }
            else if (version != 0 && version != SchemaVersion)
            {
                throw new InvalidOperationException($"the database has schema version {version}; this layerstats writes version {SchemaVersion}");
            }

            Execute(connection, ReadEmbeddedSql("schema.sql"));
            if (version == 1)
            {
                // In this transaction: the names and the version that says what they are change together.
                RepositoryNameUpgrade.Apply(connection);
            }

            if (version != SchemaVersion)
            {
                WriteInfo(connection, "schema_version", SchemaVersion.ToString(System.Globalization.CultureInfo.InvariantCulture));
            }

            foreach (string views in ViewFiles)
            {
                Execute(connection, ReadEmbeddedSql(views));
            }

            WriteInfo(connection, "ddl_fingerprint", fingerprint);
            tx.Commit();
        }
    }

    /// <summary>SHA-256 of the embedded schema and view SQL: a file whose schema_info holds it needs no DDL.</summary>
    private static readonly Lazy<string> DdlFingerprint = new(() =>
    {
        using var sha = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        foreach (string name in new[] { "schema.sql" }.Concat(ViewFiles))
        {
            sha.AppendData(System.Text.Encoding.UTF8.GetBytes(ReadEmbeddedSql(name)));
            sha.AppendData([0]);
        }

        return Convert.ToHexStringLower(sha.GetHashAndReset());
    });

    private static string? ReadInfo(DuckDBConnection connection, string key)
    {
        using var cmd = connection.CreateCommand();
        cmd.CommandText = "SELECT value FROM schema_info WHERE key = ?";
        cmd.Parameters.Add(new DuckDBParameter(key));
        try
        {
            return cmd.ExecuteScalar() as string;
        }
        catch (DuckDBException ex) when (DuckDbErrors.IsCatalogError(ex))
        {
            return null; // a new file: no schema_info yet (any other error, e.g. out of memory, is not that)
        }
    }

    /// <summary>Several schema_info values in one statement (an open's fixed cost is counted in statements); empty for a new file.</summary>
    private static Dictionary<string, string> ReadInfos(DuckDBConnection connection, string key1, string key2)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        using var cmd = connection.CreateCommand();
        cmd.CommandText = "SELECT key, value FROM schema_info WHERE key IN (?, ?)";
        cmd.Parameters.Add(new DuckDBParameter(key1));
        cmd.Parameters.Add(new DuckDBParameter(key2));
        try
        {
            using var reader = cmd.ExecuteReader();
            while (reader.Read())
            {
                values[reader.GetString(0)] = reader.GetString(1);
            }
        }
        catch (DuckDBException ex) when (DuckDbErrors.IsCatalogError(ex))
        {
            // a new file: no schema_info yet
        }

        return values;
    }

    private static void WriteInfo(DuckDBConnection connection, string key, string value)
    {
        using var cmd = connection.CreateCommand();
        cmd.CommandText = "INSERT OR REPLACE INTO schema_info VALUES (?, ?)";
        cmd.Parameters.Add(new DuckDBParameter(key));
        cmd.Parameters.Add(new DuckDBParameter(value));
        cmd.ExecuteNonQuery();
    }

    private static int ReadSchemaVersion(DuckDBConnection connection) =>
        ReadInfo(connection, "schema_version") is { } s ? int.Parse(s, System.Globalization.CultureInfo.InvariantCulture) : 0;

    internal static void Execute(DuckDBConnection connection, string sql)
    {
        using var cmd = connection.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }
}

/// <summary>One step of opening a database for writing and how long it took (<see cref="LayerStatsDatabase.OpenPhases"/>).</summary>
public sealed record OpenPhase(string Name, TimeSpan Time);

/// <summary>The database file is locked by another process (another scan, or a reader while a scan writes).</summary>
public sealed class DatabaseLockedException(string message, Exception inner) : IOException(message, inner);

/// <summary>
/// DuckDB settings chosen deliberately (benchmarks/README.md, "Whole scan" and "Peak memory"). A scan: an 80 MB
/// buffer-manager limit, one DuckDB thread, and the memory DuckDB frees given back every 50 ms. (80 MB since the
/// analysis streams its rows under a lower limit, AnalysisMemoryLimitMegabytes: the end-of-run step then became the
/// peak of a million-file layer, 230-247 MiB at 96 MB, 214-222 MiB at 80, 218-225 MiB at 64, CPU the same within
/// noise. The figures below are those of the 96 MB limit.) The whole process
/// (DuckDB's buffers and what it allocates beside them, the .NET heap, ~80 MB of mapped libraries) then peaked at
/// 250-255 MiB on a layer of a million tiny files (at 128 MB: 261-278 MiB; before the purge and the end-of-run changes:
/// 348 MiB), at ~7 % more CPU on that input only (the end-of-run sorts spill more); the default data set's CPU did not
/// move (2.37 vs 2.39 s, peak 205 → 155 MiB). One thread because a scan's statements are small and many, its own work
/// runs on the pipeline's threads, and idle DuckDB workers polling for tasks cost a scan of 500 small images a third
/// of its CPU; the end-of-run step, one large aggregation, keeps that one thread too (a second one costs its own sort
/// and hash-table memory, ~30-40 MB at the peak on a million-file layer, and made a two-layer million-file image fall
/// back to the report limit). The purge: libduckdb's jemalloc otherwise kept 70-140 MB of freed pages in such a scan
/// (NativeMemory). Reports get one thread per core and 1 GB, since their queries parallelise, and no purge (0).
/// </summary>
public sealed record DatabaseOptions(int MemoryLimitMegabytes = 128, int Threads = 0, int AllocatorPurgeMilliseconds = 0)
{
    /// <summary>For a scan (read-write): 80 MB, one thread, freed memory returned every 50 ms: the whole process within issue 5's 256 MB.</summary>
    public static DatabaseOptions Scan { get; } = new(MemoryLimitMegabytes: 80, Threads: 1, AllocatorPurgeMilliseconds: 50);

    /// <summary>For reports and queries (read-only): aggregations over tens of millions of file rows get 1 GB before they spill.</summary>
    public static DatabaseOptions Reports { get; } = new(MemoryLimitMegabytes: 1024);

    public int EffectiveThreads => Threads > 0 ? Threads : Environment.ProcessorCount;

    /// <summary>
    /// DuckDB's memory limit while a stored content of <see cref="AnalysisLimitFromEntries"/> rows or more streams into an
    /// image's analysis (then back to <see cref="MemoryLimitMegabytes"/>): the buffer pool kept ~40 MB of blocks beside a
    /// million-path analysis trie. Streaming needs a few blocks at a time.
    /// </summary>
    public int AnalysisMemoryLimitMegabytes { get; init; } = 16;

    /// <summary>
    /// DuckDB's memory limit while a layer too big for one transaction loads in chunks (DuckDbScanStore.DefaultLoadChunkRows;
    /// then back to <see cref="MemoryLimitMegabytes"/>). Such a load writes whole row groups to the file as it goes, and
    /// the buffer pool kept those blocks up to the full limit beside the other layers' work: a million-file layer
    /// scanned with the scale-4 set peaked at 243-260 MiB with 80 MB, 222-229 with 40 (jemalloc 108-112 → 85 MiB at the
    /// peak; benchmarks/README.md, "Peak memory"). Only while such a load runs: a scan of 2,000 small images under
    /// 40 MB throughout spilled the tables' uncheckpointed rows and took twice the CPU.
    /// </summary>
    public int ChunkedLoadMemoryLimitMegabytes { get; init; } = 40;

    /// <summary>The row count of a stored content from which its analysis streams under <see cref="AnalysisMemoryLimitMegabytes"/>
    /// (smaller ones keep the pool: the blocks they would evict are those the next loads and images use).</summary>
    public long AnalysisLimitFromEntries { get; init; } = 100_000;
}
