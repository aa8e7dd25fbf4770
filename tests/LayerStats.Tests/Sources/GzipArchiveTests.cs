using System.Security.Cryptography;
using LayerStats.Core.Images;
using LayerStats.Core.Model;
using LayerStats.Core.Scanning;
using LayerStats.Core.Sources;
using LayerStats.Fixtures;
using LayerStats.Storage;
using LayerStats.Tests.Storage;

namespace LayerStats.Tests.Sources;

/// <summary>
/// A gzipped image archive (docker save | gzip, a gzipped OCI archive) is decompressed about twice in a scan (the index
/// pass, then forward cursors that serve the blobs in archive order), not once per blob; its figures are those of the
/// same archive uncompressed; and the source's end closes every handle it opened on the file.
/// </summary>
public sealed class GzipArchiveTests
{
    /// <summary>Two images over six distinct uncompressed layers (docker save's own): a base of three, and three more each.</summary>
    private static BuiltImage[] SixLayerImages()
    {
        var bases = Enumerable.Range(0, 3)
            .Select(i => BuiltLayer.From(Tree($"base{i}", 60 + (i * 30)).File("etc/shared.conf", $"base {i}"), LayerCompression.None))
            .ToList();
        var app = new ImageBuilder(format: ManifestFormat.DockerSchema2);
        var tool = new ImageBuilder(format: ManifestFormat.DockerSchema2);
        foreach (var layer in bases)
        {
            app.Layer(layer, "base");
            tool.Layer(layer, "base");
        }

        app.Layer(Tree("app", 120).File("etc/shared.conf", "app").Whiteout("base0/d1"), LayerCompression.None, "COPY app");
        tool.Layer(Tree("tool", 40), LayerCompression.None, "COPY tool");
        tool.Layer(Tree("tool2", 45).File("tool/d0/f0.txt", "replaced"), LayerCompression.None, "COPY tool2");
        return [app.Build().Tagged("app:1"), tool.Build().Tagged("tool:1")];
    }

    [Theory]
    [InlineData(1, 2)]
    [InlineData(2, 3)]
    public void A_gzipped_docker_save_scans_to_the_figures_of_the_plain_tar_with_a_bounded_number_of_decompressions(int jobs, int maxDecompressions)
    {
        using var dir = new TempDir();
        string tar = dir.File("images.tar");
        ArchiveWriter.DockerSaveLegacy(tar, SixLayerImages());
        string gz = ArchiveWriter.Gzip(tar);

        var (plain, _) = Scan(dir.File("plain.duckdb"), tar, jobs);
        var (gzipped, container) = Scan(dir.File("gzip.duckdb"), gz, jobs);

        Assert.Equal((2, 0, 6), (plain.ImagesOk, plain.ImagesFailed, plain.LayersRead));
        Assert.Equal((2, 0, 6), (gzipped.ImagesOk, gzipped.ImagesFailed, gzipped.LayersRead));
        Assert.Empty(gzipped.Errors);
        ChunkedLoadTests.AssertSameRows(dir.File("plain.duckdb"), dir.File("gzip.duckdb"));
        // Before: the index pass and one decompression from the top per blob (1 + 6 = 7).
        Assert.InRange(container.Decompressions, 2, maxDecompressions);
        Assert.InRange(container.CompressedBytesRead, new FileInfo(gz).Length, maxDecompressions * new FileInfo(gz).Length);
        Assert.Equal(0, container.OpenCursors);
        Assert.Empty(HandlesOn(gz));
    }

    [Fact]
    public void The_scan_command_leaves_no_handle_on_a_gzipped_archive_and_the_file_can_be_renamed_and_deleted()
    {
        using var cli = new EndToEnd.CliHarness();
        string tar = Path.Combine(cli.Dir, "images.tar");
        ArchiveWriter.DockerSaveLegacy(tar, SixLayerImages());
        string gz = ArchiveWriter.Gzip(tar);

        var run = cli.Scan(gz);

        Assert.Equal(0, run.Exit);
        Assert.Equal(2L, cli.Scalar("SELECT count(*) FROM images"));
        Assert.Empty(HandlesOn(gz));
        string moved = gz + ".moved";
        File.Move(gz, moved);
        File.Delete(moved);
        Assert.Empty(HandlesOn(moved));
    }

