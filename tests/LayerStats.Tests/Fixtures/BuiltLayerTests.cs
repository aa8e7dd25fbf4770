using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using System.Text.Json;
using LayerStats.Fixtures;

namespace LayerStats.Tests.Fixtures;

public sealed class BuiltLayerTests
{
    private static LayerBuilder Layer() => new LayerBuilder(implicitParents: true)
        .File("etc/os-release", "ID=demo\n")
        .File("usr/bin/tool", Content.Binary("tool", 70_000), LayerBuilder.DefaultExecMode)
        .Hardlink("usr/bin/tool2", "usr/bin/tool")
        .Symlink("usr/bin/sh", "tool")
        .File("empty", [])
        .Whiteout("var/cache/old")
        .File("usr/share/doc/a.txt", Content.Text("doc", 400));

    [Theory]
    [InlineData(LayerCompression.None, "application/vnd.oci.image.layer.v1.tar")]
    [InlineData(LayerCompression.Gzip, "application/vnd.oci.image.layer.v1.tar+gzip")]
    [InlineData(LayerCompression.Zstd, "application/vnd.oci.image.layer.v1.tar+zstd")]
    [InlineData(LayerCompression.EStargz, "application/vnd.oci.image.layer.v1.tar+gzip")]
    public void Digest_and_diff_id_are_the_sha256_of_the_blob_and_of_its_decompressed_stream(LayerCompression compression, string mediaType)
    {
        var layer = BuiltLayer.From(Layer(), compression);

        Assert.Equal(FixtureTools.Sha256(layer.Blob), layer.Digest);
        Assert.Equal(layer.Blob.LongLength, layer.Size);
        var decompressed = FixtureTools.Decompress(layer.Blob);
        Assert.Equal(FixtureTools.Sha256(decompressed), layer.DiffId);
        Assert.Equal(decompressed.LongLength, layer.UncompressedSize);
        Assert.Equal(mediaType, layer.MediaType);
        if (compression != LayerCompression.EStargz)
        {
            Assert.Equal(Layer().ToTar(), decompressed);
        }
    }

    [Fact]
    public void Recompress_keeps_the_diff_id_and_changes_the_blob()
    {
        var gzip = BuiltLayer.From(Layer(), LayerCompression.Gzip);
        var zstd = gzip.Recompress(LayerCompression.Zstd);
        Assert.Equal(gzip.DiffId, zstd.DiffId);
        Assert.NotEqual(gzip.Digest, zstd.Digest);
        Assert.Equal(BuiltLayer.From(Layer(), LayerCompression.None).Digest, gzip.DiffId);
    }

    [Fact]
    public void EStargz_decompresses_with_GNU_gzip_to_the_stated_diff_id()
    {
        var layer = BuiltLayer.From(Layer(), LayerCompression.EStargz);
        var dir = TempDir.Create();
        File.WriteAllBytes(dir["l.tar.gz"], layer.Blob);
        FixtureTools.RunOk("gzip", "-d", dir["l.tar.gz"]);
        Assert.Equal(layer.DiffId, FixtureTools.Sha256(File.ReadAllBytes(dir["l.tar"])));
    }

    [Fact]
    public void EStargz_stream_is_the_landmark_then_the_entries_then_the_TOC()
    {
        var layer = BuiltLayer.From(Layer(), LayerCompression.EStargz);
        using var reader = new TarReader(new MemoryStream(layer.Uncompressed));
        var names = new List<string>();
        while (reader.GetNextEntry() is { } e)
        {
            names.Add(e.Name);
        }
        Assert.Equal([EStargz.NoPrefetchLandmark, .. Layer().Entries.Select(e => e.Type == EntryType.Directory ? e.Path + "/" : e.Path), EStargz.TocName], names);
    }

    [Fact]
    public void EStargz_footer_points_at_the_TOC_and_the_TOC_offsets_at_each_file_member()
    {
        var builder = Layer();
        var layer = BuiltLayer.From(builder, LayerCompression.EStargz);
        var blob = layer.Blob;

        // footer: 51 bytes, gzip header with FEXTRA, subfield 'S''G', "%016xSTARGZ", an empty stored block
        var footer = blob[^51..];
        Assert.Equal(new byte[] { 0x1f, 0x8b, 0x08, 0x04 }, footer[..4]);
        Assert.Equal(26, footer[10]);
        Assert.Equal("SG", Encoding.ASCII.GetString(footer, 12, 2));
        var text = Encoding.ASCII.GetString(footer, 16, 22);
        Assert.EndsWith("STARGZ", text);
        var tocOffset = Convert.ToInt64(text[..16], 16);

        // the TOC member: a tar of stargz.index.json, whose digest is the descriptor annotation
        var tocTar = GunzipMember(blob, tocOffset);
        using var reader = new TarReader(new MemoryStream(tocTar));
        var tocEntry = reader.GetNextEntry(copyData: true)!;
        Assert.Equal(EStargz.TocName, tocEntry.Name);
        var toc = new byte[tocEntry.Length];
        tocEntry.DataStream!.ReadExactly(toc);
        Assert.Equal(FixtureTools.Sha256(toc), layer.Annotations[EStargz.TocDigestAnnotation]);
        Assert.Equal(layer.UncompressedSize.ToString(System.Globalization.CultureInfo.InvariantCulture), layer.Annotations[EStargz.UncompressedSizeAnnotation]);

        var doc = JsonDocument.Parse(toc).RootElement;
        Assert.Equal(1, doc.GetProperty("version").GetInt32());
        var entries = doc.GetProperty("entries").EnumerateArray().ToList();
        Assert.Equal(builder.Entries.Count + 1, entries.Count);
        var regulars = 0;
        foreach (var e in entries.Where(e => e.GetProperty("type").GetString() == "reg" && e.GetProperty("size").GetInt64() > 0))
        {
            // each non-empty regular file starts a gzip member at "offset" that begins with its content
            var size = e.GetProperty("size").GetInt32();
            var member = GunzipMember(blob, e.GetProperty("offset").GetInt64());
            Assert.Equal(e.GetProperty("chunkDigest").GetString(), FixtureTools.Sha256(member[..size]));
            regulars++;
        }
        Assert.Equal(4, regulars); // landmark, os-release, tool, a.txt
        Assert.Equal("usr/bin/tool", entries.Single(e => e.GetProperty("type").GetString() == "hardlink").GetProperty("linkName").GetString());
    }

    /// <summary>Decompresses exactly one gzip member starting at <paramref name="offset"/>.</summary>
    private static byte[] GunzipMember(byte[] blob, long offset)
    {
        // DeflateStream over the raw deflate data after the 10-byte header (the builder writes no optional fields)
        Assert.Equal(0x1f, blob[offset]);
        Assert.Equal(0x8b, blob[offset + 1]);
        Assert.Equal(0, blob[offset + 3]);
        using var deflate = new DeflateStream(new MemoryStream(blob, (int)offset + 10, blob.Length - (int)offset - 10), CompressionMode.Decompress);
        using var ms = new MemoryStream();
        deflate.CopyTo(ms);
        return ms.ToArray();
    }
}
