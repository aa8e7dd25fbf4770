using System.Text.Json.Nodes;
using LayerStats.Core.Images;
using LayerStats.Core.Model;
using LayerStats.Core.Sources;

namespace LayerStats.Tests.Sources;

/// <summary>
/// An OCI layout's manifests and configs read ahead on several threads (ReadContext.WalkAsync): the listing is the one a
/// single thread makes, the same images in the same order with the same references, and the same errors in the same order.
/// </summary>
public sealed class ParallelListingTests
{
    private static readonly Platform Amd64 = new("linux", "amd64");

    [Theory]
    [InlineData("directory")]
    [InlineData("tar")]
    public async Task A_listing_read_ahead_on_several_threads_is_the_sequential_listing(string form)
    {
        var archive = new TestArchives();
        var descriptors = new List<JsonObject>();
        var images = new List<TestImage>();
        // More descriptors than one read-ahead slice (512), with the faults spread over both slices.
        for (int i = 0; i < 530; i++)
        {
            var image = archive.AddOciImage(Amd64, layerCount: 1);
            images.Add(image);
            descriptors.Add(TestArchives.Annotated(image.ManifestDescriptor, (OciLayoutReader.OciRefName, $"app{i}:1")));
        }

        string Blob(string digest) => "blobs/sha256/" + digest["sha256:".Length..];
        archive.Files.RemoveAll(f => f.Name == Blob(images[3].ManifestDigest)); // a manifest missing
        archive.Put(Blob(images[10].ManifestDigest), Corrupt(images[10].Manifest)); // a manifest that does not match its digest
        archive.Files.RemoveAll(f => f.Name == Blob(images[20].ConfigDigest)); // a config missing
        archive.Put(Blob(images[515].ConfigDigest), Corrupt(images[515].Config)); // a config that does not match (second slice)
        archive.Files.RemoveAll(f => f.Name == Blob(images[520].Layers[0].Digest)); // a layer missing
        archive.Put(Blob(images[30].Layers[0].Digest), [.. images[30].Layers[0].Blob, 0]); // a layer of the wrong size
        // The same manifest again under another name, twice in one nested index, and an attestation.
        descriptors.Insert(40, TestArchives.Annotated(images[0].ManifestDescriptor, (OciLayoutReader.OciRefName, "again:1")));
        var nested = archive.AddIndex([images[50].ManifestDescriptor, images[51].ManifestDescriptor, images[50].ManifestDescriptor]);
        descriptors.Insert(45, TestArchives.Annotated(nested, (OciLayoutReader.OciRefName, "nested:1")));
        var attestation = archive.AddOciImage(new Platform("unknown", "unknown"), layerCount: 1);
        descriptors.Insert(60, TestArchives.Annotated(attestation.ManifestDescriptor, ("vnd.docker.reference.type", "attestation-manifest")));
        archive.SetLayoutIndex([.. descriptors]);
        using var temp = new TempDir();
        string path = form == "directory" ? archive.WriteDirectory(temp.File("layout")) : archive.WriteTar(temp.File("layout.tar"));

        var sequential = await ListAsync(path, threads: 1);
        var parallel = await ListAsync(path, threads: 4);

        // The faults are found, each once, in index order (the sequential listing as it always was).
        Assert.Equal(
            [images[3].ManifestDigest, images[10].ManifestDigest, images[20].ManifestDigest, images[30].ManifestDigest, images[515].ManifestDigest, images[520].ManifestDigest],
            sequential.Errors.Select(e => e.Image));
        // 530 less the six broken; image 0 named again ("again:1"), images 50 and 51 under the nested index's name too.
        Assert.Equal(530 - 6 + 1 + 2, sequential.Images.Count);
        Assert.Equal(Describe(sequential), Describe(parallel));
        Assert.Equal(sequential.Errors, parallel.Errors);
        Assert.Equal(
            sequential.Images.Select(r => r.Image.Layers.Select(l => (l.Digest, l.DiffId, l.Size, l.IsAvailable)).ToList()),
            parallel.Images.Select(r => r.Image.Layers.Select(l => (l.Digest, l.DiffId, l.Size, l.IsAvailable)).ToList()));
        Assert.Equal(
            sequential.Images.Select(r => (r.Image.Config.Platform, string.Join(' ', r.Image.Config.DiffIds))),
            parallel.Images.Select(r => (r.Image.Config.Platform, string.Join(' ', r.Image.Config.DiffIds))));
        await ImageChecks.AssertLayersReadableAsync(parallel.Images[^1].Image);
    }

    [Fact]
    public void A_directory_finds_a_file_through_a_link_with_the_targets_length_but_not_a_directory_or_a_broken_link()
    {
        using var temp = new TempDir();
        string root = temp.File("layout");
        Directory.CreateDirectory(Path.Combine(root, "blobs", "sha256", "adir"));
        File.WriteAllBytes(Path.Combine(root, "blobs", "sha256", "file"), new byte[1234]);
        File.CreateSymbolicLink(Path.Combine(root, "blobs", "sha256", "link"), "file");
        File.CreateSymbolicLink(Path.Combine(root, "blobs", "sha256", "broken"), "nothing-here");
        var container = new DirectoryContainer(root);

        Assert.Equal(new ContainerEntry("blobs/sha256/file", 1234, null), container.Find("blobs/sha256/file"));
        Assert.Equal(new ContainerEntry("blobs/sha256/link", 1234, null), container.Find("./blobs//sha256/link"));
        Assert.Null(container.Find("blobs/sha256/adir"));
        Assert.Null(container.Find("blobs/sha256/broken"));
        Assert.Null(container.Find("blobs/sha256/absent"));
        Assert.Null(container.Find("../layout/blobs/sha256/file"));
    }

    [Theory]
    [InlineData("blobs/sha256/abc", "blobs/sha256/abc")]
    [InlineData("./blobs/sha256/abc", "blobs/sha256/abc")]
    [InlineData("blobs//sha256/./abc/", "blobs/sha256/abc")]
    [InlineData("blobs\\sha256\\abc", "blobs/sha256/abc")]
    [InlineData("blobs/x/../sha256/abc", "blobs/sha256/abc")]
    [InlineData("/index.json", "index.json")]
    [InlineData("index.json", "index.json")]
    [InlineData("a/.hidden/..b", "a/.hidden/..b")]
    [InlineData("../index.json", null)]
    [InlineData("", null)]
    [InlineData(".", null)]
    public void Archive_paths_normalize_as_before(string path, string? expected) =>
        Assert.Equal(expected, ArchivePath.Normalize(path));

    private static byte[] Corrupt(byte[] bytes)
    {
        var copy = bytes.ToArray();
        copy[^2] ^= 0x20; // same length, other bytes
        return copy;
    }

    private static List<string> Describe(SourceListing listing) =>
        listing.Images.Select(r => $"{r.Image.Id} {r.Image.ConfigDigest} {r.Reference}").ToList();

    private static async Task<SourceListing> ListAsync(string input, int threads)
    {
        await using var source = ImageSources.Open(input, new ImageSourceOptions { ListingThreads = threads });
        return await source.ListImagesAsync(CancellationToken.None);
    }
}
