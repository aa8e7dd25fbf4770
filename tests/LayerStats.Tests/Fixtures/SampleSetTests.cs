using System.Text;
using System.Text.Json;
using LayerStats.Fixtures;

namespace LayerStats.Tests.Fixtures;

public sealed class SampleSetTests
{
    private static readonly SampleSet _set = Samples.Build();

    internal static string SampleDir()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "LayerStats.sln")))
            {
                return Path.Combine(dir.FullName, "sample-data", "images");
            }
        }
        throw new InvalidOperationException("LayerStats.sln not found above " + AppContext.BaseDirectory);
    }

    private static string Sample(string name) => Path.Combine(SampleDir(), name);

    [Fact]
    public void Regenerating_the_samples_gives_the_committed_files_byte_for_byte()
    {
        var dir = TempDir.Create();
        var written = Samples.Write(dir.Path);
        Assert.Equal(
            [SampleSet.LegacyTar, SampleSet.Docker25Tar, SampleSet.OciLayoutDir, SampleSet.OciArchiveTar, SampleSet.GzippedLegacyTar],
            written);
        var fresh = LayoutChecks.ReadDirectory(dir.Path);
        var committed = LayoutChecks.ReadDirectory(SampleDir());
        committed.Remove("README.md");
        committed.Remove("make-samples.sh");
        Assert.Equal(fresh.Keys, committed.Keys);
        foreach (var (name, bytes) in fresh)
        {
            Assert.True(bytes.AsSpan().SequenceEqual(committed[name]), $"sample-data/{name} differs from what the builder writes; run sample-data/make-samples.sh");
        }
        Assert.True(fresh.Values.Sum(b => (long)b.Length) < 10_000_000);
    }

    public static TheoryData<string, string> SkopeoReferences() => new()
    {
        { "docker-archive", SampleSet.LegacyTar + ":base:1.0" },
        { "docker-archive", SampleSet.LegacyTar + ":web:1.0" },
        { "docker-archive", SampleSet.Docker25Tar + ":worker:1.0" },
        { "docker-archive", SampleSet.Docker25Tar + ":worker:1.1" },
        { "oci", SampleSet.OciLayoutDir + ":base:1.0" },
        { "oci", SampleSet.OciLayoutDir + ":base:1.0-zstd" },
        { "oci", SampleSet.OciLayoutDir + ":web:1.0" },
        { "oci", SampleSet.OciLayoutDir + ":tool:2.0" },
        { "oci-archive", SampleSet.OciArchiveTar + ":tool:2.0" },
        { "oci-archive", SampleSet.OciArchiveTar + ":web:1.0" },
    };

    [Theory]
    [MemberData(nameof(SkopeoReferences))]
    public void Every_sample_image_is_copied_by_skopeo_which_checks_every_blob_digest(string transport, string reference)
    {
        var dir = TempDir.Create();
        FixtureTools.RunOk("skopeo", "copy", "-q", "--all", transport + ":" + Sample(reference), "dir:" + dir["copy"]);
        var manifest = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(dir["copy"], "manifest.json"))).RootElement;
        Assert.Equal(2, manifest.GetProperty("schemaVersion").GetInt32());
    }

    [Fact]
    public void The_gzipped_legacy_sample_is_read_by_skopeo_once_GNU_gzip_decompressed_it()
    {
        // skopeo 1.9.3 (Debian 12) fails on any compressed docker-archive ("loading tar component manifest.json:
        // unexpected EOF"), also on one written by GNU gzip; so GNU gzip decompresses it first.
        var dir = TempDir.Create();
        File.Copy(Sample(SampleSet.GzippedLegacyTar), dir["hello.tar.gz"]);
        FixtureTools.RunOk("gzip", "-d", dir["hello.tar.gz"]);
        var inspect = JsonDocument.Parse(FixtureTools.RunOk("skopeo", "inspect", "docker-archive:" + dir["hello.tar"] + ":hello:1.0")).RootElement;
        Assert.Equal(_set.Hello.DiffIds, inspect.GetProperty("Layers").EnumerateArray().Select(l => l.GetString()));
    }

    [Fact]
    public void Legacy_sample_stores_the_shared_base_layers_once_uncompressed()
    {
        var files = Corrupt.ReadTarFiles(Sample(SampleSet.LegacyTar));
        var manifest = JsonDocument.Parse(files["manifest.json"]).RootElement.EnumerateArray().ToList();
        Assert.Equal(["base:1.0", "web:1.0"], manifest.Select(m => m.GetProperty("RepoTags")[0].GetString()));
        var baseLayers = manifest[0].GetProperty("Layers").EnumerateArray().Select(l => l.GetString()!).ToList();
        var webLayers = manifest[1].GetProperty("Layers").EnumerateArray().Select(l => l.GetString()!).ToList();
        Assert.Equal(baseLayers, webLayers[..3]);
        Assert.Equal(5, files.Keys.Count(k => k.EndsWith("/layer.tar", StringComparison.Ordinal)));
        Assert.Equal(_set.Web.DiffIds, webLayers.Select(p => FixtureTools.Sha256(files[p])));
    }

    [Fact]
    public void Same_base_content_is_stored_as_three_blobs_with_one_diff_id()
    {
        // legacy (uncompressed: blob digest = diff_id), OCI gzip and OCI zstd
        Assert.Equal(_set.Base.DiffIds, _set.BaseZstd.DiffIds);
        Assert.Equal(_set.Base.ConfigDigest, _set.BaseZstd.ConfigDigest);
        Assert.NotEqual(_set.Base.ManifestDigest, _set.BaseZstd.ManifestDigest);
        Assert.All(_set.Base.Layers.Zip(_set.BaseZstd.Layers), p =>
        {
            Assert.NotEqual(p.First.Digest, p.Second.Digest);
            Assert.NotEqual(p.First.Digest, p.First.DiffId);
        });
        var layout = LayoutChecks.VerifyOciLayout(LayoutChecks.ReadDirectory(Sample(SampleSet.OciLayoutDir)));
        Assert.Contains(_set.Base.ManifestDigest, layout.Keys);
        Assert.Contains(_set.BaseZstd.ManifestDigest, layout.Keys);
    }

    [Fact]
    public void Web_is_reached_twice_with_one_manifest_digest_and_shares_the_base_blobs()
    {
        var layout = LayoutChecks.VerifyOciLayout(LayoutChecks.ReadDirectory(Sample(SampleSet.OciLayoutDir)));
        var archive = LayoutChecks.VerifyOciLayout(Corrupt.ReadTarFiles(Sample(SampleSet.OciArchiveTar)));
        Assert.Contains(_set.Web.ManifestDigest, layout.Keys);
        Assert.Contains(_set.Web.ManifestDigest, archive.Keys);
        Assert.Equal(_set.Base.Layers.Select(l => l.Digest), _set.Web.Layers.Take(3).Select(l => l.Digest));
        Assert.Equal(_set.Base.Layers.Select(l => l.Digest), _set.Worker10.Layers.Take(3).Select(l => l.Digest));
    }

    [Fact]
    public void Worker_1_1_rebuilt_its_app_layer_with_three_files_changed_and_kept_the_users_layer()
    {
        Assert.NotEqual(_set.Worker10.Layers[3].DiffId, _set.Worker11.Layers[3].DiffId);
        Assert.Equal(_set.Worker10.Layers[4].Digest, _set.Worker11.Layers[4].Digest);
        var a = Files(_set.Worker10.Layers[3]);
        var b = Files(_set.Worker11.Layers[3]);
        Assert.Equal(a.Keys, b.Keys);
        Assert.Equal(["opt/worker/VERSION", "opt/worker/bin/worker", "opt/worker/lib/jobs.py"], a.Keys.Where(k => a[k] != b[k]).Order(StringComparer.Ordinal));
        var docker25 = LayoutChecks.VerifyOciLayout(Corrupt.ReadTarFiles(Sample(SampleSet.Docker25Tar)));
        Assert.Equal([_set.Worker10.ManifestDigest, _set.Worker11.ManifestDigest], docker25.Keys);
    }

    [Fact]
    public void Tool_is_multi_platform_nested_in_the_archive_flat_in_the_layout_and_shares_its_eStargz_docs_blob()
    {
        Assert.Equal(("amd64", (string?)null), (_set.ToolAmd64.Architecture, _set.ToolAmd64.Variant));
        Assert.Equal(("arm64", "v8"), (_set.ToolArm64.Architecture, _set.ToolArm64.Variant));
        Assert.Equal(LayerCompression.Gzip, _set.ToolAmd64.Layers[0].Compression);
        Assert.Equal(LayerCompression.Zstd, _set.ToolArm64.Layers[0].Compression);
        Assert.Equal(_set.ToolAmd64.Layers[1].Digest, _set.ToolArm64.Layers[1].Digest);
        var docs = _set.ToolAmd64.Layers[1].Blob;
        Assert.Equal(EStargz.Footer(Convert.ToInt64(Encoding.ASCII.GetString(docs, docs.Length - 35, 16), 16)), docs[^51..]);

        var archiveIndex = JsonDocument.Parse(Corrupt.ReadTarFiles(Sample(SampleSet.OciArchiveTar))["index.json"]).RootElement.GetProperty("manifests");
        Assert.Contains(archiveIndex.EnumerateArray(), m => m.GetProperty("digest").GetString() == _set.Tool.Digest && m.GetProperty("mediaType").GetString() == OciMediaTypes.Index);
        var layoutIndex = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Sample(SampleSet.OciLayoutDir), "index.json"))).RootElement.GetProperty("manifests");
        Assert.Equal(
            [_set.ToolAmd64.ManifestDigest, _set.ToolArm64.ManifestDigest],
            layoutIndex.EnumerateArray().Where(m => m.TryGetProperty("platform", out _)).Select(m => m.GetProperty("digest").GetString()));
    }

    [Fact]
    public void The_sample_layers_hold_whiteouts_opaque_dirs_hardlinks_and_duplicate_files()
    {
        var baseRootfs = Files(_set.Base.Layers[0]);
        Assert.Equal(4, baseRootfs.Count(f => f.Value == FixtureTools.Sha256(Encoding.UTF8.GetBytes(Samples.GplText)))); // 4 copies in one layer
        Assert.Contains("var/cache/apk/.wh.APKINDEX.4f1d7a2b.tar.gz", Files(_set.Base.Layers[2]).Keys);
        Assert.Contains("srv/www/cache/.wh..wh..opq", Files(_set.Web.Layers[4]).Keys);
        Assert.Contains("usr/share/.wh.doc", Files(_set.Worker10.Layers[4]).Keys);
        using var tar = new System.Formats.Tar.TarReader(new MemoryStream(_set.Base.Layers[0].Uncompressed));
        var hardlinks = 0;
        while (tar.GetNextEntry() is { } e)
        {
            hardlinks += e.EntryType == System.Formats.Tar.TarEntryType.HardLink ? 1 : 0;
        }
        Assert.Equal(5, hardlinks);
        Assert.All(new[] { _set.Base, _set.Web, _set.Worker10, _set.Worker11, _set.ToolAmd64, _set.ToolArm64, _set.Hello }, i =>
            Assert.InRange(i.Layers.Max(l => Files(l).Count), 1, 300));
    }

    /// <summary>Regular files of a layer: path → sha256 of the content.</summary>
    private static Dictionary<string, string> Files(BuiltLayer layer)
    {
        var files = new Dictionary<string, string>(StringComparer.Ordinal);
        using var reader = new System.Formats.Tar.TarReader(new MemoryStream(layer.Uncompressed));
        while (reader.GetNextEntry(copyData: true) is { } e)
        {
            if (e.EntryType == System.Formats.Tar.TarEntryType.RegularFile)
            {
                using var ms = new MemoryStream();
                e.DataStream?.CopyTo(ms);
                files[e.Name] = FixtureTools.Sha256(ms.ToArray());
            }
        }
        return files;
    }
}
