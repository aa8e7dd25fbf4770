using System.IO.Hashing;
using System.Text;
using System.Text.Json;
using LayerStats.Fixtures;
using LayerStats.Tests.EndToEnd;

namespace LayerStats.Tests.Hostile;

/// <summary>
/// Valid but odd layer content, scanned end to end: the rows are exactly the entries (names are data), the figures
/// equal the independent Python reference's where it reads the input, and nothing from an image reaches the disk.
/// </summary>
public sealed class OddContentTests
{
    [Fact]
    public void Traversal_and_absolute_names_are_stored_as_data_and_nothing_is_written()
    {
        string tag = "ls-escape-" + Guid.NewGuid().ToString("N")[..10];
        var tar = new RawTar()
            .File("../../" + tag + "-up", "climbs out")
            .File("/tmp/" + tag + "-abs", "absolute")
            .File("./../" + tag + "-dotup", "dot then up")
            .File("a/../../" + tag + "-mid", "up in the middle")
            .Symlink(tag + "-link", "/etc/passwd")
            .File(tag + "-link/through", "written through a symlink?")
            .Hardlink(tag + "-hard", "../../etc/shadow")
            .ToArray();
        var image = HostileImages.FromTars(LayerCompression.Gzip, tar);

        using var cli = new CliHarness();
        string layout = Path.Combine(cli.Dir, "layout");
        ArchiveWriter.OciLayout(layout, image);
        string cwd = Environment.CurrentDirectory;
        string[] watched = [Path.GetTempPath(), cwd, Path.GetDirectoryName(cwd)!, cli.Dir, "/"];
        var before = watched.ToDictionary(d => d, Names);

        var (exit, _, stderr) = cli.Scan(layout);

        Assert.True(exit == 0, stderr);
        var rows = Files(cli, image.Layers[0].DiffId);
        Assert.Equal(
            new[]
            {
                ("../../" + tag + "-up", "file", 10L, (string?)null),
                ("tmp/" + tag + "-abs", "file", 8L, null),
                ("../" + tag + "-dotup", "file", 11L, null),
                ("a/../../" + tag + "-mid", "file", 16L, null),
                (tag + "-link", "symlink", 0L, "/etc/passwd"),
                (tag + "-link/through", "file", 26L, null),
                (tag + "-hard", "hardlink", 0L, "../../etc/shadow"),
            },
            rows.Select(r => (r.Path, r.Kind, r.Size, r.Link)));
        foreach (var (dir, names) in before)
        {
            var added = Names(dir).Except(names).Where(n => n.Contains(tag, StringComparison.Ordinal)).ToList();
            Assert.True(added.Count == 0, $"the scan created {string.Join(", ", added)} in {dir}");
        }

        Assert.Empty(Directory.EnumerateFileSystemEntries(cli.Dir, "*" + tag + "*", SearchOption.AllDirectories));
        AssertReference(cli, layout);
    }

    [Fact]
    public void Duplicate_entries_at_one_path_are_each_a_row_and_hide_as_the_reference_says()
    {
        var lower = new RawTar()
            .Dir("etc")
            .File("etc/app.conf", "first version\n")
            .File("etc/app.conf", "second, longer version\n")
            .File("etc/app.conf", "third\n")
            .Dir("etc")
            .File("etc/other", "same content\n")
            .File("etc/other", "same content\n")
            .ToArray();
        var upper = new RawTar()
            .File("etc/app.conf", "upper layer wins\n")
            .Symlink("etc/other", "app.conf")
            .ToArray();
        var image = HostileImages.FromTars(LayerCompression.Zstd, lower, upper);

        using var cli = new CliHarness();
        string layout = Path.Combine(cli.Dir, "layout");
        ArchiveWriter.OciLayout(layout, image);
        var (exit, _, stderr) = cli.Scan(layout);

        Assert.True(exit == 0, stderr);
        var rows = Files(cli, image.Layers[0].DiffId);
        Assert.Equal(
            new[] { ("etc", "dir"), ("etc/app.conf", "file"), ("etc/app.conf", "file"), ("etc/app.conf", "file"), ("etc", "dir"), ("etc/other", "file"), ("etc/other", "file") },
            rows.Select(r => (r.Path, r.Kind)));
        Assert.Equal(new long[] { 0, 14, 23, 6, 0, 13, 13 }, rows.Select(r => r.Size));
        Assert.Equal(XxHash128.HashToUInt128(Encoding.UTF8.GetBytes("same content\n")), rows[5].Xxh);
        Assert.Equal(rows[5].Xxh, rows[6].Xxh);
        // Every entry of a path a later layer replaces is hidden: 14 + 23 + 6 + 13 + 13 bytes in 5 files.
        var image0 = cli.Query("SELECT hidden_bytes, hidden_files FROM images").Rows.Single();
        Assert.Equal(69L, Convert.ToInt64(image0[0]));
        Assert.Equal(5L, Convert.ToInt64(image0[1]));
        AssertReference(cli, layout);
    }

