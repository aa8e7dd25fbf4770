using System.Numerics;
using System.Security.Cryptography;
using LayerStats.Fixtures;

namespace LayerStats.Tests.EndToEnd;

public sealed class FileHashTests
{
    [Fact]
    public void File_hash_sha256_stores_each_files_sha256_and_upgrades_layers_scanned_without_it()
    {
        using var cli = new CliHarness();
        byte[] big = Content.Binary("big", 300_000);
        var layer = new LayerBuilder().Dir("bin").File("bin/tool", big).File("etc/motd", "hello\n").Hardlink("bin/tool2", "bin/tool").Symlink("bin/sh", "tool");
        var image = new ImageBuilder().Layer(layer, LayerCompression.Zstd, "ADD").Build();
        string path = Path.Combine(cli.Dir, "img.tar");
        ArchiveWriter.OciArchive(path, OciEntry.Of(image, "img:1"));

        // First without SHA-256: XxHash128 only.
        Assert.Equal(0, cli.Scan(path).Exit);
        Assert.Equal(0L, cli.Scalar("SELECT count(sha256) FROM files"));
        var before = cli.Summary();

        // Asking for SHA-256 re-reads the layer (its stored rows lack it) and replaces its rows.
        var (exit, _, stderr) = cli.Run("scan", "--db", cli.Database, "--quiet", "--file-hash", "sha256", path);
        Assert.True(exit == 0, stderr);
        var rows = cli.Query("SELECT path, kind, sha256, xxh128 FROM files ORDER BY seq").Rows;
        Assert.Equal(["bin", "bin/tool", "etc/motd", "bin/tool2", "bin/sh"], rows.Select(r => (string)r[0]!));
        Assert.Equal(SHA256.HashData(big), (byte[])rows[1][2]!);
        Assert.Equal(SHA256.HashData("hello\n"u8), (byte[])rows[2][2]!);
        Assert.All(rows.Where(r => (string)r[1]! != "file"), r => Assert.Null(r[2]));
        Assert.Equal((BigInteger)System.IO.Hashing.XxHash128.HashToUInt128(big), (BigInteger)rows[1][3]!);
        Assert.Equal(before, cli.Summary());
        var runs = cli.Query("SELECT layers_read, layers_skipped FROM scan_runs ORDER BY run_id").Rows;
        Assert.Equal(1, Convert.ToInt32(runs[1][0]));

        // A third scan without --file-hash finds SHA-256 rows, which satisfy it: nothing is read.
        Assert.Equal(0, cli.Scan(path).Exit);
        Assert.Equal(0, Convert.ToInt32(cli.Query("SELECT layers_read FROM scan_runs ORDER BY run_id DESC LIMIT 1").Rows[0][0]));
        Assert.Equal(2L, cli.Scalar("SELECT count(sha256) FROM files"));
    }
}
