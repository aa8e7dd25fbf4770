using System.Text.Json;
using LayerStats.Fixtures;

namespace LayerStats.Tests.Fixtures;

public sealed class ArchiveWriterTests
{
    private static LayerBuilder BaseLayer() => new LayerBuilder(implicitParents: true)
        .File("etc/os-release", "ID=demo\n")
        .File("etc/hosts", "127.0.0.1 localhost\n")
        .File("usr/bin/tool", Content.Binary("tool", 30_000), LayerBuilder.DefaultExecMode)
        .Hardlink("usr/bin/tool2", "usr/bin/tool", LayerBuilder.DefaultExecMode)
        .File("var/cache/junk", Content.Text("junk", 30))
        .File("var/lib/state/a", "a\n")
        .File("var/lib/state/b", "b\n");

    private static LayerBuilder TopLayer() => new LayerBuilder(implicitParents: true)
        .Whiteout("var/cache/junk")
        .Opaque("var/lib/state")
        .File("var/lib/state/c", "c\n")
        .File("etc/hosts", "127.0.0.1 localhost app\n");

    private static BuiltImage Image(LayerCompression compression, ManifestFormat format = ManifestFormat.Oci, string arch = "amd64", string? variant = null) =>
        new ImageBuilder("linux", arch, variant, format)
            .Layer(BaseLayer(), compression, createdBy: "ADD rootfs.tar /")
            .EmptyLayerHistory("ENV A=1")
            .Layer(TopLayer(), compression, createdBy: "RUN make")
            .Build().Tagged("demo:1.0");

    [Theory]
    [InlineData(ManifestFormat.Oci)]
    [InlineData(ManifestFormat.DockerSchema2)]
    public void Build_writes_a_manifest_naming_the_config_and_layers_by_digest_and_a_config_with_their_diff_ids(ManifestFormat format)
    {
        var image = Image(LayerCompression.Zstd, format);
        var manifest = JsonDocument.Parse(image.ManifestBytes).RootElement;
        Assert.Equal(image.ManifestMediaType, manifest.GetProperty("mediaType").GetString());
        Assert.Equal(format == ManifestFormat.Oci ? OciMediaTypes.Config : OciMediaTypes.DockerConfig, manifest.GetProperty("config").GetProperty("mediaType").GetString());
        var files = image.Blobs.ToDictionary(b => "blobs/sha256/" + b.Key[7..], b => b.Value);
        var config = JsonDocument.Parse(LayoutChecks.Blob(files, manifest.GetProperty("config"))).RootElement;
        var layers = manifest.GetProperty("layers").EnumerateArray().ToList();
        Assert.Equal(2, layers.Count);
        Assert.Equal(format == ManifestFormat.Oci ? "application/vnd.oci.image.layer.v1.tar+zstd" : "application/vnd.docker.image.rootfs.diff.tar.zstd", layers[0].GetProperty("mediaType").GetString());
        var diffIds = config.GetProperty("rootfs").GetProperty("diff_ids").EnumerateArray().Select(d => d.GetString()).ToList();
        Assert.Equal([FixtureTools.Sha256(BaseLayer().ToTar()), FixtureTools.Sha256(TopLayer().ToTar())], diffIds);
        for (var i = 0; i < 2; i++)
        {
            Assert.Equal(diffIds[i], FixtureTools.Sha256(FixtureTools.Decompress(LayoutChecks.Blob(files, layers[i]))));
        }
        var history = config.GetProperty("history").EnumerateArray().ToList();
        Assert.Equal(["ADD rootfs.tar /", "ENV A=1", "RUN make"], history.Select(h => h.GetProperty("created_by").GetString()));
        Assert.True(history[1].GetProperty("empty_layer").GetBoolean());
        Assert.Equal(("linux", "amd64"), (config.GetProperty("os").GetString(), config.GetProperty("architecture").GetString()));
    }

    [Fact]
    public void Build_is_deterministic()
    {
        var a = Image(LayerCompression.Gzip);
        var b = Image(LayerCompression.Gzip);
        Assert.Equal(a.ManifestDigest, b.ManifestDigest);
        Assert.Equal(a.ConfigBytes, b.ConfigBytes);
    }

