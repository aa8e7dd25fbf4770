using LayerStats.Fixtures;
using LayerStats.Tests.EndToEnd;

namespace LayerStats.Tests.Html;

/// <summary>The views of report_views.sql on images whose duplicates, sharing and hidden files are known by hand.</summary>
public sealed class ReportViewsTests
{
    private static readonly string X = new('x', 1000);
    private const string Y = "0123456789";
    private const string Z = "bashrc!";

    [Fact]
    public void Duplicate_bytes_by_directory_and_by_type_count_every_copy_but_the_first_where_it_lies()
    {
        using var cli = new CliHarness();
        Build(cli);

        // X (1000 B) at opt/app/libz.so.1 (B), root.bin (C), usr/lib/libz.so.1 (A): the first path is kept, two copies.
        // Y (10 B) at opt/app/b.TXT (B), usr/share/doc/a.txt (A): one copy. Z (7 B) at etc/.bashrc (B), etc/x/.bashrc (C).
        Assert.Equal(
            [("/", 1L, 1000L), ("etc/x", 1L, 7L), ("usr/lib", 1L, 1000L), ("usr/share", 1L, 10L)],
            cli.Query("SELECT directory, duplicate_files, duplicate_bytes FROM duplicate_bytes_by_directory ORDER BY directory").Rows
                .Select(r => ((string)r[0]!, (long)r[1]!, (long)r[2]!)));
        Assert.Equal(
            [("(none)", 1L, 7L), ("bin", 1L, 1000L), ("so", 1L, 1000L), ("txt", 1L, 10L)],
            cli.Query("SELECT extension, duplicate_files, duplicate_bytes FROM duplicate_bytes_by_extension ORDER BY extension").Rows
                .Select(r => ((string)r[0]!, (long)r[1]!, (long)r[2]!)));
        Assert.Equal(2017L, cli.Summary()["file_duplicate_bytes"]);
        Assert.Equal(2017L, cli.Scalar("SELECT CAST(sum(size) AS BIGINT) FROM duplicate_copies"));
    }

    [Fact]
    public void Stacked_bytes_layer_summary_drill_down_history_and_storage_levels_agree_with_the_images_built()
    {
        using var cli = new CliHarness();
        var (one, two, a, b, c) = Build(cli);

        // A is in both images (shared), B only in one, C only in two; two's C replaces usr/share/doc/a.txt (10 B hidden).
        var stacked = cli.Query("SELECT image_id, shared_layers, shared_compressed_bytes, unique_compressed_bytes, shared_uncompressed_bytes, unique_uncompressed_bytes, hidden_bytes, names FROM image_stacked_bytes").Rows
            .ToDictionary(r => (string)r[0]!, r => r.Skip(1).ToArray());
        Assert.Equal(new object?[] { 1L, a.Size, b.Size, a.UncompressedSize, b.UncompressedSize, 0L, "one:1" }, stacked[one.ManifestDigest]);
        Assert.Equal(new object?[] { 1L, a.Size, c.Size, a.UncompressedSize, c.UncompressedSize, 10L, "two:1" }, stacked[two.ManifestDigest]);

        var layers = cli.Query("SELECT digest, refs, saved_bytes, files, created_by FROM layer_summary").Rows.ToDictionary(r => (string)r[0]!, r => r.Skip(1).ToArray());
        Assert.Equal(new object?[] { 2L, a.Size, 2L, "ADD rootfs" }, layers[a.Digest]);
        Assert.Equal(new object?[] { 1L, 0L, 3L, "COPY app" }, layers[b.Digest]);
        Assert.Equal(new object?[] { 1L, 0L, 4L, "RUN <fix> && echo \"done\"" }, layers[c.Digest]);

        Assert.Equal(
            [(0, a.Digest, 2L, "ADD rootfs"), (1, c.Digest, 1L, "RUN <fix> && echo \"done\"")],
            cli.Query($"SELECT position, digest, refs, created_by FROM image_layer_report WHERE image_id = '{two.ManifestDigest}' ORDER BY position").Rows
                .Select(r => (Convert.ToInt32(r[0]), (string)r[1]!, (long)r[2]!, (string)r[3]!)));

        var run = cli.Query("SELECT run_id, status, images_ok, images_new, layers_stored FROM run_history").Rows.Single();
        Assert.Equal(new object?[] { 1, "ok", 2, 2L, 3L }, run);
        Assert.Equal(0, cli.Scan(cli.Dir + "/two.tar").Exit);
        Assert.Equal(
            [(2, 0L, 0L)],
            cli.Query("SELECT run_id, images_new, layers_stored FROM run_history WHERE run_id = 2").Rows.Select(r => ((int)r[0]!, (long)r[1]!, (long)r[2]!)));

        long flatUncompressed = 2 * a.UncompressedSize + b.UncompressedSize + c.UncompressedSize;
        long stored = a.UncompressedSize + b.UncompressedSize + c.UncompressedSize;
        Assert.Equal(
            [("compressed", "flat", 2 * a.Size + b.Size + c.Size), ("compressed", "layers deduplicated", a.Size + b.Size + c.Size),
             ("uncompressed", "flat", flatUncompressed), ("uncompressed", "layers deduplicated", stored),
             ("uncompressed", "files deduplicated", stored - 2017)],
            cli.Query("SELECT basis, name, bytes FROM storage_levels ORDER BY basis, level").Rows.Select(r => ((string)r[0]!, (string)r[1]!, (long)r[2]!)));
    }

    private static (BuiltImage One, BuiltImage Two, BuiltLayer A, BuiltLayer B, BuiltLayer C) Build(CliHarness cli)
    {
        var a = BuiltLayer.From(new LayerBuilder().File("usr/lib/libz.so.1", X).File("usr/share/doc/a.txt", Y), LayerCompression.Gzip);
        var b = BuiltLayer.From(new LayerBuilder().File("opt/app/libz.so.1", X).File("opt/app/b.TXT", Y).File("etc/.bashrc", Z), LayerCompression.Gzip);
        var c = BuiltLayer.From(new LayerBuilder().File("etc/x/.bashrc", Z).File("root.bin", X).File("notes", "notes").File("usr/share/doc/a.txt", "new"), LayerCompression.Zstd);
        var one = new ImageBuilder().Layer(a, "ADD rootfs").Layer(b, "COPY app").Build();
        var two = new ImageBuilder().Layer(a, "ADD rootfs").Layer(c, "RUN <fix> && echo \"done\"").Build();
        ArchiveWriter.OciArchive(Path.Combine(cli.Dir, "one.tar"), OciEntry.Of(one, "one:1"));
        ArchiveWriter.OciArchive(Path.Combine(cli.Dir, "two.tar"), OciEntry.Of(two, "two:1"));
        Assert.Equal(0, cli.Scan(Path.Combine(cli.Dir, "one.tar"), Path.Combine(cli.Dir, "two.tar")).Exit);
        return (one, two, a, b, c);
    }
}
