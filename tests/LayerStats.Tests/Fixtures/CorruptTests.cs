using System.IO.Compression;
using System.Text.Json;
using LayerStats.Fixtures;

namespace LayerStats.Tests.Fixtures;

public sealed class CorruptTests
{
    private static BuiltImage Image(LayerCompression compression = LayerCompression.Gzip) => new ImageBuilder()
        .Layer(new LayerBuilder(implicitParents: true).File("etc/a", Content.Text("a", 200)).File("usr/bin/b", Content.Binary("b", 40_000)), compression)
        .Layer(new LayerBuilder(implicitParents: true).File("etc/c", "c\n"), compression)
        .Build().Tagged("broken:1");

    [Fact]
    public void FlipBlobByte_stores_bytes_that_no_longer_match_the_digest_and_skopeo_refuses_the_copy()
    {
        var image = Image();
        var layer = image.Layers[0];
        var broken = Corrupt.FlipBlobByte(image, layer.Digest, offset: 500);
        Assert.NotEqual(layer.Digest, FixtureTools.Sha256(broken.Blobs[layer.Digest]));
        Assert.Equal(layer.Blob.Length, broken.Blobs[layer.Digest].Length);

        var dir = TempDir.Create();
        ArchiveWriter.OciLayout(dir["layout"], broken);
        var (code, _, stderr) = FixtureTools.Run("skopeo", "copy", "-q", "oci:" + dir["layout"] + ":broken:1", "dir:" + dir["copy"]);
        Assert.NotEqual(0, code);
        Assert.Contains("digest", stderr, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void WithoutBlob_leaves_the_manifest_naming_an_absent_blob()
    {
        var image = Image();
        var dir = TempDir.Create();
        ArchiveWriter.OciLayout(dir["layout"], Corrupt.WithoutBlob(image, image.Layers[1].Digest));
        Assert.False(File.Exists(Path.Combine(dir["layout"], "blobs/sha256", image.Layers[1].Digest[7..])));
        Assert.True(File.Exists(Path.Combine(dir["layout"], "blobs/sha256", image.Layers[0].Digest[7..])));
        var (code, _, _) = FixtureTools.Run("skopeo", "copy", "-q", "oci:" + dir["layout"] + ":broken:1", "dir:" + dir["copy"]);
        Assert.NotEqual(0, code);
    }

    [Fact]
    public void WrongDiffId_states_a_diff_id_that_the_layer_does_not_have_but_keeps_every_blob_digest_right()
    {
        var image = Image();
        var broken = Corrupt.WrongDiffId(image, 1);
        var config = JsonDocument.Parse(broken.ConfigBytes).RootElement;
        var diffIds = config.GetProperty("rootfs").GetProperty("diff_ids").EnumerateArray().Select(d => d.GetString()).ToList();
        Assert.Equal(image.Layers[0].DiffId, diffIds[0]);
        Assert.NotEqual(FixtureTools.Sha256(FixtureTools.Decompress(broken.Layers[1].Blob)), diffIds[1]);

        var manifest = JsonDocument.Parse(broken.ManifestBytes).RootElement;
        Assert.Equal(FixtureTools.Sha256(broken.ConfigBytes), manifest.GetProperty("config").GetProperty("digest").GetString());
        Assert.Equal(broken.ConfigBytes, broken.Blobs[broken.ConfigDigest]);
        // skopeo copies blobs by digest and does not check diff_ids: the archive is well-formed otherwise
        var dir = TempDir.Create();
        ArchiveWriter.OciLayout(dir["layout"], broken);
        FixtureTools.RunOk("skopeo", "copy", "-q", "oci:" + dir["layout"] + ":broken:1", "dir:" + dir["copy"]);
    }

    [Theory]
    [InlineData(LayerCompression.Gzip)]
    [InlineData(LayerCompression.Zstd)]
    public void TruncateLayer_gives_a_blob_with_a_right_digest_that_fails_to_decompress(LayerCompression compression)
    {
        var image = Image(compression);
        var broken = Corrupt.TruncateLayer(image, 0, keepBytes: image.Layers[0].Blob.Length / 2);
        var layer = broken.Layers[0];
        Assert.Equal(FixtureTools.Sha256(layer.Blob), layer.Digest);
        var manifest = JsonDocument.Parse(broken.ManifestBytes).RootElement;
        Assert.Equal(layer.Digest, manifest.GetProperty("layers")[0].GetProperty("digest").GetString());
        Assert.Equal(layer.Blob.Length, manifest.GetProperty("layers")[0].GetProperty("size").GetInt64());
        Assert.Equal(image.ConfigBytes, broken.ConfigBytes);
        if (compression == LayerCompression.Zstd)
        {
            Assert.ThrowsAny<Exception>(() => FixtureTools.Decompress(layer.Blob));
        }
        else
        {
            // GZipStream does not throw on a truncated member: it returns a short stream (readers must notice that,
            // e.g. by the diff_id check). GNU gzip, an independent reader, reports the truncation.
            var partial = FixtureTools.Decompress(layer.Blob);
            Assert.True(partial.Length < image.Layers[0].UncompressedSize);
            var dir = TempDir.Create();
            File.WriteAllBytes(dir["l.gz"], layer.Blob);
            var (code, _, stderr) = FixtureTools.Run("gzip", "-t", dir["l.gz"]);
            Assert.NotEqual(0, code);
            Assert.Contains("unexpected end of file", stderr, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void ReplaceInTar_with_garbage_json_and_RemoveFromTar_edit_one_entry_and_keep_the_rest()
    {
        var image = Image(LayerCompression.None);
        var dir = TempDir.Create();
        ArchiveWriter.DockerSaveLegacy(dir["a.tar"], image);
        var before = Corrupt.ReadTarFiles(dir["a.tar"]);
        var layerPath = JsonDocument.Parse(before["manifest.json"]).RootElement[0].GetProperty("Layers")[1].GetString()!;

        Corrupt.RemoveFromTar(dir["a.tar"], layerPath);
        var after = Corrupt.ReadTarFiles(dir["a.tar"]);
        Assert.Equal(before.Keys.Where(k => k != layerPath), after.Keys);
        Assert.Contains(layerPath, JsonDocument.Parse(after["manifest.json"]).RootElement[0].GetProperty("Layers").EnumerateArray().Select(l => l.GetString()));
        Assert.NotEqual(0, FixtureTools.Run("skopeo", "inspect", "docker-archive:" + dir["a.tar"]).ExitCode);

        Corrupt.ReplaceInTar(dir["a.tar"], "manifest.json", Corrupt.GarbageJson);
        Assert.Equal(Corrupt.GarbageJson, Corrupt.ReadTarFiles(dir["a.tar"])["manifest.json"]);
        Assert.ThrowsAny<JsonException>(() => JsonDocument.Parse(Corrupt.GarbageJson));
    }

    [Fact]
    public void FlipByteInTar_changes_one_layer_tar_so_its_sha256_is_no_longer_the_diff_id()
    {
        var image = Image(LayerCompression.None);
        var dir = TempDir.Create();
        ArchiveWriter.DockerSaveLegacy(dir["a.tar"], image);
        var layerPath = JsonDocument.Parse(Corrupt.ReadTarFiles(dir["a.tar"])["manifest.json"]).RootElement[0].GetProperty("Layers")[0].GetString()!;
        Corrupt.FlipByteInTar(dir["a.tar"], layerPath, 600);
        var bytes = Corrupt.ReadTarFiles(dir["a.tar"])[layerPath];
        Assert.Equal(image.Layers[0].UncompressedSize, bytes.Length);
        Assert.NotEqual(image.Layers[0].DiffId, FixtureTools.Sha256(bytes));
        Assert.Equal(1, bytes.Zip(image.Layers[0].Uncompressed).Count(p => p.First != p.Second));
    }

    [Fact]
    public void FlipByte_changes_exactly_one_byte_of_a_file()
    {
        var dir = TempDir.Create();
        File.WriteAllBytes(dir["f"], [1, 2, 3]);
        Corrupt.FlipByte(dir["f"], 1);
        Assert.Equal(new byte[] { 1, 0xfd, 3 }, File.ReadAllBytes(dir["f"]));
    }
}