    [Fact]
    public void DockerSaveLegacy_is_read_by_skopeo_with_the_config_digest_and_diff_ids()
    {
        var image = Image(LayerCompression.Gzip);
        var other = new ImageBuilder().Layer(BaseLayer(), LayerCompression.None).Build().Tagged("other:2", "other:latest");
        var dir = TempDir.Create();
        ArchiveWriter.DockerSaveLegacy(dir["save.tar"], image, other);

        var files = Corrupt.ReadTarFiles(dir["save.tar"]);
        var manifest = JsonDocument.Parse(files["manifest.json"]).RootElement.EnumerateArray().ToList();
        Assert.Equal(2, manifest.Count);
        Assert.Equal(image.ConfigDigest[7..] + ".json", manifest[0].GetProperty("Config").GetString());
        var layerPaths = manifest[0].GetProperty("Layers").EnumerateArray().Select(l => l.GetString()!).ToList();
        Assert.Equal(image.DiffIds, layerPaths.Select(p => FixtureTools.Sha256(files[p])));
        // the shared first layer is stored once: both images name the same layer.tar
        Assert.Equal(layerPaths[0], manifest[1].GetProperty("Layers")[0].GetString());
        Assert.Equal(3, files.Keys.Count(k => k.EndsWith("/layer.tar", StringComparison.Ordinal)) + 1);
        Assert.Equal(["other:2", "other:latest"], manifest[1].GetProperty("RepoTags").EnumerateArray().Select(t => t.GetString()));

        var inspect = JsonDocument.Parse(FixtureTools.RunOk("skopeo", "inspect", "docker-archive:" + dir["save.tar"] + ":demo:1.0")).RootElement;
        Assert.Equal(image.DiffIds, inspect.GetProperty("Layers").EnumerateArray().Select(l => l.GetString()));
        var rawConfig = FixtureTools.RunOk("skopeo", "inspect", "--config", "--raw", "docker-archive:" + dir["save.tar"] + ":other:latest");
        Assert.Equal(other.ConfigDigest, FixtureTools.Sha256(System.Text.Encoding.UTF8.GetBytes(rawConfig)));
    }

    [Fact]
    public void DockerSave25_has_an_OCI_layout_and_a_manifest_json_that_skopeo_reads_and_copies()
    {
        var image = Image(LayerCompression.Gzip);
        var dir = TempDir.Create();
        ArchiveWriter.DockerSave25(dir["save.tar"], image);

        var files = Corrupt.ReadTarFiles(dir["save.tar"]);
        var manifests = LayoutChecks.VerifyOciLayout(files);
        Assert.Equal([image.ManifestDigest], manifests.Keys);
        var index = JsonDocument.Parse(files["index.json"]).RootElement.GetProperty("manifests")[0].GetProperty("annotations");
        Assert.Equal("docker.io/library/demo:1.0", index.GetProperty("io.containerd.image.name").GetString());
        Assert.Equal("1.0", index.GetProperty(OciMediaTypes.RefNameAnnotation).GetString());
        var legacy = JsonDocument.Parse(files["manifest.json"]).RootElement[0];
        Assert.Equal("blobs/sha256/" + image.ConfigDigest[7..], legacy.GetProperty("Config").GetString());
        Assert.Equal(image.Layers.Select(l => "blobs/sha256/" + l.Digest[7..]), legacy.GetProperty("Layers").EnumerateArray().Select(l => l.GetString()));

        FixtureTools.RunOk("skopeo", "copy", "-q", "docker-archive:" + dir["save.tar"] + ":demo:1.0", "dir:" + dir["copy"]);
        Assert.Equal(image.ConfigBytes, File.ReadAllBytes(Path.Combine(dir["copy"], image.ConfigDigest[7..])));
    }

    [Theory]
    [InlineData(LayerCompression.None)]
    [InlineData(LayerCompression.Gzip)]
    [InlineData(LayerCompression.Zstd)]
    [InlineData(LayerCompression.EStargz)]
    public void OciLayout_is_copied_by_skopeo(LayerCompression compression)
    {
        var image = Image(compression);
        var dir = TempDir.Create();
        ArchiveWriter.OciLayout(dir["layout"], image);

        Assert.Equal([image.ManifestDigest], LayoutChecks.VerifyOciLayout(LayoutChecks.ReadDirectory(dir["layout"])).Keys);
        FixtureTools.RunOk("skopeo", "copy", "-q", "oci:" + dir["layout"] + ":demo:1.0", "dir:" + dir["copy"]);
        Assert.Equal(image.ManifestBytes, File.ReadAllBytes(Path.Combine(dir["copy"], "manifest.json")));
        foreach (var layer in image.Layers)
        {
            Assert.Equal(layer.Blob, File.ReadAllBytes(Path.Combine(dir["copy"], layer.Digest[7..])));
        }
    }

    // umoci 0.4.7 (Debian 12) refuses tar+zstd layers by media type, so zstd is checked by skopeo and by decompression.
    [Theory]
    [InlineData(LayerCompression.None)]
    [InlineData(LayerCompression.Gzip)]
    [InlineData(LayerCompression.EStargz)]
    public void OciLayout_is_unpacked_by_umoci_with_whiteouts_and_hardlinks_applied(LayerCompression compression)
    {
        var image = Image(compression);
        var dir = TempDir.Create();
        ArchiveWriter.OciLayout(dir["layout"], image);

        FixtureTools.RunOk("umoci", "unpack", "--rootless", "--image", dir["layout"] + ":demo:1.0", dir["bundle"]);
        var root = Path.Combine(dir["bundle"], "rootfs");
        Assert.Equal("127.0.0.1 localhost app\n", File.ReadAllText(Path.Combine(root, "etc/hosts")));
        Assert.False(File.Exists(Path.Combine(root, "var/cache/junk")));
        Assert.Equal(["c"], Directory.GetFiles(Path.Combine(root, "var/lib/state")).Select(Path.GetFileName));
        Assert.Equal(Content.Binary("tool", 30_000), File.ReadAllBytes(Path.Combine(root, "usr/bin/tool2")));
    }

