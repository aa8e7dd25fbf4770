using System.Text;
using LayerStats.Tests.EndToEnd;
using LayerStats.Tests.Fixtures;
using static LayerStats.Tests.Interop.InteropSteps;

namespace LayerStats.Tests.Interop;

/// <summary>
/// Images built the way a registry receives them from umoci (Go archive/tar): <c>umoci repack</c> of a bundle whose
/// rootfs the test writes (hardlink, symlink, long and non-ASCII names, a deleted and a replaced file), and
/// <c>umoci insert</c>, whose layers lack the tar end-of-archive blocks.
/// </summary>
public sealed class UmociBuiltImageTests
{
    private const int BigSize = 5000, OldConfSize = 300, NewConfSize = 123, ToolSize = 777, InsertedSize = 1024;

    private static readonly string UstarPrefixPath = "opt/" + new string('a', 60) + "/" + new string('b', 60) + "/file.txt";
    private static readonly string LongNamePath = "opt/" + new string('c', 120) + ".txt";
    private static readonly string PaxOnlyPath = "opt/deep/" + string.Join('/', Enumerable.Repeat("d123456789", 27)) + "/end.txt";

    [Fact]
    public void Image_built_by_umoci_repack_and_insert_has_the_references_figures_and_the_hidden_bytes_written()
    {
        Assert.True(PaxOnlyPath.Length > 256 && LongNamePath.Length > 100 && UstarPrefixPath.Length > 100);
        using var tmp = new TempDir();
        string layout = tmp.File("lay"), bundle = tmp.File("bundle"), rootfs = Path.Combine(bundle, "rootfs");
        Tool("umoci", "init", "--layout", layout);
        Tool("umoci", "new", "--image", layout + ":empty");
        Tool("umoci", "unpack", "--image", layout + ":empty", bundle);

        // Layer 1: the files written here, a hardlink made by ln(1) and a symlink.
        var tool = Bytes(ToolSize, 3);
        var written = new SortedDictionary<string, byte[]>(StringComparer.Ordinal)
        {
            ["etc/app.conf"] = Bytes(OldConfSize, 1),
            ["usr/lib/big.bin"] = Bytes(BigSize, 2),
            ["usr/bin/tool"] = tool,
            ["usr/share/tool.copy"] = tool,
            ["srv/données/café.txt"] = Encoding.UTF8.GetBytes("café crème\n"),
            ["srv/日本語/ファイル.txt"] = Encoding.UTF8.GetBytes("こんにちは\n"),
            ["with space/a b.txt"] = Bytes(64, 4),
            [UstarPrefixPath] = Bytes(10, 5),
            [LongNamePath] = Bytes(11, 6),
            [PaxOnlyPath] = Bytes(12, 7),
        };
        foreach (var (path, content) in written)
        {
            Write(rootfs, path, content);
        }
        Tool("ln", Path.Combine(rootfs, "usr/bin/tool"), Path.Combine(rootfs, "usr/bin/tool-alias"));
        File.CreateSymbolicLink(Path.Combine(rootfs, "usr/bin/t"), "tool");
        Tool("umoci", "repack", "--refresh-bundle", "--image", layout + ":v1", bundle);

        // Layer 2: a deleted file (whiteout) and a replaced one.
        File.Delete(Path.Combine(rootfs, "usr/lib/big.bin"));
        Write(rootfs, "etc/app.conf", Bytes(NewConfSize, 8));
        Tool("umoci", "repack", "--refresh-bundle", "--image", layout + ":v2", bundle);

        // Layer 3: umoci insert of a file whose size is a whole number of blocks; layer 4: an inserted whiteout.
        string inserted = tmp.File("k.bin");
        File.WriteAllBytes(inserted, Bytes(InsertedSize, 9));
        Tool("umoci", "insert", "--image", layout + ":v2", "--tag", "v3", inserted, "/opt/k.bin");
        Tool("umoci", "insert", "--image", layout + ":v3", "--tag", "v4", "--whiteout", "/etc/app.conf");

        // The insert layers are one header (+ data) and nothing after: no end-of-archive blocks. repack's have them.
        string[] v4Blobs = LayerDigests(SkopeoManifest("oci:" + layout + ":v4"));
        Assert.Equal(4, v4Blobs.Length);
        var repacked = FixtureTools.Decompress(Blob(layout, v4Blobs[0]));
        Assert.Equal(new byte[1024], repacked[^1024..]);
        var insertedTar = FixtureTools.Decompress(Blob(layout, v4Blobs[2]));
        Assert.Equal(512 + InsertedSize, insertedTar.Length);
        Assert.NotEqual(new byte[1024], insertedTar[^1024..]);
        Assert.Equal([("opt/k.bin", "0", (long)InsertedSize)], FixtureTools.PythonTarList(insertedTar).Select(e => (e.Name, e.Type, e.Size)));
        var whiteoutTar = FixtureTools.Decompress(Blob(layout, v4Blobs[3]));
        Assert.Equal(512, whiteoutTar.Length);
        Assert.Equal(["etc/.wh.app.conf"], FixtureTools.PythonTarList(whiteoutTar).Select(e => e.Name));

        using var cli = new CliHarness();
        ScanMatchesReference(cli, layout);

        // Hidden bytes: what the test deleted (big.bin) and replaced (the first app.conf), then the whiteout of the second.
        Assert.Equal((0L, 0L, 0L), Hidden(cli, layout, "empty"));
        Assert.Equal((1L, 0L, 0L), Hidden(cli, layout, "v1"));
        Assert.Equal((2L, (long)BigSize + OldConfSize, 2L), Hidden(cli, layout, "v2"));
        Assert.Equal((3L, (long)BigSize + OldConfSize, 2L), Hidden(cli, layout, "v3"));
        Assert.Equal((4L, (long)BigSize + OldConfSize + NewConfSize, 3L), Hidden(cli, layout, "v4"));

        // Layer 1's entries are exactly what was written, by name (UTF-8, spaces, > 100 and > 256 characters).
        string[] diffIds = DiffIds(SkopeoConfig("oci:" + layout + ":v4"));
        var expected = written.Select(w => (w.Key, "file", (long)w.Value.Length, ""))
            .Append(("usr/bin/tool-alias", "hardlink", 0L, "usr/bin/tool"))
            .Append(("usr/bin/t", "symlink", 0L, "tool"))
            .OrderBy(e => e.Item1, StringComparer.Ordinal);
        Assert.Equal(expected, Entries(cli, diffIds[0]).OrderBy(e => e.Path, StringComparer.Ordinal));
        Assert.Equal([("etc/app.conf", "file", (long)NewConfSize, ""), ("usr/lib/.wh.big.bin", "whiteout", 0L, "")], Entries(cli, diffIds[1]).OrderBy(e => e.Path, StringComparer.Ordinal));
        Assert.Equal([("opt/k.bin", "file", (long)InsertedSize, "")], Entries(cli, diffIds[2]));
        Assert.Equal([("etc/.wh.app.conf", "whiteout", 0L, "")], Entries(cli, diffIds[3]));
        Assert.Equal(512 + InsertedSize, cli.Scalar($"SELECT uncompressed_size FROM layer_contents WHERE diff_id = {Sql(diffIds[2])}"));
        // tool and tool.copy: one duplicate of 777 bytes within layer 1; the hardlink carries no bytes.
        Assert.Equal(ToolSize, Convert.ToInt64(cli.Summary()["file_duplicate_within_layer_bytes"]));
    }