    [Fact]
    public void Symlink_loops_and_odd_hardlinks_are_rows_not_followed()
    {
        var tar = new RawTar()
            .Symlink("loop/a", "b")
            .Symlink("loop/b", "a")
            .Symlink("loop/self", "self")
            .Symlink("loop/up", "../loop")
            .Symlink("loop/deep", "up/up/up/up/up/up/up/up/a")
            .Hardlink("links/to-later", "later/file")
            .File("later/file", "the target comes after the link\n")
            .Hardlink("links/to-missing", "no/such/file")
            .Hardlink("links/to-self", "links/to-self")
            .Hardlink("links/to-dir", "later")
            .ToArray();
        var image = HostileImages.FromTars(LayerCompression.Gzip, tar);

        using var cli = new CliHarness();
        string layout = Path.Combine(cli.Dir, "layout");
        ArchiveWriter.OciLayout(layout, image);
        var (exit, _, stderr) = cli.Scan(layout);

        Assert.True(exit == 0, stderr);
        var rows = Files(cli, image.Layers[0].DiffId);
        Assert.Equal(
            new[]
            {
                ("loop/a", "symlink", "b"), ("loop/b", "symlink", "a"), ("loop/self", "symlink", "self"), ("loop/up", "symlink", "../loop"),
                ("loop/deep", "symlink", "up/up/up/up/up/up/up/up/a"),
                ("links/to-later", "hardlink", "later/file"), ("later/file", "file", (string?)null), ("links/to-missing", "hardlink", "no/such/file"),
                ("links/to-self", "hardlink", "links/to-self"), ("links/to-dir", "hardlink", "later"),
            },
            rows.Select(r => (r.Path, r.Kind, r.Link)));
        Assert.Equal(32L, rows[6].Size);
        Assert.All(rows.Where(r => r.Kind != "file"), r => Assert.Equal(0L, r.Size));
        // Hardlinks are not file contents: the content bytes are the one regular file.
        Assert.Equal(32L, Convert.ToInt64(cli.Summary()["file_content_bytes"]));
        AssertReference(cli, layout);
    }

    /// <summary>
    /// Names that are not UTF-8 (raw bytes in a ustar header, as old tars from Latin-1 systems have) are decoded with
    /// U+FFFD for each invalid byte: the row exists, the rest of the name is kept. Two names that differ only in their
    /// invalid bytes become the same path (a documented loss: the path column is text).
    /// </summary>
    [Fact]
    public void Non_utf8_names_are_stored_with_replacement_characters()
    {
        byte[] latin1 = [.. "opt/caf"u8, 0xe9, .. "/na"u8, 0xef, .. "ve.txt"u8];
        byte[] other = [.. "opt/caf"u8, 0xe8, .. "/x"u8];
        byte[] truncatedSequence = [.. "opt/"u8, 0xe2, 0x82];
        var tar = new RawTar()
            .FileWithRawName(latin1, "latin-1 name\n"u8.ToArray())
            .FileWithRawName(other, "another\n"u8.ToArray())
            .FileWithRawName(truncatedSequence, "cut utf-8\n"u8.ToArray())
            .File("opt/" + new string('\u00e9', 3) + "-valid-\U0001F600", "valid utf-8\n")
            .FileWithRawPaxPath([.. "opt/pax-"u8, 0x80, .. "-lone-continuation"u8], "pax path with a bad byte\n"u8.ToArray())
            .File("opt/line\nbreak\ttab", "control characters\n")
            .ToArray();
        var image = HostileImages.FromTars(LayerCompression.None, tar);

        using var cli = new CliHarness();
        string layout = Path.Combine(cli.Dir, "layout");
        ArchiveWriter.OciLayout(layout, image);
        var (exit, _, stderr) = cli.Scan(layout);

        Assert.True(exit == 0, stderr);
        var rows = Files(cli, image.Layers[0].DiffId);
        Assert.Equal(
            new[]
            {
                "opt/caf\uFFFD/na\uFFFDve.txt", "opt/caf\uFFFD/x", "opt/\uFFFD", "opt/\u00e9\u00e9\u00e9-valid-\U0001F600",
                "opt/pax-\uFFFD-lone-continuation", "opt/line\nbreak\ttab",
            },
            rows.Select(r => r.Path));
        Assert.Equal(new long[] { 13, 8, 10, 12, 25, 19 }, rows.Select(r => r.Size));
        Assert.All(rows, r => Assert.Equal("file", r.Kind));
    }

