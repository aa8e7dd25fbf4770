using LayerStats.Core.Images;
using LayerStats.Core.Scanning;
using LayerStats.Core.Sources;
using LayerStats.Storage;

namespace LayerStats.Tests.Storage;

/// <summary>
/// content_stats as a base and a delta, on real images: the sample archives scanned one after another, the first into
/// the base and the later ones into the delta over it (as nightly scans into a fleet's store), give every report view
/// the rows of one scan of them all, and the view equals its definition over the files.
/// </summary>
public sealed class DeltaScanTests
{
    private static readonly string[] Views =
    [
        "SELECT * FROM summary",
        "SELECT * FROM file_contents ORDER BY ALL",
        "SELECT * FROM duplicate_files ORDER BY ALL",
        "SELECT * FROM duplicate_bytes_by_directory ORDER BY ALL",
        "SELECT * FROM duplicate_bytes_by_extension ORDER BY ALL",
        "SELECT digest, files FROM layer_summary ORDER BY ALL",
        "SELECT * FROM image_file_duplicates ORDER BY ALL",
    ];

    [Fact]
    public async Task Scans_into_a_delta_over_a_base_give_the_figures_of_one_scan_of_everything()
    {
        string[] inputs = Directory.GetFileSystemEntries(TestPaths.Repo("sample-data", "images")).Order(StringComparer.Ordinal).ToArray();
        Assert.True(inputs.Length >= 4);
        using var dir = new TempDir();

        // One by one: the first scan writes the base (a delta of 0 rows allowed), the later ones only the delta.
        string stepped = dir.File("stepped.duckdb");
        for (int i = 0; i < inputs.Length; i++)
        {
            await ScanAsync(stepped, [inputs[i]], deltaRows: i == 0 ? 0 : long.MaxValue / 4);
        }

        string once = dir.File("once.duckdb");
        await ScanAsync(once, inputs, deltaRows: 0);

        using var a = LayerStatsDatabase.OpenReadOnly(stepped);
        using var b = LayerStatsDatabase.OpenReadOnly(once);
        Assert.True(Count(a, "SELECT count(*) FROM content_stats_base") > 0);
        Assert.True(Count(a, "SELECT count(*) FROM content_stats_delta") > 0);
        Assert.True(Count(a, "SELECT count(*) FROM content_stats_delta WHERE replaces IS NOT NULL") > 0, "a later scan met contents of the first");
        Assert.Equal(0, Count(b, "SELECT count(*) FROM content_stats_delta"));
        Assert.True(Count(a, "SELECT fresh::INT FROM derived_state") == 1 && Count(b, "SELECT fresh::INT FROM derived_state") == 1);
        foreach (string view in Views)
        {
            Assert.Equal(Rows(b, view), Rows(a, view));
        }

        // And the view is its definition (docs/schema.md) over the files.
        const string definition = """
            SELECT xxh128, size, count(*), count(DISTINCT diff_id), min(path),
                   CASE WHEN count(*) >= 2 THEN list(DISTINCT path ORDER BY path)[1:5] END
            FROM content_files GROUP BY xxh128, size
            """;
        const string actual = "SELECT xxh128, size, occurrences, layers, first_path, example_paths FROM content_stats";
        Assert.Equal(Rows(a, definition + " ORDER BY ALL"), Rows(a, actual + " ORDER BY ALL"));
    }

    private static async Task ScanAsync(string path, string[] inputs, long deltaRows)
    {
        LayerStatsDatabase? db = null;
        DuckDbScanStore? store = null;
        var sources = inputs.Select(i => ImageSources.Open(i)).ToArray();
        try
        {
            var pipeline = new ScanPipeline(() => store = new DuckDbScanStore(db = LayerStatsDatabase.Open(path, DatabaseOptions.Scan)) { DerivedDeltaRows = deltaRows }, new ScanOptions());
            var summary = await pipeline.RunAsync(sources, CancellationToken.None);
            Assert.Empty(summary.Errors);
            Assert.Empty(store!.Warnings); // the end-of-run step finished
        }
        finally
        {
            db?.Dispose();
            foreach (var source in sources)
            {
                await source.DisposeAsync();
            }
        }
    }

    private static long Count(LayerStatsDatabase db, string sql) => Convert.ToInt64(ReportQueries.Run(db, sql).Rows.Single()[0], System.Globalization.CultureInfo.InvariantCulture);

    private static List<string> Rows(LayerStatsDatabase db, string sql) =>
        ReportQueries.Run(db, sql).Rows.Select(r => string.Join('|', r.Select(v => v switch
        {
            null => "∅",
            System.Collections.IEnumerable e and not string => "[" + string.Join(',', e.Cast<object?>()) + "]",
            _ => Convert.ToString(v, System.Globalization.CultureInfo.InvariantCulture),
        }))).ToList();
}
