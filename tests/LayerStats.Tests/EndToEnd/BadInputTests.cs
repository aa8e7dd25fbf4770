using LayerStats.Fixtures;

namespace LayerStats.Tests.EndToEnd;

/// <summary>
/// Malformed inputs mixed with good ones in one scan: each bad input yields its scan_errors row (naming the
/// input as given), every good input completes exactly, the exit code says something failed, and no
/// image is stored half.
/// </summary>
public sealed class BadInputTests
{
    [Fact]
    public void Each_bad_input_gets_its_error_row_and_the_good_ones_complete_exactly()
    {
        using var cli = new CliHarness();
        string D(string name) => Path.Combine(cli.Dir, name);

        var goodA = Image("good-a", LayerCompression.Gzip);
        var goodB = Image("good-b", LayerCompression.Zstd);
        ArchiveWriter.OciArchive(D("good-a.tar"), OciEntry.Of(goodA, "a"));
        ArchiveWriter.DockerSaveLegacy(D("good-b.tar"), goodB.Tagged("team/b:1"));

        var flipped = Image("flipped", LayerCompression.Gzip);
        ArchiveWriter.OciLayout(D("flipped"), Corrupt.FlipBlobByte(flipped, flipped.Layers[1].Digest, 20));
        var wrongDiff = Image("wrong-diff", LayerCompression.Gzip);
        ArchiveWriter.OciArchive(D("wrong-diff.tar"), Corrupt.WrongDiffId(wrongDiff, 0));
        var missing = Image("missing", LayerCompression.Gzip);
        ArchiveWriter.OciArchive(D("missing.tar"), Corrupt.WithoutBlob(missing, missing.Layers[1].Digest));
        var truncatedGzip = Image("trunc-gz", LayerCompression.Gzip);
        ArchiveWriter.OciArchive(D("trunc-gz.tar"), Corrupt.TruncateLayer(truncatedGzip, 1, truncatedGzip.Layers[1].Blob.Length / 2));
        var truncatedZstd = Image("trunc-zst", LayerCompression.Zstd);
        ArchiveWriter.OciArchive(D("trunc-zst.tar"), Corrupt.TruncateLayer(truncatedZstd, 1, truncatedZstd.Layers[1].Blob.Length / 2));
        var garbage = Image("garbage", LayerCompression.None);
        ArchiveWriter.DockerSaveLegacy(D("garbage.tar"), garbage.Tagged("garbage:1"));
        Corrupt.ReplaceInTar(D("garbage.tar"), "manifest.json", Corrupt.GarbageJson);
        var absent = Image("absent", LayerCompression.None);
        ArchiveWriter.DockerSaveLegacy(D("absent.tar"), absent.Tagged("absent:1"));
        string absentLayer = Corrupt.ReadTarFiles(D("absent.tar")).Keys.First(k => k.EndsWith("/layer.tar", StringComparison.Ordinal));
        Corrupt.RemoveFromTar(D("absent.tar"), absentLayer);
        File.WriteAllBytes(D("empty.tar"), []);
        File.WriteAllText(D("notes.txt"), "this is not an image archive\n");

        string[] bad = ["oci:" + D("flipped"), D("wrong-diff.tar"), D("missing.tar"), D("trunc-gz.tar"), D("trunc-zst.tar"), "docker-archive:" + D("garbage.tar"), D("absent.tar"), D("empty.tar"), D("notes.txt"), D("no-such-file.tar")];
        var (exit, _, stderr) = cli.Scan([D("good-a.tar"), .. bad, D("good-b.tar")]);

        Assert.Equal(1, exit);
        // Exactly the good images, with all their layers.
        var images = cli.Query("SELECT image_id, layer_count FROM images ORDER BY image_id").Rows;
        Assert.Equal(
            new[] { goodA.ManifestDigest, goodB.ConfigDigest }.Order(StringComparer.Ordinal),
            images.Select(r => (string)r[0]!));
        Assert.All(images, r => Assert.Equal(2, Convert.ToInt32(r[1])));
        Assert.Equal(4L, cli.Scalar("SELECT count(*) FROM image_layers"));
        Assert.Equal(0L, cli.Scalar("SELECT count(*) FROM image_layers il WHERE NOT EXISTS (SELECT 1 FROM images i WHERE i.image_id = il.image_id)"));

        // One error row per bad input (at least), naming it exactly as given; none for the good ones.
        var errors = cli.Query("SELECT source, image, layer, message FROM scan_errors").Rows;
        var sources = errors.Select(e => (string)e[0]!).ToHashSet();
        Assert.Equal(bad.ToHashSet(), sources);
        string Message(string source) => string.Join(" | ", errors.Where(e => (string)e[0]! == source).Select(e => (string)e[3]!));
        Assert.True(Message(bad[0]).Contains("digest", StringComparison.OrdinalIgnoreCase), string.Join("\n", errors.Select(e => $"{e[0]} => {e[3]}")));
        Assert.Contains("diff_id", Message(bad[1]), StringComparison.Ordinal);
        Assert.Contains("missing", Message(bad[2]), StringComparison.OrdinalIgnoreCase);
        Assert.Contains("truncated", Message(bad[3]), StringComparison.OrdinalIgnoreCase);
        Assert.Contains("truncated", Message(bad[4]), StringComparison.OrdinalIgnoreCase);
        Assert.Contains("JSON", Message(bad[5]), StringComparison.Ordinal);
        Assert.Contains("does not contain", Message(bad[6]), StringComparison.Ordinal);
        Assert.Contains("empty", Message(bad[7]), StringComparison.OrdinalIgnoreCase);
        Assert.Contains("not an image archive", Message(bad[8]), StringComparison.Ordinal);
        Assert.Contains("not found", Message(bad[9]), StringComparison.OrdinalIgnoreCase);
        // Errors about a layer name the image and the layer.
        var flippedError = errors.First(e => (string)e[0]! == bad[0]);
        Assert.Equal(flipped.ManifestDigest, flippedError[1]);
        Assert.Equal(flipped.Layers[1].Digest, flippedError[2]);
        Assert.Contains(bad[0], stderr, StringComparison.Ordinal);

        // The figures are exactly those of a scan of the good inputs alone.
        using var clean = new CliHarness();
        Assert.Equal(0, clean.Scan(D("good-a.tar"), D("good-b.tar")).Exit);
        Assert.Equal(clean.Summary(), cli.Summary());
        Assert.Equal("failed", cli.Query("SELECT status FROM scan_runs").Rows[0][0]);
    }

    private static BuiltImage Image(string seed, LayerCompression compression) =>
        new ImageBuilder()
            .Layer(new LayerBuilder().Dir("etc").File("etc/" + seed, Content.Text(seed, 20)), compression, "ADD base")
            .Layer(new LayerBuilder().Dir("opt").File("opt/" + seed + ".bin", Content.Binary(seed, 200_000)), compression, "RUN build")
            .Build();
}