    [Fact]
    public void Pax_path_of_64_KiB_is_stored_whole()
    {
        // 64 KiB in 257 components of 255 bytes (the longest a file system allows).
        string longPath = string.Join("/", Enumerable.Range(0, 257).Select(i => (i % 10).ToString(System.Globalization.CultureInfo.InvariantCulture) + new string('n', 254)));
        Assert.True(longPath.Length >= 64 * 1024);
        string longLink = "target/" + new string('l', 64 * 1024);
        var tar = new RawTar()
            .File(longPath, "deep\n")
            .Symlink("short", longLink)
            .ToArray();
        var upper = new RawTar().File(longPath, "replaced\n").ToArray();
        var image = HostileImages.FromTars(LayerCompression.Gzip, tar, upper);

        using var cli = new CliHarness();
        string layout = Path.Combine(cli.Dir, "layout");
        ArchiveWriter.OciLayout(layout, image);
        var (exit, _, stderr) = cli.Scan(layout);

        Assert.True(exit == 0, stderr);
        var rows = Files(cli, image.Layers[0].DiffId);
        Assert.Equal(2, rows.Count);
        Assert.Equal(longPath, rows[0].Path);
        Assert.Equal(5L, rows[0].Size);
        Assert.Equal(longLink, rows[1].Link);
        Assert.Equal(5L, cli.Scalar("SELECT hidden_bytes FROM images"));
        AssertReference(cli, layout);
    }

    /// <summary>
    /// The deepest path 64 KiB allow (32,767 directories): the analyses that walk the directory tree (dive's figures)
    /// must not recurse once per level. (The Python reference cannot read this one: it recurses.)
    /// </summary>
    [Fact]
    public void Pax_path_of_32767_directories_does_not_overflow_the_stack()
    {
        string deepPath = string.Concat(Enumerable.Repeat("a/", 32767)) + "f";
        var lower = new RawTar().File(deepPath, "lower\n").File("top", "top\n").ToArray();
        var upper = new RawTar().File(deepPath, "upper!\n").File(string.Concat(Enumerable.Repeat("a/", 100)) + "g", "g\n").ToArray();
        var image = HostileImages.FromTars(LayerCompression.Gzip, lower, upper);

        using var cli = new CliHarness();
        string layout = Path.Combine(cli.Dir, "layout");
        ArchiveWriter.OciLayout(layout, image);
        var (exit, _, stderr) = cli.Scan(layout);

        Assert.True(exit == 0, stderr);
        Assert.Equal(deepPath, Files(cli, image.Layers[0].DiffId)[0].Path);
        var row = cli.Query("SELECT hidden_bytes, hidden_files, dive_wasted_bytes FROM images").Rows.Single();
        // The upper file replaces the lower one: 6 bytes hidden in 1 file; dive counts both copies of the path as
        // wasted (6 + 7), as its rule for a path present in more than one layer says.
        Assert.Equal(new long[] { 6, 1, 13 }, row.Select(Convert.ToInt64));
    }

