using LayerStats.Core.Layers;
using LayerStats.Core.Scanning;
using LayerStats.Core.Sources;
using LayerStats.Storage;

namespace LayerStats.Tests.Storage;

/// <summary>A scan through the pipeline (two jobs) into a database, with a store set up by the test.</summary>
internal static class StoreScan
{
    /// <summary>Scans <paramref name="inputs"/>; <paramref name="read"/> reads what the test wants of the store after the scan.</summary>
    public static (ScanSummary Summary, T Store) Run<T>(
        string database, IReadOnlyList<string> inputs, Func<LayerStatsDatabase, DuckDbScanStore> store, Func<DuckDbScanStore, T> read,
        FileHashing hashing = FileHashing.Xxh128)
    {
        using var db = LayerStatsDatabase.Open(database);
        using var scanStore = store(db);
        var sources = inputs.Select(i => ImageSources.Open(i)).ToList();
        try
        {
            var summary = new ScanPipeline(scanStore, new ScanOptions(Jobs: 2, Hashing: hashing)).RunAsync(sources, CancellationToken.None).GetAwaiter().GetResult();
            return (summary, read(scanStore));
        }
        finally
        {
            foreach (var source in sources)
            {
                source.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
        }
    }
}
