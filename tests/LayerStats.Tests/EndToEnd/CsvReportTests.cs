using System.Text.Json;
using CsvHelper;
using LayerStats.Fixtures;

namespace LayerStats.Tests.EndToEnd;

public sealed class CsvReportTests
{
    private static readonly string[] HostileNames = ["etc/dup,one.txt", "etc/dup \"two\"\n.txt", "etc/=HYPERLINK(\"http://x\").txt", "etc/ü — 漢字.txt"];

    [Fact]
    public void Report_csv_writes_one_rfc4180_file_per_report_with_exact_values()
    {
        using var cli = new CliHarness();
        string archive = WriteHostileImage(cli.Dir);
        Assert.Equal(0, cli.Scan(archive).Exit);
        string outDir = Path.Combine(cli.Dir, "csv");

        var (exit, stdout, stderr) = cli.Run("report", "csv", "--db", cli.Database, "--out", outDir);

        Assert.True(exit == 0, stderr);
        Assert.Equal(
            ["duplicates.csv", "images.csv", "shared-bases.csv", "shared-layers.csv", "summary.csv", "trend.csv"],
            Directory.GetFiles(outDir).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal(6, stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);

        // The summary: the header is the view's column names, the values the raw integers of the view.
        var summary = Read(Path.Combine(outDir, "summary.csv"));
        var expected = cli.Summary();
        Assert.Equal(expected.Keys, summary.Header);
        Assert.Equal(expected["file_content_bytes"]!.ToString(), summary.Rows[0][Array.IndexOf(summary.Header, "file_content_bytes")]);

        // Duplicates: the four hostile names hold one content; their paths come back exactly, as a JSON list.
        var duplicates = Read(Path.Combine(outDir, "duplicates.csv"));
        var row = Assert.Single(duplicates.Rows);
        Assert.Equal("4", row[Array.IndexOf(duplicates.Header, "occurrences")]);
        var paths = JsonSerializer.Deserialize<string[]>(row[Array.IndexOf(duplicates.Header, "example_paths")])!;
        Assert.Equal(HostileNames.Order(StringComparer.Ordinal), paths);
        Assert.DoesNotContain('\r', File.ReadAllText(Path.Combine(outDir, "duplicates.csv")));
    }

    [Fact]
    public void Excel_safe_escapes_cells_a_spreadsheet_would_run_as_formulas()
    {
        using var cli = new CliHarness();
        Assert.Equal(0, cli.Scan(WriteHostileImage(cli.Dir)).Exit);
        string plain = Path.Combine(cli.Dir, "plain");
        string safe = Path.Combine(cli.Dir, "safe");
        Assert.Equal(0, cli.Run("report", "csv", "--db", cli.Database, "--out", plain).Exit);
        Assert.Equal(0, cli.Run("report", "csv", "--db", cli.Database, "--out", safe, "--excel-safe").Exit);

        // A cell holding a formula-like value: the image's name is a tag we chose to start with '-'.
        string Cell(string dir) => Read(Path.Combine(dir, "images.csv")).Rows[0][Array.IndexOf(Read(Path.Combine(dir, "images.csv")).Header, "names")];
        Assert.Equal("-rm:1", Cell(plain));
        Assert.NotEqual("-rm:1", Cell(safe));
        Assert.EndsWith("-rm:1", Cell(safe), StringComparison.Ordinal);
    }

    private static string WriteHostileImage(string dir)
    {
        var layer = new LayerBuilder();
        foreach (string name in HostileNames)
        {
            layer.File(name, "same content\n");
        }

        var image = new ImageBuilder().Layer(layer, LayerCompression.Gzip, "COPY").Build().Tagged("-rm:1");
        string path = Path.Combine(dir, "hostile.tar");
        ArchiveWriter.DockerSaveLegacy(path, image);
        return path;
    }

    private static (string[] Header, List<string[]> Rows) Read(string path)
    {
        using var reader = CsvReader.Create(File.OpenText(path), new CsvReaderOptions { HasHeader = false });
        var rows = new List<string[]>();
        string[]? header = null;
        while (reader.Read())
        {
            var record = Enumerable.Range(0, reader.FieldCount).Select(i => reader.GetString(i)).ToArray();
            if (header is null)
            {
                header = record;
            }
            else
            {
                rows.Add(record);
            }
        }

        return (header ?? [], rows);
    }
}
