using LayerStats.Core.Model;
using LayerStats.Core.Sources;
using static LayerStats.Tests.Sources.DockerArchiveTests;

namespace LayerStats.Tests.Sources;

public sealed class BadInputTests
{
    [Fact]
    public async Task Missing_path_is_one_error_and_no_images()
    {
        using var temp = new TempDir();
        string path = temp.File("nothing-here.tar");

        var listing = await ListAsync(path);

        Assert.Empty(listing.Images);
        var error = Assert.Single(listing.Errors);
        Assert.Equal(path, error.Source);
        Assert.Contains($"not found: there is no file or directory '{path}'", error.Message);
    }

    [Fact]
    public async Task Empty_file_is_one_error()
    {
        using var temp = new TempDir();
        string path = temp.File("empty.tar");
        File.WriteAllBytes(path, []);

        var listing = await ListAsync(path);

        Assert.Empty(listing.Images);
        Assert.Contains("is an empty file", Assert.Single(listing.Errors).Message);
    }

    [Fact]
    public async Task Text_file_is_not_an_archive()
    {
        using var temp = new TempDir();
        string path = temp.File("notes.txt");
        File.WriteAllText(path, new string('z', 2000));

        var listing = await ListAsync(path);

        Assert.Empty(listing.Images);
        Assert.Contains("is not an image archive", Assert.Single(listing.Errors).Message);
    }

    [Fact]
    public async Task Gzip_of_something_that_is_not_a_tar_is_one_error()
    {
        using var temp = new TempDir();
        string path = temp.File("thing.gz");
        File.WriteAllBytes(path, TestArchives.Gzip(TestArchives.Utf8(new string('q', 3000))));

        var listing = await ListAsync(path);

        Assert.Empty(listing.Images);
        Assert.Single(listing.Errors);
    }

    [Fact]
    public async Task Tar_without_index_or_manifest_is_one_error()
    {
        var archive = new TestArchives();
        archive.Put("readme.txt", TestArchives.Utf8("hello"));
        using var temp = new TempDir();

        var listing = await ListAsync(archive.WriteTar(temp.File("other.tar")));

        Assert.Empty(listing.Images);
        Assert.Contains("holds neither index.json (OCI layout) nor manifest.json (docker save)", Assert.Single(listing.Errors).Message);
    }

    [Theory]
    [InlineData("index.json")]
    [InlineData("manifest.json")]
    public async Task Garbage_json_is_one_error_naming_the_document(string document)
    {
        var archive = new TestArchives();
        archive.Put(document, TestArchives.Utf8("{\"manifests\": [ this is not json"));
        using var temp = new TempDir();

        var listing = await ListAsync(archive.WriteTar(temp.File("garbage.tar")));

        Assert.Empty(listing.Images);
        var error = Assert.Single(listing.Errors);
        Assert.StartsWith($"{document}: not valid JSON", error.Message);
    }

    [Fact]
    public async Task Oversized_document_is_refused_with_a_clear_error()
    {
        var archive = new TestArchives();
        var image = archive.AddOciImage(new Platform("linux", "amd64"), layerCount: 1);
        archive.SetLayoutIndex(image.ManifestDescriptor);
        using var temp = new TempDir();
        string path = archive.WriteDirectory(temp.File("layout"));

        await using var source = ImageSources.Open(path, new ImageSourceOptions { MaxDocumentBytes = 64 });
        var listing = await source.ListImagesAsync(CancellationToken.None);

        Assert.Empty(listing.Images);
        Assert.Contains("more than the 64 bytes a JSON document may have", Assert.Single(listing.Errors).Message);
    }

    [Fact]
    public async Task Tar_cut_inside_a_layer_fails_the_image_that_needs_it()
    {
        var archive = new TestArchives();
        var image = archive.AddOciImage(new Platform("linux", "amd64"), layerCount: 2, gzip: false);
        archive.SetLayoutIndex(image.ManifestDescriptor);
        string lastLayer = "blobs/sha256/" + image.Layers[1].Digest[7..];
        var moved = archive.Files.Single(f => f.Name == lastLayer);
        archive.Files.Remove(moved);
        archive.Files.Add(moved);
        using var temp = new TempDir();
        string path = archive.WriteTar(temp.File("layout.tar"));
        long dataOffset;
        using (var fs = File.OpenRead(path))
        using (var reader = new System.Formats.Tar.TarReader(fs))
        {
            System.Formats.Tar.TarEntry? entry;
            while ((entry = reader.GetNextEntry()) is not null && entry.Name != lastLayer)
            {
            }

            dataOffset = entry!.DataOffset;
        }

        using (var fs = new FileStream(path, FileMode.Open, FileAccess.Write))
        {
            fs.SetLength(dataOffset + (image.Layers[1].Blob.Length / 2));
        }

        var listing = await ListAsync(path);

        Assert.Empty(listing.Images);
        var error = Assert.Single(listing.Errors);
        Assert.Equal(image.Layers[1].Digest, error.Layer);
        Assert.Contains("the archive is truncated", error.Message);
    }

    [Fact]
    public async Task Prefixed_input_whose_path_does_not_exist_is_not_found()
    {
        using var temp = new TempDir();
        string input = $"oci-archive:{temp.File("missing.tar")}:latest";

        var listing = await ListAsync(input);

        var error = Assert.Single(listing.Errors);
        Assert.Equal(input, error.Source);
        Assert.Contains("not found", error.Message);
    }
}
