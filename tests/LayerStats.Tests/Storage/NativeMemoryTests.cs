using LayerStats.Storage;
using Xunit;

namespace LayerStats.Tests.Storage;

/// <summary>
/// The binding to libduckdb's jemalloc (NativeMemory): on linux-x64, where DuckDB ships with jemalloc, its controls
/// must answer, or the scan's purge (DatabaseOptions.AllocatorPurgeMilliseconds) would silently do nothing.
/// </summary>
public sealed class NativeMemoryTests
{
    [Fact]
    public void Jemalloc_under_duckdb_answers_and_takes_the_purge_command()
    {
        if (!OperatingSystem.IsLinux() || System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture != System.Runtime.InteropServices.Architecture.X64)
        {
            Assert.False(NativeMemory.Purge()); // no jemalloc in libduckdb elsewhere: nothing to purge
            return;
        }

        string dir = Directory.CreateTempSubdirectory("ls-native-").FullName;
        try
        {
            using var db = LayerStatsDatabase.Open(Path.Combine(dir, "t.duckdb"));
            // Something for DuckDB to allocate and free: a hash aggregate over 2 M strings.
            LayerStatsDatabase.Execute(db.Connection, "CREATE TABLE t AS SELECT count(DISTINCT 'p' || (i % 1000003)::VARCHAR) AS n FROM range(2000000) r(i)");
            var figures = NativeMemory.Read();
            Assert.NotNull(figures);
            Assert.True(figures.Value.Allocated > 0, $"allocated {figures.Value.Allocated}");
            Assert.True(figures.Value.Resident >= figures.Value.Allocated / 2, $"resident {figures.Value.Resident}, allocated {figures.Value.Allocated}");
            // How much is unused before and after depends on the other tests' DuckDB instances (one jemalloc per process,
            // and their scans purge it too): the command itself must be taken.
            Assert.True(NativeMemory.Purge());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
