using System.Globalization;
using System.Text.RegularExpressions;
using LayerStats.Fixtures;

namespace LayerStats.Tests.EndToEnd;

/// <summary><c>scan --timings</c>: every phase is reported, and the parts fit inside their wholes.</summary>
public sealed class ScanTimingsTests
{
    [Fact]
    public void Timings_name_every_phase_and_the_parts_fit_their_wholes()
    {
        using var cli = new CliHarness();
        var baseLayer = new LayerBuilder().File("etc/os-release", "ID=test\n").File("usr/bin/tool", new string('x', 8_000_000));
        var image = new ImageBuilder()
            .Layer(baseLayer, LayerCompression.Gzip, "base")
            .Layer(new LayerBuilder().File("app/main", "main\n").File("etc/os-release", "ID=changed\n"), LayerCompression.Zstd, "app")
            .Build();
        string path = Path.Combine(cli.Dir, "img.tar");
        ArchiveWriter.OciArchive(path, OciEntry.Of(image, "img:1"));

        var run = cli.Run("scan", "--db", cli.Database, "--timings", path);
        Assert.Equal(0, run.Exit);
        var seconds = new Dictionary<string, double>();
        foreach (Match m in Regex.Matches(run.Stderr, @"^(?<name>\S.*?|\s{2}\S.*?)\s+(?<s>\d+\.\d{3}) s$", RegexOptions.Multiline))
        {
            seconds[m.Groups["name"].Value.Trim()] = double.Parse(m.Groups["s"].Value, CultureInfo.InvariantCulture);
        }

        string[] expected =
        [
            "open database", "load DuckDB, open the file", "settings", "schema check", "incomplete loads", "begin the run (its row)",
            "list sources", "plan", "read layers (wall)", "workers: reading layers (sum)",
            "workers: of which blocked on the writer", "writer: appending file rows", "writer: committing layers",
            "writer: analysing images", "writer: committing images", "writer: committing groups", "writer: idle", "finish run (totals, derived tables)",
            "checkpoint (log into the file)", "own clock (open to checkpoint)", "CPU in it (user+sys, all threads)",
        ];
        Assert.Equal(expected.Order(StringComparer.Ordinal), seconds.Keys.Order(StringComparer.Ordinal));
        Assert.True(seconds["workers: of which blocked on the writer"] <= seconds["workers: reading layers (sum)"]);
        // 8 MB of tar hashed twice (diff_id, then the file) cannot take under the 0.5 ms that prints as 0.000 s.
        Assert.True(seconds["workers: reading layers (sum)"] > 0, "two layers were read");
        // The image's analysis runs over the entries the writer has just loaded (two small layers): it may take under a
        // millisecond, printed 0.000 s; it lies within the read phase.
        Assert.True(seconds["writer: analysing images"] <= seconds["read layers (wall)"], "the analysis lies within the read phase");
        double writer = seconds["writer: appending file rows"] + seconds["writer: committing layers"] + seconds["writer: analysing images"]
            + seconds["writer: committing images"] + seconds["writer: committing groups"] + seconds["writer: idle"];
        // Every printed figure is rounded to the millisecond: a sum of n of them may exceed its whole by n × 0.5 ms.
        Assert.True(writer <= seconds["read layers (wall)"] + Rounding(7), $"the writer's parts ({writer}) lie within the read phase");
        // The open's steps, one after another, lie within it.
        double openSteps = seconds["load DuckDB, open the file"] + seconds["settings"] + seconds["schema check"] + seconds["incomplete loads"];
        Assert.True(openSteps <= seconds["open database"] + Rounding(5), $"the open's steps ({openSteps}) lie within the open");
        // Listing runs alongside opening the database and beginning the run; everything after them, one after another,
        // within the own clock.
        double sequential = Math.Max(seconds["open database"] + seconds["begin the run (its row)"], seconds["list sources"]) + seconds["plan"] + seconds["read layers (wall)"]
            + seconds["finish run (totals, derived tables)"] + seconds["checkpoint (log into the file)"];
        Assert.True(sequential <= seconds["own clock (open to checkpoint)"] + Rounding(7), $"the phases ({sequential}) lie within the own clock");
        Assert.True(seconds["CPU in it (user+sys, all threads)"] > 0);

        // Without the flag, none of it is printed.
        using var quiet = new CliHarness();
        var plain = quiet.Run("scan", "--db", quiet.Database, path);
        Assert.DoesNotContain("writer:", plain.Stderr, StringComparison.Ordinal);
    }

    /// <summary>The most that rounding <paramref name="figures"/> printed figures to the millisecond can add.</summary>
    private static double Rounding(int figures) => figures * 0.0005 + 1e-9;
}
