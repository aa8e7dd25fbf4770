using LayerStats.Fixtures;

namespace LayerStats.Tests.EndToEnd;

/// <summary>The shared-base prefix tree on the bundled samples, against what the sample set is built from.</summary>
public sealed class SharedBaseTests
{
    [Fact]
    public void The_branch_points_are_the_gzip_base_under_four_images_and_the_legacy_base_under_two()
    {
        var set = Samples.Build();
        using var cli = new CliHarness();
        Assert.Equal(0, cli.Scan(Directory.GetFileSystemEntries(TestPaths.Repo("sample-data", "images"))).Exit);

        var rows = cli.Query("SELECT layers, base_bytes, images, saved_bytes, image_ids, layer_digests FROM shared_bases ORDER BY images DESC").Rows;
        Assert.Equal(2, rows.Count);

        // base:1.0, web:1.0, worker:1.0 and worker:1.1 (OCI / Docker 25+) all start with base's three gzip blobs;
        // worker:1.0 and 1.1 part after them (the rebuilt app layer), web has its own layers: nothing deeper is shared.
        long gzipBase = set.Base.Layers.Take(3).Sum(l => l.Size);
        Assert.Equal(3, Convert.ToInt32(rows[0][0]));
        Assert.Equal(gzipBase, rows[0][1]);
        Assert.Equal(4L, rows[0][2]);
        Assert.Equal(gzipBase * 3, rows[0][3]);
        Assert.Equal(
            new[] { set.Base.ManifestDigest, set.Web.ManifestDigest, set.Worker10.ManifestDigest, set.Worker11.ManifestDigest }.Order(StringComparer.Ordinal),
            ((System.Collections.IEnumerable)rows[0][4]!).Cast<string>());
        Assert.Equal(set.Base.Layers.Take(3).Select(l => l.Digest), ((System.Collections.IEnumerable)rows[0][5]!).Cast<string>());

        // The legacy docker save holds base and web with uncompressed layers: other blobs, a base of their own.
        long legacyBase = set.Base.Layers.Take(3).Sum(l => l.UncompressedSize);
        Assert.Equal(3, Convert.ToInt32(rows[1][0]));
        Assert.Equal(legacyBase, rows[1][1]);
        Assert.Equal(2L, rows[1][2]);
        Assert.Equal(
            new[] { set.Base.ConfigDigest, set.Web.ConfigDigest }.Order(StringComparer.Ordinal),
            ((System.Collections.IEnumerable)rows[1][4]!).Cast<string>());
    }
}
