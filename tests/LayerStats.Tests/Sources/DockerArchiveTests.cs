using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using LayerStats.Core.Images;
using LayerStats.Core.Model;
using LayerStats.Core.Sources;

namespace LayerStats.Tests.Sources;

public sealed class DockerArchiveTests
{
    private static readonly Platform Amd64 = new("linux", "amd64");

    internal static async Task<SourceListing> ListAsync(string input, Platform? platform = null)
    {
        await using var source = ImageSources.Open(input, new ImageSourceOptions { PlatformFilter = platform });
        Assert.Equal(input, source.Source);
        return await source.ListImagesAsync(CancellationToken.None);
    }

    [Theory]
    [InlineData("tar")]
    [InlineData("gzip")]
    [InlineData("directory")]
    public async Task Legacy_docker_save_lists_one_image_per_tag_with_config_digest_as_id(string form)
    {
        var archive = new TestArchives();
        var (entry, config, layers) = archive.AddLegacyImage(Amd64, 3, "registry:5000/team/app:1.0", "app:latest");
        archive.SetManifestJson(entry);
        archive.Put("repositories", TestArchives.Utf8("{}"));
        using var temp = new TempDir();
        string path = form switch
        {
            "directory" => archive.WriteDirectory(temp.File("extracted")),
            "gzip" => archive.WriteTar(temp.File("image.tar.gz"), gzip: true),
            _ => archive.WriteTar(temp.File("image.tar")),
        };

        var listing = await ListAsync(path);

        Assert.Empty(listing.Errors);
        Assert.Equal(2, listing.Images.Count);
        string configDigest = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(config));
        foreach (var resolved in listing.Images)
        {
            Assert.Equal(configDigest, resolved.Image.Id.ToString());
            Assert.Equal(configDigest, resolved.Image.ConfigDigest.ToString());
            Assert.Null(resolved.Image.ManifestDigest);
            Assert.Equal(ImageSources.LegacyDockerSaveMediaType, resolved.Image.ManifestMediaType);
            Assert.Equal(Amd64, resolved.Image.Config.Platform);
            Assert.Equal(path, resolved.Reference.Source);
            Assert.Null(resolved.Reference.IndexDigest);
            ImageChecks.AssertLayersAre(resolved.Image, layers, legacy: true);
        }

