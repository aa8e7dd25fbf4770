using System.Text.Json.Nodes;
using LayerStats.Core.Model;
using LayerStats.Core.Sources;
using static LayerStats.Tests.Sources.DockerArchiveTests;

namespace LayerStats.Tests.Sources;

public sealed class OciLayoutTests
{
    private static readonly Platform Amd64 = new("linux", "amd64");
    private static readonly Platform Arm64 = new("linux", "arm64", "v8");

    [Theory]
    [InlineData("directory")]
    [InlineData("tar")]
    [InlineData("gzip")]
    public async Task Single_manifest_layout_yields_the_manifest_digest_as_id(string form)
    {
        var archive = new TestArchives();
        var image = archive.AddOciImage(Amd64, layerCount: 3);
        archive.SetLayoutIndex(TestArchives.Annotated(image.ManifestDescriptor, (OciLayoutReader.OciRefName, "registry:5000/team/app:1.0")));
        using var temp = new TempDir();
        string path = form switch
        {
            "directory" => archive.WriteDirectory(temp.File("layout")),
            "gzip" => archive.WriteTar(temp.File("layout.tgz"), gzip: true, namePrefix: "./"),
            _ => archive.WriteTar(temp.File("layout.tar"), namePrefix: "./"),
        };

        var listing = await ListAsync(path);

        Assert.Empty(listing.Errors);
        var only = Assert.Single(listing.Images);
        Assert.Equal(image.ManifestDigest, only.Image.Id.ToString());
        Assert.Equal(image.ManifestDigest, only.Image.ManifestDigest.ToString());
        Assert.Equal(MediaTypes.OciManifest, only.Image.ManifestMediaType);
        Assert.Equal(image.ConfigDigest, only.Image.ConfigDigest.ToString());
        Assert.Equal(("registry:5000/team/app", "1.0"), (only.Reference.Repository, only.Reference.Tag));
        Assert.Null(only.Reference.IndexDigest);
        ImageChecks.AssertLayersAre(only.Image, image.Layers);
        await ImageChecks.AssertLayersReadableAsync(only.Image);
    }

    [Fact]
    public async Task Multi_platform_index_lists_every_platform_and_skips_attestations_and_artifacts()
    {
        var archive = new TestArchives();
        var amd = archive.AddOciImage(Amd64);
        var arm = archive.AddOciImage(Arm64);
        var attestationImage = archive.AddOciImage(new Platform("unknown", "unknown"), layerCount: 1);
        var attestation = TestArchives.Annotated(attestationImage.ManifestDescriptor,
            ("vnd.docker.reference.type", "attestation-manifest"), ("vnd.docker.reference.digest", amd.ManifestDigest));
        var artifact = archive.AddOciImage(Amd64, layerCount: 1, configMediaType: "application/vnd.cncf.helm.config.v1+json");
        var index = archive.AddIndex([amd.ManifestDescriptor, arm.ManifestDescriptor, attestation, artifact.ManifestDescriptor]);
        archive.SetLayoutIndex(TestArchives.Annotated(index, (OciLayoutReader.ContainerdImageName, "docker.io/library/app:2")));
        using var temp = new TempDir();
        string path = archive.WriteDirectory(temp.File("layout"));

        var all = await ListAsync(path);
        var armOnly = await ListAsync(path, Platform.Parse("linux/arm64"));
        var armV7 = await ListAsync(path, Platform.Parse("linux/arm64/v7"));

        Assert.Empty(all.Errors);
        Assert.Equal([amd.ManifestDigest, arm.ManifestDigest], all.Images.Select(r => r.Image.Id.ToString()));
        Assert.All(all.Images, r => Assert.Equal((string)index["digest"]!, r.Reference.IndexDigest.ToString()));
        Assert.All(all.Images, r => Assert.Equal(("docker.io/library/app", "2"), (r.Reference.Repository, r.Reference.Tag)));
        Assert.Equal(arm.ManifestDigest, Assert.Single(armOnly.Images).Image.Id.ToString());
        Assert.Equal(Arm64, armOnly.Images[0].Image.Config.Platform);
        Assert.Empty(armV7.Images);
        Assert.Empty(armV7.Errors);
        foreach (var r in all.Images)
        {
            await ImageChecks.AssertLayersReadableAsync(r.Image);
        }
    }

