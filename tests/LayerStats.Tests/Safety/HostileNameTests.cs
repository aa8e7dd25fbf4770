using LayerStats.Fixtures;
using LayerStats.Tests.EndToEnd;

namespace LayerStats.Tests.Safety;

/// <summary>
/// Names from an image are data: entries that climb out with '../', absolute names, symlinks and hardlinks
/// pointing outside, and SQL in a name are stored as written (bound as parameters) and nothing is created on disk.
/// </summary>
public sealed class HostileNameTests
{
    [Fact]
    public void Escaping_and_sql_names_are_stored_as_data_and_nothing_is_written_outside_the_database()
    {
        using var cli = new CliHarness();
        string marker = "layerstats-escape-" + Guid.NewGuid().ToString("N")[..8];
        string outside = Path.GetTempPath().TrimEnd('/'); // where a naive extractor would write
        string[] names =
        [
            $"../../../../../../..{outside}/{marker}-dotdot",
            $"{outside}/{marker}-absolute",
            "x'); DROP TABLE files; --",
            "\"quoted\" and 'single'",
        ];
        var layer = new LayerBuilder()
            .File(names[0], "climb")
            .File(names[1], "absolute")
            .File(names[2], "sql")
            .File(names[3], "quotes")
            .Symlink("link-out", $"{outside}/{marker}-symlink")
            .Hardlink("hard-out", $"../../{marker}-hardlink");
        var image = new ImageBuilder().Layer(layer, LayerCompression.Gzip, "RUN echo '); DROP TABLE images; --").Build();
        string archive = Path.Combine(cli.Dir, "hostile.tar");
        ArchiveWriter.OciArchive(archive, OciEntry.Of(image, "hostile:1"));
        var before = Directory.GetFileSystemEntries(cli.Dir).Order().ToArray();

        var (exit, _, stderr) = cli.Scan(archive);

        Assert.True(exit == 0, stderr);
        var paths = cli.Query("SELECT path, link_target FROM files ORDER BY seq").Rows;
        Assert.Equal(names[0], paths[0][0]); // kept as written: '..' is data
        Assert.Equal(names[1].TrimStart('/'), paths[1][0]); // a leading '/' is dropped, nothing else
        Assert.Equal(names[2], paths[2][0]);
        Assert.Equal(names[3], paths[3][0]);
        Assert.Equal($"{outside}/{marker}-symlink", paths[4][1]);
        Assert.Equal($"../../{marker}-hardlink", paths[5][1]);
        Assert.Equal(6L, cli.Scalar("SELECT count(*) FROM files"));
        Assert.Equal(1L, cli.Scalar("SELECT count(*) FROM images"));
        Assert.Equal("RUN echo '); DROP TABLE images; --", cli.Query("SELECT created_by FROM image_layers").Rows[0][0]);

        // Nothing named by the image exists anywhere a path could have led; the scan added only the database.
        Assert.Empty(Directory.GetFileSystemEntries(outside, marker + "*", SearchOption.TopDirectoryOnly));
        Assert.Empty(Directory.GetFileSystemEntries("/", marker + "*", SearchOption.TopDirectoryOnly));
        var after = Directory.GetFileSystemEntries(cli.Dir).Order().ToArray();
        Assert.Equal([.. before, cli.Database], after.Where(p => !p.EndsWith(".wal", StringComparison.Ordinal)).Order().ToArray());
    }
}