    [Fact]
    public void OciArchive_with_a_nested_index_is_read_by_skopeo_per_platform()
    {
        var amd64 = Image(LayerCompression.Gzip);
        var arm64 = Image(LayerCompression.Zstd, arch: "arm64", variant: "v8");
        var index = BuiltIndex.Of(amd64, arm64).Tagged("multi:1");
        var dir = TempDir.Create();
        ArchiveWriter.OciArchive(dir["a.tar"], index, amd64.Tagged("single:1"));

        var files = Corrupt.ReadTarFiles(dir["a.tar"]);
        Assert.Equal([amd64.ManifestDigest, arm64.ManifestDigest], LayoutChecks.VerifyOciLayout(files).Keys);
        var top = JsonDocument.Parse(files["index.json"]).RootElement.GetProperty("manifests");
        Assert.Equal(2, top.GetArrayLength());
        Assert.Equal(OciMediaTypes.Index, top[0].GetProperty("mediaType").GetString());
        Assert.Equal(index.Digest, top[0].GetProperty("digest").GetString());

        var raw = FixtureTools.SkopeoRaw("oci-archive:" + dir["a.tar"] + ":multi:1");
        Assert.Equal(["amd64", "arm64"], raw.GetProperty("manifests").EnumerateArray().Select(m => m.GetProperty("platform").GetProperty("architecture").GetString()));
        var arm = JsonDocument.Parse(FixtureTools.RunOk("skopeo", "--override-arch", "arm64", "--override-variant", "v8", "inspect", "oci-archive:" + dir["a.tar"] + ":multi:1")).RootElement;
        Assert.Equal("arm64", arm.GetProperty("Architecture").GetString());
        Assert.Equal(arm64.Layers.Select(l => l.Digest), arm.GetProperty("Layers").EnumerateArray().Select(l => l.GetString()));
        FixtureTools.RunOk("skopeo", "copy", "-q", "--all", "oci-archive:" + dir["a.tar"] + ":multi:1", "dir:" + dir["copy"]);
        Assert.Equal(index.IndexBytes, File.ReadAllBytes(Path.Combine(dir["copy"], "manifest.json")));
    }

    [Fact]
    public void OciLayout_flat_lists_each_platform_manifest_in_index_json()
    {
        var amd64 = Image(LayerCompression.Gzip);
        var arm64 = Image(LayerCompression.Gzip, arch: "arm64", variant: "v8");
        var dir = TempDir.Create();
        ArchiveWriter.OciLayout(dir["layout"], OciEntry.Of(BuiltIndex.Of(amd64, arm64), nested: false, "multi:1"));

        var files = LayoutChecks.ReadDirectory(dir["layout"]);
        LayoutChecks.VerifyOciLayout(files);
        var top = JsonDocument.Parse(files["index.json"]).RootElement.GetProperty("manifests").EnumerateArray().ToList();
        Assert.Equal([amd64.ManifestDigest, arm64.ManifestDigest], top.Select(m => m.GetProperty("digest").GetString()));
        Assert.Equal(["amd64", "arm64"], top.Select(m => m.GetProperty("platform").GetProperty("architecture").GetString()));
        Assert.All(top, m => Assert.Equal("multi:1", m.GetProperty("annotations").GetProperty(OciMediaTypes.RefNameAnnotation).GetString()));
        // skopeo takes the first manifest with the name; no index blob exists
        Assert.Equal(amd64.ManifestDigest, JsonDocument.Parse(FixtureTools.RunOk("skopeo", "inspect", "oci:" + dir["layout"] + ":multi:1")).RootElement.GetProperty("Digest").GetString());
        Assert.DoesNotContain(files.Values, v => v.AsSpan().SequenceEqual(BuiltIndex.Of(amd64, arm64).IndexBytes));
    }

    [Fact]
    public void Gzip_of_an_archive_decompresses_to_the_same_bytes()
    {
        var dir = TempDir.Create();
        ArchiveWriter.DockerSaveLegacy(dir["save.tar"], Image(LayerCompression.None));
        var gz = ArchiveWriter.Gzip(dir["save.tar"]);
        Assert.Equal(dir["save.tar"] + ".gz", gz);
        Assert.Equal(File.ReadAllBytes(dir["save.tar"]), FixtureTools.Decompress(File.ReadAllBytes(gz)));
    }
}
