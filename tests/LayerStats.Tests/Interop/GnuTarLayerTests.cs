using System.Text;
using LayerStats.Fixtures;
using LayerStats.Tests.EndToEnd;
using LayerStats.Tests.Fixtures;
using static LayerStats.Tests.Interop.InteropSteps;

namespace LayerStats.Tests.Interop;

/// <summary>
/// Layers written by GNU tar, as hand-made images and many build tools do: one in POSIX (PAX) format, where long and
/// non-ASCII names travel in 'x' extended headers, one in GNU format, where long names travel in ././@LongLink
/// entries. The names stored must be exactly the names created.
/// </summary>
public sealed class GnuTarLayerTests
{
    private static readonly string Long200 = "long/" + new string('p', 90) + "/" + new string('q', 90) + "/name12345.txt";
    private static readonly string LongBaseName = "names/" + new string('n', 146) + ".txt";
    private const string SymlinkPath = "links/far";
    private const string HardlinkPath = "z-hard";

    [Fact]
    public void Paths_from_pax_and_gnu_long_name_headers_are_the_names_created()
    {
        Assert.Equal(200, Long200.Length);
        using var tmp = new TempDir();
        string root = tmp.File("root");
        var files = new SortedDictionary<string, byte[]>(StringComparer.Ordinal)
        {
            ["with space/file name.txt"] = Bytes(100, 21),
            ["utf8/ünïcödé/日本語 ファイル.txt"] = Bytes(200, 22),
            ["emoji/😀 smile.txt"] = Bytes(300, 23),
            [Long200] = Bytes(400, 24),
            [LongBaseName] = Bytes(500, 25),
            ["plain.txt"] = Bytes(600, 26),
        };
        foreach (var (path, content) in files)
        {
            string full = Path.Combine(root, path);
            Directory.CreateDirectory(Path.GetDirectoryName(full)!);
            File.WriteAllBytes(full, content);
        }
        string symlinkTarget = "../" + Long200;
        Directory.CreateDirectory(Path.Combine(root, "links"));
        File.CreateSymbolicLink(Path.Combine(root, SymlinkPath), symlinkTarget);
        // Sorted after long/..., so tar stores long/... as the file and this as a hardlink to its 200-character name.
        Tool("ln", Path.Combine(root, Long200), Path.Combine(root, HardlinkPath));

        string pax = tmp.File("pax.tar.gz"), gnu = tmp.File("gnu.tar.gz");
        ToolUtf8("tar", "--format=posix", "--sort=name", "-czf", pax, "-C", root, ".");
        ToolUtf8("tar", "--format=gnu", "--sort=name", "-czf", gnu, "-C", root, ".");
        var paxLayer = Layer(pax);
        var gnuLayer = Layer(gnu);

        // The layers carry the names the way each format claims to (read here from the raw headers).
        var paxHeaders = RawHeaders(paxLayer.Uncompressed);
        Assert.DoesNotContain(paxHeaders, h => h.Type is 'L' or 'K');
        foreach (string name in new[] { "utf8/ünïcödé/日本語 ファイル.txt", "emoji/😀 smile.txt", Long200, LongBaseName })
        {
            Assert.Contains(paxHeaders, h => h.Type == 'x' && h.Body.Contains($" path=./{name}\n", StringComparison.Ordinal));
        }
        Assert.Contains(paxHeaders, h => h.Type == 'x' && h.Body.Contains($" linkpath={symlinkTarget}\n", StringComparison.Ordinal));
        Assert.Contains(paxHeaders, h => h.Type == 'x' && h.Body.Contains($" linkpath=./{Long200}\n", StringComparison.Ordinal));
        var gnuHeaders = RawHeaders(gnuLayer.Uncompressed);
        Assert.DoesNotContain(gnuHeaders, h => h.Type == 'x');
        Assert.Contains(gnuHeaders, h => h.Type == 'L' && h.Body == $"./{Long200}\0");
        Assert.Contains(gnuHeaders, h => h.Type == 'L' && h.Body == $"./{LongBaseName}\0");
        Assert.Contains(gnuHeaders, h => h.Type == 'K' && h.Body == symlinkTarget + "\0");
        Assert.Contains(gnuHeaders, h => h.Type == 'K' && h.Body == $"./{Long200}\0");

        var image = new ImageBuilder()
            .Layer(paxLayer, "tar --format=posix -czf")
            .Layer(gnuLayer, "tar --format=gnu -czf")
            .Build().Tagged("gnutar:1.0");
        string layout = tmp.File("layout");
        ArchiveWriter.OciLayout(layout, image);

        using var cli = new CliHarness();
        ScanMatchesReference(cli, layout);

        var expected = files.Select(f => (f.Key, "file", (long)f.Value.Length, ""))
            .Append((SymlinkPath, "symlink", 0L, symlinkTarget))
            .Append((HardlinkPath, "hardlink", 0L, Long200))
            .OrderBy(e => e.Item1, StringComparer.Ordinal).ToList();
        foreach (var layer in new[] { paxLayer, gnuLayer })
        {
            var rows = cli.Query($"SELECT path, kind, size, coalesce(link_target, '') FROM files WHERE diff_id = {Sql(layer.DiffId)} AND kind <> 'dir'").Rows
                .Select(r => ((string)r[0]!, (string)r[1]!, Convert.ToInt64(r[2]), (string)r[3]!))
                .OrderBy(e => e.Item1, StringComparer.Ordinal);
            Assert.Equal(expected, rows);
        }

        // The GNU layer rewrites every path of the PAX one: all file bytes of the lower layer are hidden, and duplicated across layers.
        long total = files.Values.Sum(f => (long)f.Length);
        Assert.Equal(
            [$"{total}|{files.Count}"],
            Column(cli, $"SELECT concat_ws('|', hidden_bytes, hidden_files) FROM images WHERE image_id = {Sql(image.ManifestDigest)}"));
        Assert.Equal(total, Convert.ToInt64(cli.Summary()["file_duplicate_across_layers_bytes"]));
    }

