using LayerStats.Core.Sources;

namespace LayerStats.Tests.Sources;

/// <summary>
/// A directory's blob look-up (one stat; a link's length is its target's) and the normal form of archive paths, whose
/// already-normal paths skip being taken apart.
/// </summary>
public sealed class BlobLookupTests
{
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
}