    /// <summary>
    /// umoci insert of a file whose size is not a whole number of blocks writes neither the last block's padding nor the
    /// end blocks: the stream stops right after the file's bytes. Go's archive/tar (docker, containerd, umoci) reads
    /// that as a clean end, so LayerStats must too. The Python reference rejects it ("unexpected end of data"), so the
    /// figures of that image are checked against the image below it plus what the test inserted.
    /// </summary>
    [Fact]
    public void Umoci_insert_layer_ending_inside_its_last_block_is_read_as_go_archive_tar_reads_it()
    {
        using var tmp = new TempDir();
        string layout = tmp.File("lay");
        Tool("umoci", "init", "--layout", layout);
        Tool("umoci", "new", "--image", layout + ":empty");
        string first = tmp.File("first.bin"), small = tmp.File("small.txt");
        File.WriteAllBytes(first, Bytes(2048, 11));
        var smallContent = Encoding.UTF8.GetBytes("seven!\n");
        File.WriteAllBytes(small, smallContent);
        Tool("umoci", "insert", "--image", layout + ":empty", "--tag", "base", first, "/opt/first.bin");

        using var before = new CliHarness();
        ScanMatchesReference(before, layout);

        Tool("umoci", "insert", "--image", layout + ":base", "--tag", "odd", small, "/etc/small.txt");
        string[] blobs = LayerDigests(SkopeoManifest("oci:" + layout + ":odd"));
        var oddBlob = Blob(layout, blobs[1]);
        var oddTar = FixtureTools.Decompress(oddBlob);
        Assert.Equal(512 + smallContent.Length, oddTar.Length);
        Assert.Equal(smallContent, oddTar[512..]);
        // Go's reader (umoci unpack) accepts it and gives the file back.
        Tool("umoci", "unpack", "--image", layout + ":odd", tmp.File("bundle"));
        Assert.Equal(smallContent, File.ReadAllBytes(Path.Combine(tmp.File("bundle"), "rootfs", "etc", "small.txt")));

        using var cli = new CliHarness();
        var (exit, _, stderr) = cli.Scan(layout);
        Assert.True(exit == 0, $"scan exited {exit}: {stderr}");
        Assert.Equal(0L, cli.Scalar("SELECT count(*) FROM scan_errors"));

        string baseId = IndexDigest(layout, "base"), oddId = IndexDigest(layout, "odd");
        var config = SkopeoConfig("oci:" + layout + ":odd");
        Assert.Equal(DiffIds(config), Column(cli, $"SELECT diff_id FROM image_layers WHERE image_id = {Sql(oddId)} ORDER BY position"));
        Assert.Equal(FixtureTools.Sha256(oddTar), DiffIds(config)[1]);
        Assert.Equal(
            [$"{2}|{before.Scalar($"SELECT compressed_bytes FROM images WHERE image_id = {Sql(baseId)}") + oddBlob.Length}|{before.Scalar($"SELECT uncompressed_bytes FROM images WHERE image_id = {Sql(baseId)}") + oddTar.Length}|0|0"],
            Column(cli, $"SELECT concat_ws('|', layer_count, compressed_bytes, uncompressed_bytes, hidden_bytes, hidden_files) FROM images WHERE image_id = {Sql(oddId)}"));
        Assert.Equal([("etc/small.txt", "file", (long)smallContent.Length, "")], Entries(cli, DiffIds(config)[1]));

        var was = before.Summary();
        var now = cli.Summary();
        Assert.Equal(Convert.ToInt64(was["images"]) + 1, Convert.ToInt64(now["images"]));
        Assert.Equal(Convert.ToInt64(was["file_count"]) + 1, Convert.ToInt64(now["file_count"]));
        Assert.Equal(Convert.ToInt64(was["file_content_bytes"]) + smallContent.Length, Convert.ToInt64(now["file_content_bytes"]));
        Assert.Equal(Convert.ToInt64(was["unique_uncompressed_bytes"]) + oddTar.Length, Convert.ToInt64(now["unique_uncompressed_bytes"]));
        Assert.Equal(Convert.ToInt64(was["unique_compressed_bytes"]) + oddBlob.Length, Convert.ToInt64(now["unique_compressed_bytes"]));
    }