        Assert.Same(listing.Images[0].Image, listing.Images[1].Image);
        Assert.Equal(("registry:5000/team/app", "1.0"), (listing.Images[0].Reference.Repository, listing.Images[0].Reference.Tag));
        Assert.Equal(("docker.io/library/app", "latest"), (listing.Images[1].Reference.Repository, listing.Images[1].Reference.Tag));
        await ImageChecks.AssertLayersReadableAsync(listing.Images[0].Image);
    }

    [Fact]
    public async Task Legacy_layer_that_is_a_symlink_to_another_layer_is_followed()
    {
        var archive = new TestArchives();
        var (entry, _, layers) = archive.AddLegacyImage(Amd64, 1, "one:1");
        var layerPath = (string)entry["Layers"]![0]!;
        var entry2 = (JsonObject)entry.DeepClone();
        entry2["RepoTags"] = new JsonArray("two:2");
        entry2["Layers"] = new JsonArray("linked/layer.tar");
        archive.Links.Add(("linked/layer.tar", "../" + layerPath));
        archive.SetManifestJson(entry, entry2);
        using var temp = new TempDir();

        var listing = await ListAsync(archive.WriteTar(temp.File("image.tar")));

        Assert.Empty(listing.Errors);
        Assert.Equal(2, listing.Images.Count);
        Assert.Equal(layers[0].DiffId, listing.Images[1].Image.Layers[0].Digest.ToString());
        await ImageChecks.AssertLayersReadableAsync(listing.Images[1].Image);
    }

    [Fact]
    public async Task Legacy_image_without_tags_has_no_repository_or_tag()
    {
        var archive = new TestArchives();
        var (entry, _, _) = archive.AddLegacyImage(Amd64, 1);
        archive.SetManifestJson(entry);
        using var temp = new TempDir();

        var listing = await ListAsync(archive.WriteTar(temp.File("image.tar")));

        var only = Assert.Single(listing.Images);
        Assert.Null(only.Reference.Repository);
        Assert.Null(only.Reference.Tag);
    }

    [Fact]
    public async Task Legacy_missing_layer_is_an_error_for_that_image_only()
    {
        var archive = new TestArchives();
        var (good, _, _) = archive.AddLegacyImage(Amd64, 1, "good:1");
        var (bad, _, badLayers) = archive.AddLegacyImage(Amd64, 2, "bad:1");
        string missing = (string)bad["Layers"]![1]!;
        archive.Files.RemoveAll(f => f.Name == missing);
        archive.SetManifestJson(good, bad);
        using var temp = new TempDir();

        var listing = await ListAsync(archive.WriteTar(temp.File("image.tar")));

        Assert.Equal("docker.io/library/good", Assert.Single(listing.Images).Reference.Repository);
        var error = Assert.Single(listing.Errors);
        Assert.Contains($"manifest.json names layer '{missing}', which the archive does not contain", error.Message);
        Assert.Equal(badLayers[1].DiffId, error.Layer);
        Assert.Equal(missing, error.Path);
    }

    [Fact]
    public async Task Legacy_config_count_mismatch_and_renamed_config_are_errors()
    {
        var archive = new TestArchives();
        var (short1, _, _) = archive.AddLegacyImage(Amd64, 2, "short:1");
        short1["Layers"]!.AsArray().RemoveAt(1);
        var (renamed, config, _) = archive.AddLegacyImage(Amd64, 1, "renamed:1");
        string wrongName = new string('a', 64) + ".json";
        archive.Put(wrongName, config);
        renamed["Config"] = wrongName;
        archive.SetManifestJson(short1, renamed);
        using var temp = new TempDir();

        var listing = await ListAsync(archive.WriteTar(temp.File("image.tar")));

        Assert.Empty(listing.Images);
        Assert.Equal(2, listing.Errors.Count);
        Assert.Contains("lists 2 diff_ids but manifest.json lists 1 layers", listing.Errors[0].Message);
        Assert.Contains("not the sha256:aaaa", listing.Errors[1].Message);
    }

    [Fact]
    public async Task Legacy_platform_filter_keeps_matching_configs()
    {
        var archive = new TestArchives();
        var (amd, _, _) = archive.AddLegacyImage(Amd64, 1, "a:amd64");
        var (arm, _, _) = archive.AddLegacyImage(new Platform("linux", "arm64", "v8"), 1, "a:arm64");
        archive.SetManifestJson(amd, arm);
        using var temp = new TempDir();
        string path = archive.WriteTar(temp.File("image.tar"));

        var arm64 = await ListAsync(path, Platform.Parse("linux/arm64"));
        var s390 = await ListAsync(path, Platform.Parse("linux/s390x"));

        Assert.Equal("arm64", Assert.Single(arm64.Images).Reference.Tag);
        Assert.Empty(arm64.Errors);
        Assert.Empty(s390.Images);
        Assert.Empty(s390.Errors);
    }

    [Fact]
    public async Task Docker_archive_ref_selects_an_image_by_repo_tag()
    {
        var archive = new TestArchives();
        var (a, _, _) = archive.AddLegacyImage(Amd64, 1, "busybox:latest");
        var (b, configB, _) = archive.AddLegacyImage(Amd64, 1, "alpine:3.20");
        archive.SetManifestJson(a, b);
        using var temp = new TempDir();
        string path = archive.WriteTar(temp.File("two:images.tar"));

        var selected = await ListAsync($"docker-archive:{path}:alpine:3.20");
        var whole = await ListAsync($"docker-archive:{path}");
        var none = await ListAsync($"docker-archive:{path}:nginx:1");

        var only = Assert.Single(selected.Images);
        Assert.Equal(TestLayer.Hash(configB), only.Image.Id.ToString());
        Assert.Equal($"docker-archive:{path}:alpine:3.20", only.Reference.Source);
        Assert.Equal(2, whole.Images.Count);
        Assert.Empty(none.Images);
        Assert.Contains("no image named 'nginx:1'", Assert.Single(none.Errors).Message);
        Assert.Contains("busybox:latest, alpine:3.20", none.Errors[0].Message);
    }

    [Fact]
    public async Task Docker25_archive_uses_the_oci_index_and_takes_names_from_repo_tags()
    {
        var archive = new TestArchives();
        var amd = archive.AddOciImage(Amd64, layerCount: 2, gzip: false);
        var arm = archive.AddOciImage(new Platform("linux", "arm64", "v8"), layerCount: 1);
        var attestation = TestArchives.Descriptor(MediaTypes.OciManifest, "sha256:" + new string('e', 64), 100);
        attestation["platform"] = TestArchives.PlatformJson(new Platform("unknown", "unknown"));
        attestation = TestArchives.Annotated(attestation, ("vnd.docker.reference.type", "attestation-manifest"));
        // Docker saves the whole image index but only the platform it holds: drop the arm64 manifest blob.
        archive.Files.RemoveAll(f => f.Name == "blobs/sha256/" + arm.ManifestDigest[7..]);
        var imageIndex = archive.AddIndex([amd.ManifestDescriptor, arm.ManifestDescriptor, attestation]);
        archive.SetLayoutIndex(TestArchives.Annotated(imageIndex,
            (OciLayoutReader.ContainerdImageName, "docker.io/library/app:1.0"), (OciLayoutReader.OciRefName, "1.0")));
        archive.SetManifestJson(new JsonObject
        {
            ["Config"] = "blobs/sha256/" + amd.ConfigDigest[7..],
            ["RepoTags"] = new JsonArray("app:1.0", "app:stable"),
            ["Layers"] = new JsonArray(amd.Layers.Select(l => (JsonNode)("blobs/sha256/" + l.Digest[7..])).ToArray()),
        });
        using var temp = new TempDir();
        string path = archive.WriteTar(temp.File("docker25.tar"));

        var listing = await ListAsync(path);

        Assert.Empty(listing.Errors);
        Assert.Equal(2, listing.Images.Count);
        string indexDigest = (string)imageIndex["digest"]!;
        Assert.All(listing.Images, r =>
        {
            Assert.Equal(amd.ManifestDigest, r.Image.Id.ToString());
            Assert.Equal(amd.ManifestDigest, r.Image.ManifestDigest.ToString());
            Assert.Equal(amd.ConfigDigest, r.Image.ConfigDigest.ToString());
            Assert.Equal(indexDigest, r.Reference.IndexDigest.ToString());
            Assert.Equal("docker.io/library/app", r.Reference.Repository);
        });
        Assert.Equal(["1.0", "stable"], listing.Images.Select(r => r.Reference.Tag));
        ImageChecks.AssertLayersAre(listing.Images[0].Image, amd.Layers);
        await ImageChecks.AssertLayersReadableAsync(listing.Images[0].Image);
    }

    [Fact]
    public async Task Real_dive_test_image_lists_fourteen_layers_whose_bytes_hash_to_their_diff_ids()
    {
        string path = TestPaths.DiveImage;
        var (manifestJson, configBytes) = ReadEntries(path);
        using var manifest = JsonDocument.Parse(manifestJson);
        var entry = manifest.RootElement[0];
        string configName = entry.GetProperty("Config").GetString()!;
        string repoTag = entry.GetProperty("RepoTags")[0].GetString()!;
        int layerCount = entry.GetProperty("Layers").GetArrayLength();

        var listing = await ListAsync(path);

        Assert.Empty(listing.Errors);
        var only = Assert.Single(listing.Images);
        Assert.Equal(14, layerCount);
        Assert.Equal(layerCount, only.Image.Layers.Count);
        Assert.Equal("sha256:" + configName[..^".json".Length], only.Image.Id.ToString());
        Assert.Equal(TestLayer.Hash(configBytes[configName]), only.Image.Id.ToString());
        Assert.Equal(repoTag, $"{RepositoryNames.Familiar(only.Reference.Repository!)}:{only.Reference.Tag}");
        Assert.Equal(("docker.io/library/dive-test", "latest"), (only.Reference.Repository, only.Reference.Tag));
        using var config = JsonDocument.Parse(configBytes[configName]);
        var diffIds = config.RootElement.GetProperty("rootfs").GetProperty("diff_ids").EnumerateArray().Select(d => d.GetString()).ToList();
        Assert.Equal(diffIds, only.Image.Layers.Select(l => l.DiffId.ToString()));
        await ImageChecks.AssertLayersReadableAsync(only.Image);
    }

    private static (byte[] Manifest, Dictionary<string, byte[]> Json) ReadEntries(string path)
    {
        using var fs = File.OpenRead(path);
        using var reader = new System.Formats.Tar.TarReader(fs);
        byte[]? manifest = null;
        var json = new Dictionary<string, byte[]>();
        while (reader.GetNextEntry() is { } e)
        {
            if (e.DataStream is null || !e.Name.EndsWith(".json", StringComparison.Ordinal))
            {
                continue;
            }

            using var ms = new MemoryStream();
            e.DataStream.CopyTo(ms);
            if (e.Name == "manifest.json")
            {
                manifest = ms.ToArray();
            }
            else
            {
                json[e.Name] = ms.ToArray();
            }
        }

        return (manifest!, json);
    }
}