    [Fact]
    public void Zero_layer_image_is_an_image_with_no_layers()
    {
        var empty = new ImageBuilder().EmptyLayerHistory("CMD [\"true\"]").Build();
        var other = HostileImages.FromTars(LayerCompression.Gzip, new RawTar().File("x", "x\n").ToArray());

        using var cli = new CliHarness();
        string layout = Path.Combine(cli.Dir, "layout");
        ArchiveWriter.OciLayout(layout, OciEntry.Of(empty, "empty"), OciEntry.Of(other, "other"));
        var (exit, _, stderr) = cli.Scan(layout);

        Assert.True(exit == 0, stderr);
        var row = cli.Query($"SELECT layer_count, compressed_bytes, uncompressed_bytes, hidden_bytes FROM images WHERE image_id = '{empty.ManifestDigest}'").Rows.Single();
        Assert.Equal(new long[] { 0, 0, 0, 0 }, row.Select(Convert.ToInt64));
        Assert.Equal(0L, cli.Scalar($"SELECT count(*) FROM image_layers WHERE image_id = '{empty.ManifestDigest}'"));
        Assert.Equal(2L, cli.Scalar("SELECT count(*) FROM images"));
        AssertReference(cli, layout);
    }

    [Fact]
    public void Sparse_files_gnu_and_pax_are_scanned_end_to_end()
    {
        var segments = new (long, byte[])[] { (4096, Content.Random("sparse-a", 1024)), (1 << 20, Content.Random("sparse-b", 512)) };
        var builder = new LayerBuilder()
            .SparseFile("var/gnu.img", 2 << 20, segments, SparseFormat.GnuOld)
            .SparseFile("var/pax00.img", 2 << 20, segments, SparseFormat.Pax00)
            .SparseFile("var/pax01.img", 2 << 20, segments, SparseFormat.Pax01)
            .SparseFile("var/pax10.img", 2 << 20, segments, SparseFormat.Pax10)
            .File("var/plain", "plain\n");
        var image = new ImageBuilder().Layer(builder, LayerCompression.Gzip).Build();

        using var cli = new CliHarness();
        string layout = Path.Combine(cli.Dir, "layout");
        ArchiveWriter.OciLayout(layout, image);
        var (exit, _, stderr) = cli.Scan(layout);

        Assert.True(exit == 0, stderr);
        var rows = Files(cli, image.Layers[0].DiffId).Where(r => r.Kind == "file").ToList();
        var logical = builder.Entries[0].LogicalContent();
        UInt128 expected = XxHash128.HashToUInt128(logical);
        Assert.Equal(["var/gnu.img", "var/pax00.img", "var/pax01.img", "var/pax10.img", "var/plain"], rows.Select(r => r.Path));
        Assert.All(rows.Take(4), r => Assert.Equal((2L << 20, expected), (r.Size, r.Xxh)));
        // The four sparse files are one content stored four times.
        Assert.Equal(3L * (2 << 20), Convert.ToInt64(cli.Summary()["file_duplicate_bytes"]));
        AssertReference(cli, layout);
    }

    internal sealed record FileRow(long Seq, string Path, string Kind, long Size, string? Link, UInt128? Xxh);

    internal static List<FileRow> Files(CliHarness cli, string diffId) =>
        cli.Query($"SELECT seq, path, kind, size, link_target, xxh128 FROM files WHERE diff_id = '{diffId}' ORDER BY seq").Rows
            .Select(r => new FileRow(Convert.ToInt64(r[0]), (string)r[1]!, (string)r[2]!, Convert.ToInt64(r[3]), (string?)r[4], r[5] is null ? null : ToUInt128(r[5]!)))
            .ToList();

    internal static void AssertReference(CliHarness cli, params string[] inputs) =>
        ReferenceFigures.AssertFigures(cli, JsonDocument.Parse(ReferenceFigures.RunReference(inputs)).RootElement.Clone());

    private static UInt128 ToUInt128(object value) => value switch
    {
        UInt128 u => u,
        System.Numerics.BigInteger b => (UInt128)b,
        _ => UInt128.Parse(value.ToString()!, System.Globalization.CultureInfo.InvariantCulture),
    };

    private static HashSet<string> Names(string dir)
    {
        try
        {
            return Directory.EnumerateFileSystemEntries(dir).Select(Path.GetFileName).OfType<string>().ToHashSet(StringComparer.Ordinal);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }
}