    /// <summary>
    /// A sparse file (holes at the start, between and after its data) stored by GNU tar in each of its sparse encodings:
    /// old GNU 'S' headers, PAX 0.0 (GNU.sparse.offset/numbytes records), PAX 0.1 (GNU.sparse.map), PAX 1.0 (map in the
    /// data), the last one with an xattr (SCHILY.xattr, as file capabilities travel). Every layer must give the whole
    /// file's logical size and SHA-256, computed here from the bytes written.
    /// </summary>
    [Fact]
    public void Sparse_files_from_gnu_tar_in_every_sparse_format_hash_as_the_whole_file()
    {
        using var tmp = new TempDir();
        string root = tmp.File("root");
        Directory.CreateDirectory(root);
        const int sparseSize = 3_000_000;
        var content = new byte[sparseSize];
        Array.Fill(content, (byte)'A', 100_000, 5_000);
        Array.Fill(content, (byte)'B', 2_000_000, 3_000);
        using (var f = File.Create(Path.Combine(root, "sparse.bin")))
        {
            f.Seek(100_000, SeekOrigin.Begin);
            f.Write(content, 100_000, 5_000);
            f.Seek(2_000_000, SeekOrigin.Begin);
            f.Write(content, 2_000_000, 3_000);
            f.SetLength(sparseSize);
        }
        var capped = Bytes(40, 31);
        File.WriteAllBytes(Path.Combine(root, "ping"), capped);
        // cap_net_raw+ep as setcap(8) writes it (VFS_CAP_REVISION_2).
        Tool("python3", "-c", "import os, sys; os.setxattr(sys.argv[1], 'security.capability', bytes.fromhex('0100000200200000000000000000000000000000'))", Path.Combine(root, "ping"));

        var formats = new[]
        {
            (Args: new[] { "--format=gnu" }, Proof: (Func<List<(char Type, string Body)>, bool>)(h => h.Any(x => x.Type == 'S'))),
            (Args: new[] { "--format=posix", "--sparse-version=0.0" }, Proof: h => h.Any(x => x.Type == 'x' && x.Body.Contains(" GNU.sparse.offset=", StringComparison.Ordinal))),
            (Args: new[] { "--format=posix", "--sparse-version=0.1" }, Proof: h => h.Any(x => x.Type == 'x' && x.Body.Contains(" GNU.sparse.map=", StringComparison.Ordinal))),
            (Args: new[] { "--format=posix", "--sparse-version=1.0", "--xattrs", "--xattrs-include=security.*" },
                Proof: h => h.Any(x => x.Type == 'x' && x.Body.Contains(" GNU.sparse.major=1\n", StringComparison.Ordinal))
                    && h.Any(x => x.Type == 'x' && x.Body.Contains(" SCHILY.xattr.security.capability=", StringComparison.Ordinal))),
        };
        var builder = new ImageBuilder();
        var diffIds = new List<string>();
        foreach (var (args, proof) in formats)
        {
            string tar = tmp.File($"layer{diffIds.Count}.tar");
            ToolUtf8("tar", [.. args, "--sparse", "--sort=name", "-cf", tar, "-C", root, "."]);
            var raw = File.ReadAllBytes(tar);
            Assert.True(proof(RawHeaders(raw)), $"tar {string.Join(' ', args)} wrote no sparse (or xattr) header");
            Assert.True(raw.Length < 100_000, $"tar {string.Join(' ', args)} stored the holes ({raw.Length} bytes)");
            var layer = new BuiltLayer(raw, raw, LayerCompression.None, new Dictionary<string, string>());
            builder.Layer(layer, "tar " + string.Join(' ', args));
            diffIds.Add(layer.DiffId);
        }
        Assert.Equal(4, diffIds.Distinct().Count());
        var image = builder.Build().Tagged("sparse:1.0");
        string layout = tmp.File("layout");
        ArchiveWriter.OciLayout(layout, image);

        using var cli = new CliHarness();
        ScanMatchesReference(cli, ["--file-hash", "sha256"], layout);

        string sparseSha = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(content));
        string cappedSha = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(capped));
        foreach (string diffId in diffIds)
        {
            var rows = cli.Query($"SELECT path, kind, size, hex(sha256) FROM files WHERE diff_id = {Sql(diffId)} AND kind <> 'dir' ORDER BY path").Rows
                .Select(r => ((string)r[0]!, (string)r[1]!, Convert.ToInt64(r[2]), (string)r[3]!));
            Assert.Equal([("ping", "file", (long)capped.Length, cappedSha), ("sparse.bin", "file", (long)sparseSize, sparseSha)], rows);
        }

        // Each layer replaces both files of the one below: three lower copies are hidden.
        Assert.Equal(
            [$"{3L * (sparseSize + capped.Length)}|6"],
            Column(cli, $"SELECT concat_ws('|', hidden_bytes, hidden_files) FROM images WHERE image_id = {Sql(image.ManifestDigest)}"));
    }

    /// <summary>A gzip blob written by GNU tar as a layer: the blob as it is, its tar stream decompressed here.</summary>
    private static BuiltLayer Layer(string gzipPath)
    {
        var blob = File.ReadAllBytes(gzipPath);
        return new BuiltLayer(blob, FixtureTools.Decompress(blob), LayerCompression.Gzip, new Dictionary<string, string>());
    }

    /// <summary>The raw headers of a tar stream: type flag and, for PAX ('x') and GNU long-name ('L', 'K') headers, their body.</summary>
    private static List<(char Type, string Body)> RawHeaders(byte[] tar)
    {
        var headers = new List<(char Type, string Body)>();
        int offset = 0;
        while (offset + 512 <= tar.Length && tar.AsSpan(offset, 512).ContainsAnyExcept((byte)0))
        {
            char type = (char)tar[offset + 156];
            int size = Convert.ToInt32(Encoding.ASCII.GetString(tar, offset + 124, 12).Trim('\0', ' '), 8);
            headers.Add((type, type is 'x' or 'L' or 'K' ? Encoding.UTF8.GetString(tar, offset + 512, size) : ""));
            offset += 512 + ((size + 511) / 512 * 512);
        }
        return headers;
    }
}