    [Fact]
    public async Task Nested_indexes_are_followed_and_the_outermost_index_is_the_index_digest()
    {
        var archive = new TestArchives();
        var amd = archive.AddOciImage(Amd64);
        var inner = archive.AddIndex([amd.ManifestDescriptor]);
        var outer = archive.AddIndex([inner]);
        archive.SetLayoutIndex(TestArchives.Annotated(outer, (OciLayoutReader.OciRefName, "latest")));
        using var temp = new TempDir();
        string path = archive.WriteTar(temp.File("nested.tar"));

        var listing = await ListAsync(path);
        await using var shallow = ImageSources.Open(path, new ImageSourceOptions { MaxIndexDepth = 1 });
        var shallowListing = await shallow.ListImagesAsync(CancellationToken.None);

        Assert.Empty(listing.Errors);
        var only = Assert.Single(listing.Images);
        Assert.Equal(amd.ManifestDigest, only.Image.Id.ToString());
        Assert.Equal((string)outer["digest"]!, only.Reference.IndexDigest.ToString());
        Assert.Equal((null, "latest"), (only.Reference.Repository, only.Reference.Tag));
        Assert.Empty(shallowListing.Images);
        Assert.Contains("nested more than 1 deep", Assert.Single(shallowListing.Errors).Message);
    }

    [Fact]
    public async Task Oci_archive_ref_selects_by_ref_name_annotation()
    {
        var archive = new TestArchives();
        var a = archive.AddOciImage(Amd64, layerCount: 1);
        var b = archive.AddOciImage(Amd64, layerCount: 1);
        archive.SetLayoutIndex(
            TestArchives.Annotated(a.ManifestDescriptor, (OciLayoutReader.OciRefName, "myapp:2.0")),
            TestArchives.Annotated(b.ManifestDescriptor, (OciLayoutReader.OciRefName, "other")));
        using var temp = new TempDir();
        string path = archive.WriteTar(temp.File("layout.tar"));

        var byFull = await ListAsync($"oci-archive:{path}:myapp:2.0");
        var byTag = await ListAsync($"oci-archive:{path}:other");
        var wrongForm = await ListAsync($"docker-archive:{path}");

        Assert.Equal(a.ManifestDigest, Assert.Single(byFull.Images).Image.Id.ToString());
        Assert.Equal(("docker.io/library/myapp", "2.0"), (byFull.Images[0].Reference.Repository, byFull.Images[0].Reference.Tag));
        Assert.Equal(b.ManifestDigest, Assert.Single(byTag.Images).Image.Id.ToString());
        Assert.Equal((null, "other"), (byTag.Images[0].Reference.Repository, byTag.Images[0].Reference.Tag));
        Assert.Empty(wrongForm.Images);
        Assert.Contains("holds no manifest.json; it holds an OCI layout", Assert.Single(wrongForm.Errors).Message);
    }

    [Fact]
    public async Task Same_manifest_under_two_tags_is_one_image_with_two_references()
    {
        var archive = new TestArchives();
        var a = archive.AddOciImage(Amd64, layerCount: 1);
        archive.SetLayoutIndex(
            TestArchives.Annotated(a.ManifestDescriptor, (OciLayoutReader.OciRefName, "1.0")),
            TestArchives.Annotated(a.ManifestDescriptor, (OciLayoutReader.OciRefName, "latest")));
        using var temp = new TempDir();

        var listing = await ListAsync($"oci:{archive.WriteDirectory(temp.File("dir"))}");

        Assert.Equal(2, listing.Images.Count);
        Assert.Same(listing.Images[0].Image, listing.Images[1].Image);
        Assert.Equal(["1.0", "latest"], listing.Images.Select(r => r.Reference.Tag));
    }

    [Fact]
    public async Task Manifest_whose_bytes_do_not_match_its_digest_fails_only_that_image()
    {
        var archive = new TestArchives();
        var good = archive.AddOciImage(Amd64, layerCount: 1);
        var bad = archive.AddOciImage(Arm64, layerCount: 1);
        string badPath = "blobs/sha256/" + bad.ManifestDigest[7..];
        byte[] tampered = (byte[])bad.Manifest.Clone();
        tampered[^2] = (byte)' '; // same size, other bytes
        archive.Put(badPath, tampered);
        archive.SetLayoutIndex(archive.AddIndex([good.ManifestDescriptor, bad.ManifestDescriptor]));
        using var temp = new TempDir();

        var listing = await ListAsync(archive.WriteTar(temp.File("layout.tar"), gzip: true));

        Assert.Equal(good.ManifestDigest, Assert.Single(listing.Images).Image.Id.ToString());
        var error = Assert.Single(listing.Errors);
        Assert.Equal(bad.ManifestDigest, error.Image);
        Assert.Equal(badPath, error.Path);
        Assert.Contains($"hashes to {TestLayer.Hash(tampered)}; its content does not match its digest", error.Message);
    }

