using LayerStats.Core.Layers;
using LayerStats.Core.Scanning;
using LayerStats.Storage;

namespace LayerStats.Tests.Storage;

/// <summary>A database opened for writing with a store on it and a run begun: what most of the store's tests start from.</summary>
internal sealed class OpenStore : IDisposable
{
    public OpenStore(string path, FileHashing hashing = FileHashing.Xxh128)
    {
        Database = LayerStatsDatabase.Open(path);
        Store = new DuckDbScanStore(Database);
        Run = Store.BeginRun(new ScanRunStart(DateTimeOffset.UtcNow, "test", hashing, 1));
    }

    public LayerStatsDatabase Database { get; }

    public DuckDbScanStore Store { get; }

    public int Run { get; }

    public void Dispose()
    {
        Store.Dispose();
        Database.Dispose();
    }
}
