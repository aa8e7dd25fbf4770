using LayerStats.Core.Analysis;
using LayerStats.Core.Layers;
using LayerStats.Core.Model;
using LayerStats.Core.Scanning;
using LayerStats.Storage;

namespace LayerStats.Tests.Storage;

/// <summary>
/// DuckDbScanStore.StreamAnalysisEntries: a stored content's rows, streamed (not materialised); a content of
/// DatabaseOptions.AnalysisLimitFromEntries rows or more streams under the lower AnalysisMemoryLimitMegabytes, and the
/// scan's limit is back once the stream ends, is abandoned, or before the next statement.
/// </summary>
public sealed class AnalysisStreamTests
{
    private static readonly Digest Small = Digest.Compute("small"u8);
    private static readonly Digest Big = Digest.Compute("big"u8);

    private static readonly DatabaseOptions Options = DatabaseOptions.Scan with { AnalysisLimitFromEntries = 4, AnalysisMemoryLimitMegabytes = 16 };

    private static FileEntry[] Entries(int count) =>
        [.. Enumerable.Range(0, count).Select(i => new FileEntry(
            i, i % 3 == 0 ? $"d{i}" : $"d{i - i % 3}/f{i}", i % 3 == 0 ? EntryKind.Dir : EntryKind.File, i % 3 == 0 ? 0 : 100 + i,
            0x1A4, 0, 0, DateTimeOffset.UnixEpoch, null, (UInt128)i, null))];

    private static void Load(DuckDbScanStore store, int run, Digest diffId, FileEntry[] entries)
    {
        using var load = store.BeginLayerLoad(run, diffId, FileHashing.Xxh128);
        load.Append(entries);
        Assert.True(load.Commit(
            new LayerRecord(Digest.Compute(diffId.ToString().Select(c => (byte)c).ToArray()), 10, MediaTypes.OciLayer, Compression.None, diffId, 10, false),
            new LayerContentRecord(diffId, 10, entries.Length, FileHashing.Xxh128)));
    }

    private static string MemoryLimit(DuckDB.NET.Data.DuckDBConnection connection)
    {
        using var cmd = connection.CreateCommand();
        cmd.CommandText = "SELECT current_setting('memory_limit')";
        return (string)cmd.ExecuteScalar()!;
    }

    [Fact]
    public void A_big_content_streams_under_the_lower_limit_and_the_scan_limit_comes_back()
    {
        using var dir = new TempDir();
        using var db = LayerStatsDatabase.Open(dir.File("t.duckdb"), Options);
        using var store = new DuckDbScanStore(db);
        int run = store.BeginRun(new ScanRunStart(DateTimeOffset.UtcNow, "test", FileHashing.Xxh128, 1));
        var small = Entries(3);
        var big = Entries(20);
        Load(store, run, Small, small);
        Load(store, run, Big, big);

        // Another connection to the same database sees the (database-wide) setting while a stream is open.
        using var observer = new DuckDB.NET.Data.DuckDBConnection(db.Connection.ConnectionString); // DuckDB.NET shares the open database
        observer.Open();
        string scanLimit = MemoryLimit(observer);

        var seen = new List<AnalysisEntry>();
        var limits = new List<string>();
        foreach (var entry in store.StreamAnalysisEntries(Big))
        {
            limits.Add(MemoryLimit(observer));
            seen.Add(entry);
        }

        Assert.Equal(
            big.Select(e => new AnalysisEntry(e.Path, e.Kind, e.Size, e.Seq)).OrderBy(e => e.Seq),
            seen.OrderBy(e => e.Seq));
        Assert.All(limits, l => Assert.NotEqual(scanLimit, l));
        Assert.Contains("15.2 MiB", limits[0]); // 16 MB
        Assert.Equal(scanLimit, MemoryLimit(observer));

        // Below the row count: the pool keeps the scan's limit.
        foreach (var _ in store.StreamAnalysisEntries(Small))
        {
            Assert.Equal(scanLimit, MemoryLimit(observer));
        }

        Assert.Equal(3, store.StreamAnalysisEntries(Small).Count());
    }

    [Fact]
    public void An_abandoned_stream_gives_the_scan_limit_back_and_the_connection_stays_usable()
    {
        using var dir = new TempDir();
        using var db = LayerStatsDatabase.Open(dir.File("t.duckdb"), Options);
        using var store = new DuckDbScanStore(db);
        int run = store.BeginRun(new ScanRunStart(DateTimeOffset.UtcNow, "test", FileHashing.Xxh128, 1));
        Load(store, run, Big, Entries(20));
        using var observer = new DuckDB.NET.Data.DuckDBConnection(db.Connection.ConnectionString); // DuckDB.NET shares the open database
        observer.Open();
        string scanLimit = MemoryLimit(observer);

        Assert.Equal(2, store.StreamAnalysisEntries(Big).Take(2).Count());
        Assert.Equal(scanLimit, MemoryLimit(observer));
        Assert.Equal(20, store.StreamAnalysisEntries(Big).Count());
        Assert.Equal(scanLimit, MemoryLimit(observer));
    }
}