    [Fact]
    public async Task Missing_layer_blob_is_an_error_naming_the_digest_and_path_but_foreign_layers_are_recorded()
    {
        var archive = new TestArchives();
        var image = archive.AddOciImage(Amd64, layerCount: 2);
        string missing = "blobs/sha256/" + image.Layers[1].Digest[7..];
        archive.Files.RemoveAll(f => f.Name == missing);

        var foreignLayer = TestArchives.NewLayer(gzip: true);
        var local = TestArchives.NewLayer(gzip: true);
        byte[] config = TestArchives.ConfigJson(Amd64, [foreignLayer, local]);
        var foreignDescriptor = TestArchives.Descriptor(MediaTypes.DockerForeignLayer, foreignLayer.Digest, foreignLayer.Blob.Length);
        foreignDescriptor["urls"] = new JsonArray("https://example.invalid/layer");
        byte[] manifest = TestArchives.Json(new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = MediaTypes.DockerManifest,
            ["config"] = archive.PutBlob(MediaTypes.DockerConfig, config),
            ["layers"] = new JsonArray(foreignDescriptor, archive.PutBlob(MediaTypes.DockerLayerGzip, local.Blob)),
        });
        var windows = archive.PutBlob(MediaTypes.DockerManifest, manifest);
        archive.SetLayoutIndex(image.ManifestDescriptor, windows);
        using var temp = new TempDir();

        var listing = await ListAsync(archive.WriteTar(temp.File("layout.tar")));

        var error = Assert.Single(listing.Errors);
        Assert.Equal(image.Layers[1].Digest, error.Layer);
        Assert.Equal(missing, error.Path);
        Assert.Contains($"layer {image.Layers[1].Digest} (layer 2 of 2) is missing: expected at {missing}", error.Message);
        var only = Assert.Single(listing.Images);
        Assert.Equal(TestLayer.Hash(manifest), only.Image.Id.ToString());
        Assert.Equal(MediaTypes.DockerManifest, only.Image.ManifestMediaType);
        Assert.False(only.Image.Layers[0].IsAvailable);
        Assert.Equal(foreignLayer.Digest, only.Image.Layers[0].Digest.ToString());
        Assert.True(only.Image.Layers[1].IsAvailable);
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await only.Image.Layers[0].OpenCompressedAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Schema1_manifest_and_diff_id_count_mismatch_are_errors()
    {
        var archive = new TestArchives();
        var schema1 = archive.PutBlob(MediaTypes.DockerManifestV1Signed, TestArchives.Utf8("{\"schemaVersion\":1,\"name\":\"x\",\"fsLayers\":[]}"));
        var untyped = archive.PutBlob("", TestArchives.Utf8("{\"schemaVersion\":1,\"name\":\"y\",\"fsLayers\":[]}"));
        var layer = TestArchives.NewLayer(gzip: true);
        byte[] manifest = TestArchives.Json(new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = MediaTypes.OciManifest,
            ["config"] = archive.PutBlob(MediaTypes.OciConfig, TestArchives.ConfigJson(Amd64, [layer, layer])),
            ["layers"] = new JsonArray(archive.PutBlob(layer.MediaType, layer.Blob)),
        });
        archive.SetLayoutIndex(schema1, untyped, archive.PutBlob(MediaTypes.OciManifest, manifest));
        using var temp = new TempDir();

        var listing = await ListAsync(archive.WriteDirectory(temp.File("layout")));

        Assert.Empty(listing.Images);
        Assert.Equal(3, listing.Errors.Count);
        Assert.Contains("unsupported", listing.Errors[0].Message);
        Assert.Contains("unsupported", listing.Errors[1].Message);
        Assert.Contains("lists 2 diff_ids but manifest", listing.Errors[2].Message);
    }

    [Fact]
    public async Task Layer_blobs_open_concurrently_and_repeatedly()
    {
        var archive = new TestArchives();
        var image = archive.AddOciImage(Amd64, layerCount: 2, gzip: false);
        archive.SetLayoutIndex(image.ManifestDescriptor);
        using var temp = new TempDir();
        var listing = await ListAsync(archive.WriteTar(temp.File("layout.tar")));
        var layer = Assert.Single(listing.Images).Image.Layers[1];

        await using var first = await layer.OpenCompressedAsync(CancellationToken.None);
        await using var second = await layer.OpenCompressedAsync(CancellationToken.None);
        var a = new MemoryStream();
        var b = new MemoryStream();
        var buffer = new byte[7];
        int n1;
        int n2;
        do
        {
            n1 = await first.ReadAsync(buffer);
            a.Write(buffer, 0, n1);
            n2 = await second.ReadAsync(buffer);
            b.Write(buffer, 0, n2);
        }
        while (n1 > 0 || n2 > 0);

        Assert.Equal(image.Layers[1].Blob, a.ToArray());
        Assert.Equal(image.Layers[1].Blob, b.ToArray());
    }
}
