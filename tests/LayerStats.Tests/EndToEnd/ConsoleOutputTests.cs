using LayerStats.Fixtures;

namespace LayerStats.Tests.EndToEnd;

public sealed class ConsoleOutputTests
{
    [Fact]
    public void Control_characters_in_names_are_escaped_in_tables()
    {
        using var cli = new CliHarness();
        string name = "etc/\u001b[2J\u001b]0;owned\u0007evil.txt";
        var image = new ImageBuilder().Layer(new LayerBuilder().File(name, "x\n").File("etc/copy.txt", "x\n"), LayerCompression.Gzip, "ADD").Build();
        string path = Path.Combine(cli.Dir, "img.tar");
        ArchiveWriter.OciArchive(path, OciEntry.Of(image, "img:1"));
        Assert.Equal(0, cli.Scan(path).Exit);

        var table = cli.Run("query", "--db", cli.Database, "SELECT path FROM files WHERE kind = 'file' ORDER BY path");
        Assert.Equal(0, table.Exit);
        Assert.DoesNotContain('\u001b', table.Stdout);
        Assert.DoesNotContain('\u0007', table.Stdout);
        Assert.Contains("etc/\\x1b[2J\\x1b]0;owned\\x07evil.txt", table.Stdout, StringComparison.Ordinal);

        // JSON keeps the exact name (escaped the JSON way), for scripts.
        var json = cli.Run("query", "--db", cli.Database, "--format", "json", "SELECT path FROM files WHERE kind = 'file' ORDER BY path");
        Assert.DoesNotContain('\u001b', json.Stdout);
        Assert.Equal(name, System.Text.Json.JsonDocument.Parse(json.Stdout).RootElement[0].GetProperty("path").GetString());
    }
}
