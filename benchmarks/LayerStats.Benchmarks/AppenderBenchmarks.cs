using System.Globalization;
using BenchmarkDotNet.Attributes;
using LayerStats.Core.Layers;
using LayerStats.Core.Model;
using LayerStats.Core.Scanning;
using LayerStats.Storage;

namespace LayerStats.Benchmarks;

/// <summary>
/// Appender batches: <see cref="Rows"/> file rows as the tar walk makes them, appended in batches of 4,096 into a fresh
/// <c>files</c> table of an on-disk database through the store's real path (<c>BeginLayerLoad</c>, <c>Append</c> per
/// batch, <c>Commit</c>, so DuckDB's flush and commit of the rows are included), either by filling DuckDB's data chunks
/// directly (<see cref="FileRowAppender"/>) or through DuckDB.NET's appender (the path before it). The mean is per row
/// (OperationsPerInvoke): rows/s = 10⁹ / mean in ns.
/// </summary>
[MemoryDiagnoser]
public class AppenderBenchmarks
{
    private const int BatchRows = 4096;
    private static readonly Digest DiffId = Digest.Compute("appender benchmark content"u8);
    private static readonly Digest Blob = Digest.Compute("appender benchmark blob"u8);

    /// <summary>Rows a load appends: more than one chunk of the store's (122,880) so a chunk commit is included.</summary>
    public const int Rows = 250_000;

    [Params("data chunks", "DuckDB.NET appender")]
    public string Path { get; set; } = "data chunks";

    private FileEntry[] _entries = [];
    private string _dir = "";
    private LayerStatsDatabase? _database;
    private DuckDbScanStore? _store;
    private int _run;

    [GlobalSetup]
    public void Setup() => _entries = Entries(Rows);

    [IterationSetup]
    public void OpenDatabase()
    {
        _dir = Directory.CreateTempSubdirectory("appender2-bench-").FullName;
        _database = LayerStatsDatabase.Open(System.IO.Path.Combine(_dir, "bench.duckdb"));
        _store = new DuckDbScanStore(_database) { DuckDbNetAppender = Path != "data chunks" };
        _run = _store.BeginRun(new ScanRunStart(DateTimeOffset.UtcNow, "bench", FileHashing.Xxh128, 1));
    }

    [IterationCleanup]
    public void CloseDatabase()
    {
        _store?.Dispose();
        _database?.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    [Benchmark(Description = "append file rows in batches of 4,096 + commit (per row)", OperationsPerInvoke = Rows)]
    public bool AppendBatches()
    {
        using var load = _store!.BeginLayerLoad(_run, DiffId, FileHashing.Xxh128);
        for (int i = 0; i < _entries.Length; i += BatchRows)
        {
            load.Append(_entries.AsSpan(i, Math.Min(BatchRows, _entries.Length - i)));
        }

        return load.Commit(
            new LayerRecord(Blob, 1, MediaTypes.OciLayerGzip, Compression.Gzip, DiffId, 1, false),
            new LayerContentRecord(DiffId, 1, _entries.Length, FileHashing.Xxh128));
    }

    /// <summary>The benchmark's loop, timed by phase (append, commit), <paramref name="loads"/> times into fresh databases.</summary>
    internal static void Profile(int rows, bool duckDbNet, int loads)
    {
        var entries = Entries(rows);
        for (int l = 0; l < loads; l++)
        {
            var bench = new AppenderBenchmarks { Path = duckDbNet ? "DuckDB.NET appender" : "data chunks", _entries = entries };
            bench.OpenDatabase();
            try
            {
                var cpu = System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime;
                long start = System.Diagnostics.Stopwatch.GetTimestamp();
                using var load = bench._store!.BeginLayerLoad(bench._run, DiffId, FileHashing.Xxh128);
                for (int i = 0; i < entries.Length; i += BatchRows)
                {
                    load.Append(entries.AsSpan(i, Math.Min(BatchRows, entries.Length - i)));
                }

                var appended = System.Diagnostics.Stopwatch.GetElapsedTime(start);
                _ = load.Commit(
                    new LayerRecord(Blob, 1, MediaTypes.OciLayerGzip, Compression.Gzip, DiffId, 1, false),
                    new LayerContentRecord(DiffId, 1, entries.Length, FileHashing.Xxh128));
                var total = System.Diagnostics.Stopwatch.GetElapsedTime(start);
                cpu = System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime - cpu;
                Console.WriteLine(FormattableString.Invariant(
                    $"{bench.Path}: {rows} rows: append {appended.TotalNanoseconds / rows:F0} ns/row, commit {(total - appended).TotalNanoseconds / rows:F0} ns/row, total {total.TotalMilliseconds:F0} ms, process CPU {cpu.TotalMilliseconds:F0} ms"));
            }
            finally
            {
                bench.CloseDatabase();
            }
        }
    }

    /// <summary>
    /// Rows like a distribution's tree (seed 7): paths of 30-80 characters under a few hundred directories, 75 % files
    /// (xxh128 set), 15 % directories, 10 % symlinks (a 10-40 character target); mtimes in whole seconds, uid/gid 0,
    /// NULL where the schema allows (sha256 always: xxh128 hashing).
    /// </summary>
    internal static FileEntry[] Entries(int count)
    {
        var random = new Random(7);
        string[] words = ["usr", "lib", "share", "python3.12", "site-packages", "x86_64-linux-gnu", "locale", "doc", "include", "node_modules", "etc", "bin"];
        var entries = new FileEntry[count];
        for (int i = 0; i < count; i++)
        {
            var path = new System.Text.StringBuilder(80);
            int length = 30 + random.Next(51);
            while (path.Length < length - 12)
            {
                path.Append(words[random.Next(words.Length)]).Append('/');
            }

            path.Append('f').Append(i.ToString("x8", CultureInfo.InvariantCulture)).Append(".py");
            if (path.Length > 80)
            {
                path.Remove(0, path.Length - 80);
            }

            var mtime = DateTimeOffset.FromUnixTimeSeconds(1_700_000_000 + random.Next(10_000_000));
            int kind = random.Next(100);
            entries[i] = kind switch
            {
                < 75 => new FileEntry(i, path.ToString(), EntryKind.File, random.Next(1, 200_000), 0x1A4, 0, 0, mtime, null,
                    new UInt128((ulong)random.NextInt64(), (ulong)random.NextInt64()), null),
                < 90 => new FileEntry(i, path.ToString(), EntryKind.Dir, 0, 0x1ED, 0, 0, mtime, null, null, null),
                _ => new FileEntry(i, path.ToString(), EntryKind.Symlink, 0, 0x1FF, 0, 0, mtime, "../" + new string('l', 7 + random.Next(31)), null, null),
            };
        }

        return entries;
    }
}