    /// <summary>
    /// What umoci repack writes when a directory becomes a file (the file, then whiteouts below it) and when a
    /// hardlinked file is deleted (the remaining link rewritten as a whole file), plus a FIFO, a character device and
    /// an opaque directory from umoci insert --opaque.
    /// </summary>
    [Fact]
    public void Umoci_repack_of_directories_turned_into_files_and_removed_hardlink_targets()
    {
        using var tmp = new TempDir();
        string layout = tmp.File("lay"), bundle = tmp.File("bundle"), rootfs = Path.Combine(bundle, "rootfs");
        Tool("umoci", "init", "--layout", layout);
        Tool("umoci", "new", "--image", layout + ":empty");
        Tool("umoci", "unpack", "--image", layout + ":empty", bundle);

        const int spaced = 64, tool = 777, deep = 99, opaque = 512;
        Write(rootfs, "with space/a b.txt", Bytes(spaced, 41));
        Write(rootfs, "usr/bin/tool", Bytes(tool, 42));
        Write(rootfs, "d/sub/f", Bytes(deep, 43));
        Tool("ln", Path.Combine(rootfs, "usr/bin/tool"), Path.Combine(rootfs, "usr/bin/tool-alias"));
        Tool("mkfifo", Path.Combine(rootfs, "fifo"));
        Tool("mknod", Path.Combine(rootfs, "null"), "c", "1", "3");
        Tool("umoci", "repack", "--refresh-bundle", "--image", layout + ":v1", bundle);

        Directory.Delete(Path.Combine(rootfs, "with space"), recursive: true);
        Write(rootfs, "with space", Encoding.ASCII.GetBytes("now"));
        Directory.Delete(Path.Combine(rootfs, "d/sub"), recursive: true);
        Write(rootfs, "d/sub", Encoding.ASCII.GetBytes("f"));
        File.Delete(Path.Combine(rootfs, "usr/bin/tool"));
        Tool("umoci", "repack", "--refresh-bundle", "--image", layout + ":v2", bundle);

        string replacement = tmp.File("replacement");
        Write(replacement, "x/y", Bytes(opaque, 44));
        Tool("umoci", "insert", "--image", layout + ":v2", "--tag", "v3", "--opaque", replacement, "/usr");

        using var cli = new CliHarness();
        ScanMatchesReference(cli, layout);

        string[] diffIds = DiffIds(SkopeoConfig("oci:" + layout + ":v3"));
        Assert.Equal(
            [("d/sub/f", "file", (long)deep, ""), ("fifo", "fifo", 0L, ""), ("null", "char", 0L, ""), ("usr/bin/tool", "file", (long)tool, ""),
             ("usr/bin/tool-alias", "hardlink", 0L, "usr/bin/tool"), ("with space/a b.txt", "file", (long)spaced, "")],
            Entries(cli, diffIds[0]));
        Assert.Equal(
            [("d/sub", "file", 1L, ""), ("d/sub/.wh.f", "whiteout", 0L, ""), ("usr/bin/.wh.tool", "whiteout", 0L, ""),
             ("usr/bin/tool-alias", "file", (long)tool, ""), ("with space", "file", 3L, ""), ("with space/.wh.a b.txt", "whiteout", 0L, "")],
            Entries(cli, diffIds[1]));
        Assert.Equal([("usr/.wh..wh..opq", "opaque", 0L, ""), ("usr/x/y", "file", (long)opaque, "")], Entries(cli, diffIds[2]));

        // v2 hides the three files written first (the deleted directory's, the removed link target, the replaced directory's);
        // v3's opaque /usr hides the rewritten tool-alias as well.
        Assert.Equal((2L, (long)spaced + tool + deep, 3L), Hidden(cli, layout, "v2"));
        Assert.Equal((3L, (long)spaced + tool + deep + tool, 4L), Hidden(cli, layout, "v3"));
    }

    private static void Write(string rootfs, string path, byte[] content)
    {
        string full = Path.Combine(rootfs, path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        File.WriteAllBytes(full, content);
    }

    private static (long Layers, long HiddenBytes, long HiddenFiles) Hidden(CliHarness cli, string layout, string tag)
    {
        var row = cli.Query($"SELECT layer_count, hidden_bytes, hidden_files FROM images WHERE image_id = {Sql(IndexDigest(layout, tag))}").Rows;
        Assert.Single(row);
        return (Convert.ToInt64(row[0][0]), Convert.ToInt64(row[0][1]), Convert.ToInt64(row[0][2]));
    }

    /// <summary>The non-directory entries of one layer content: path, kind, size, link target ('' when none).</summary>
    private static List<(string Path, string Kind, long Size, string Link)> Entries(CliHarness cli, string diffId) =>
        cli.Query($"SELECT path, kind, size, coalesce(link_target, '') FROM files WHERE diff_id = {Sql(diffId)} AND kind <> 'dir' ORDER BY seq").Rows
            .Select(r => ((string)r[0]!, (string)r[1]!, Convert.ToInt64(r[2]), (string)r[3]!)).ToList();
}
