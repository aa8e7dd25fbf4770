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