    [Fact]
    public void A_gzipped_oci_archive_of_gzip_layers_scans_to_the_figures_of_the_plain_tar()
    {
        using var dir = new TempDir();
        var image = new ImageBuilder();
        for (int i = 0; i < 6; i++)
        {
            image.Layer(Tree($"oci{i}", 30 + i), LayerCompression.Gzip, $"RUN {i}");
        }

        string tar = dir.File("layout.tar");
        ArchiveWriter.OciArchive(tar, OciEntry.Of(image.Build(), "v1"));
        string gz = ArchiveWriter.Gzip(tar);

        var (plain, _) = Scan(dir.File("plain.duckdb"), tar, 2);
        var (gzipped, container) = Scan(dir.File("gzip.duckdb"), gz, 2);

        Assert.Equal((1, 6), (plain.ImagesOk, plain.LayersRead));
        Assert.Equal((1, 6), (gzipped.ImagesOk, gzipped.LayersRead));
        ChunkedLoadTests.AssertSameRows(dir.File("plain.duckdb"), dir.File("gzip.duckdb"));
        Assert.InRange(container.Decompressions, 2, 3);
        Assert.Empty(HandlesOn(gz));
    }

    [Fact]
    public async Task Blobs_opened_in_any_order_are_their_bytes_and_a_cursor_is_reused_only_forward()
    {
        using var dir = new TempDir();
        var archive = new TestArchives();
        var (entry, _, layers) = archive.AddLegacyImage(new Platform("linux", "amd64"), 4, "four:1");
        archive.SetManifestJson(entry);
        string gz = archive.WriteTar(dir.File("four.tar.gz"), gzip: true);
        await using var source = ImageSources.Open(gz);
        var listing = await source.ListImagesAsync(CancellationToken.None);
        var image = Assert.Single(listing.Images).Image;
        var container = Assert.IsType<GzipTarContainer>(((FileImageSource)source).Container);
        Assert.Equal(1, container.Decompressions); // the index pass

        // Layer 0 from a new cursor; then layer 1 from the same cursor, moved on.
        Assert.Equal(layers[0].Tar, await ReadAllAsync(image.Layers[0]));
        Assert.Equal(2, container.Decompressions);
        Assert.Equal(layers[1].Tar, await ReadAllAsync(image.Layers[1]));
        Assert.Equal(2, container.Decompressions);

        // Layer 3 while layer 2 is open: the cursor is busy, so a second one starts from the top.
        var open2 = await image.Layers[2].OpenCompressedAsync(CancellationToken.None);
        Assert.Equal(layers[3].Tar, await ReadAllAsync(image.Layers[3]));
        Assert.Equal(3, container.Decompressions);
        // The cursor past the last layer is closed at once: nothing after it can be asked for.
        Assert.Equal(1, container.OpenCursors);
        Assert.Equal(layers[2].Tar, await ReadAllAsync(open2));

        // Layer 0 again: no cursor lies at or before it, so a third one starts from the top.
        var head = new byte[10];
        var again = await image.Layers[0].OpenCompressedAsync(CancellationToken.None);
        await again.ReadExactlyAsync(head);
        Assert.Equal(layers[0].Tar.AsSpan(0, 10).ToArray(), head);
        Assert.Equal(4, container.Decompressions);

        // Disposed half read: the cursor goes back and skips the rest of the entry when layer 2 is asked for.
        await again.DisposeAsync();
        Assert.Equal(layers[2].Tar, await ReadAllAsync(image.Layers[2]));
        Assert.Equal(4, container.Decompressions);
        Assert.NotEmpty(HandlesOn(gz));

        await source.DisposeAsync();
        Assert.Equal(0, container.OpenCursors);
        Assert.Empty(HandlesOn(gz));
    }

    [Fact]
    public async Task An_archive_cut_short_after_listing_fails_the_read_clearly_and_leaves_no_cursor()
    {
        using var dir = new TempDir();
        var archive = new TestArchives();
        var (entry, _, _) = archive.AddLegacyImage(new Platform("linux", "amd64"), 3, "cut:1");
        archive.SetManifestJson(entry);
        string gz = archive.WriteTar(dir.File("cut.tar.gz"), gzip: true);
        await using var source = ImageSources.Open(gz);
        var image = Assert.Single((await source.ListImagesAsync(CancellationToken.None)).Images).Image;
        var container = Assert.IsType<GzipTarContainer>(((FileImageSource)source).Container);
        using (var fs = new FileStream(gz, FileMode.Open, FileAccess.Write))
        {
            fs.SetLength(fs.Length / 3);
        }

        var ex = await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            foreach (var layer in image.Layers)
            {
                await ReadAllAsync(layer);
            }
        });

        Assert.True(ex is ImageFormatException or InvalidDataException or EndOfStreamException or IOException, ex.ToString());
        Assert.Equal(0, container.OpenCursors);
        Assert.Empty(HandlesOn(gz));
    }

    [Fact]
    public async Task A_gzipped_archive_cut_short_fails_its_input_with_a_clear_error_and_the_other_input_is_scanned()
    {
        using var dir = new TempDir();
        string tar = dir.File("images.tar");
        ArchiveWriter.DockerSaveLegacy(tar, SixLayerImages());
        string gz = ArchiveWriter.Gzip(tar);
        byte[] bytes = File.ReadAllBytes(gz);
        string cut = dir.File("cut.tar.gz");
        File.WriteAllBytes(cut, bytes.AsSpan(0, bytes.Length / 2).ToArray());
        string other = dir.File("other.tar");
        ArchiveWriter.DockerSaveLegacy(other, new ImageBuilder(format: ManifestFormat.DockerSchema2).Layer(Tree("lone", 10), LayerCompression.None).Build().Tagged("lone:1"));

        using var db = LayerStatsDatabase.Open(dir.File("t.duckdb"));
        using var store = new DuckDbScanStore(db);
        var sources = new[] { ImageSources.Open(cut), ImageSources.Open(other) };
        var summary = await new ScanPipeline(store, new ScanOptions(Jobs: 2)).RunAsync(sources, CancellationToken.None);
        foreach (var source in sources)
        {
            await source.DisposeAsync();
        }

        Assert.Equal(1, summary.ImagesOk);
        var error = Assert.Single(summary.Errors);
        Assert.Equal(cut, error.Source);
        Assert.Contains("cut.tar.gz", error.Message);
        Assert.Empty(HandlesOn(cut));
    }

    [Fact]
    public void The_read_order_refills_an_archives_slots_in_archive_order_and_leaves_other_layers_in_place()
    {
        var a = new object();
        var b = new object();
        ILayer[] planned =
        [
            Ordered(a, 7), // largest first, as the plan chose
            Plain(),
            Ordered(b, 3),
            Ordered(a, 2),
            Ordered(b, 1),
            Plain(),
            Ordered(a, 5),
        ];

        var order = ArchiveReadOrder.Arrange(planned);

        // a's slots (0, 3, 6) take ordinals 2, 5, 7; b's (2, 4) take 1, 3; the plain layers stay at 1 and 5.
        Assert.Equal([3, 1, 4, 6, 2, 5, 0], order!);
        Assert.Null(ArchiveReadOrder.Arrange([Plain(), Plain()]));

        static ILayer Ordered(object archive, int ordinal) => new ArchiveOrderedLayer(new BlobLayer(Descriptor(), Descriptor().Digest, null), archive, ordinal);
        static ILayer Plain() => new BlobLayer(Descriptor(), Descriptor().Digest, null);
        static Descriptor Descriptor() => new(MediaTypes.DockerLayer, Digest.Compute("x"u8), 1);
    }

    private static (ScanSummary Summary, GzipTarContainer Container) Scan(string database, string input, int jobs)
    {
        using var db = LayerStatsDatabase.Open(database);
        using var store = new DuckDbScanStore(db);
        var source = ImageSources.Open(input);
        try
        {
            var summary = new ScanPipeline(store, new ScanOptions(Jobs: jobs)).RunAsync([source], CancellationToken.None).GetAwaiter().GetResult();
            return (summary, (((FileImageSource)source).Container as GzipTarContainer)!);
        }
        finally
        {
            source.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    private static async Task<byte[]> ReadAllAsync(ILayer layer) => await ReadAllAsync(await layer.OpenCompressedAsync(CancellationToken.None));

    private static async Task<byte[]> ReadAllAsync(Stream stream)
    {
        await using (stream)
        {
            using var ms = new MemoryStream();
            await stream.CopyToAsync(ms);
            return ms.ToArray();
        }
    }

    /// <summary>This process's file descriptors open on <paramref name="path"/>.</summary>
    private static List<string> HandlesOn(string path)
    {
        string full = Path.GetFullPath(path);
        var found = new List<string>();
        foreach (string fd in Directory.EnumerateFileSystemEntries("/proc/self/fd"))
        {
            try
            {
                if (new FileInfo(fd).LinkTarget is { } target && target == full)
                {
                    found.Add(fd);
                }
            }
            catch (IOException)
            {
                // closed while listed
            }
        }

        return found;
    }

    private static LayerBuilder Tree(string seed, int files)
    {
        var layer = new LayerBuilder(implicitParents: true);
        for (int i = 0; i < files; i++)
        {
            layer.File($"{seed}/d{i % 7}/f{i}.txt", Content.Text($"{seed}-{i % 13}", 3 + (i % 5)));
        }

        return layer;
    }
}
