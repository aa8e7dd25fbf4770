using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace LayerStats.Fixtures;

public enum LayerCompression
{
    None,
    Gzip,
    Zstd,

    /// <summary>eStargz: a gzip stream of one member per file payload, plus a TOC entry and a 51-byte footer.</summary>
    EStargz,
}

/// <summary>
/// One layer blob as a registry stores it. <see cref="Digest"/>/<see cref="Size"/> are of <see cref="Blob"/> (compressed);
/// <see cref="DiffId"/>/<see cref="UncompressedSize"/> of <see cref="Uncompressed"/> (the tar stream).
/// <see cref="MediaType"/> is the OCI one; <see cref="DockerMediaType"/> the Docker schema2 one.
/// </summary>
public sealed class BuiltLayer(
    byte[] blob,
    byte[] uncompressed,
    LayerCompression compression,
    IReadOnlyDictionary<string, string> annotations)
{
    public byte[] Blob { get; } = blob;
    public byte[] Uncompressed { get; } = uncompressed;
    public LayerCompression Compression { get; } = compression;

    /// <summary>Descriptor annotations (eStargz: TOC digest and uncompressed size).</summary>
    public IReadOnlyDictionary<string, string> Annotations { get; } = annotations;
    public string Digest { get; } = Sha256(blob);
    public long Size => Blob.LongLength;
    public string DiffId { get; } = Sha256(uncompressed);
    public long UncompressedSize => Uncompressed.LongLength;

    public string MediaType => Compression switch
    {
        LayerCompression.None => "application/vnd.oci.image.layer.v1.tar",
        LayerCompression.Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        _ => "application/vnd.oci.image.layer.v1.tar+gzip",
    };

    public string DockerMediaType => Compression switch
    {
        LayerCompression.None => "application/vnd.docker.image.rootfs.diff.tar",
        LayerCompression.Zstd => "application/vnd.docker.image.rootfs.diff.tar.zstd",
        _ => "application/vnd.docker.image.rootfs.diff.tar.gzip",
    };

    /// <summary>Encodes a layer. eStargz adds the landmark and TOC entries, so its tar stream differs from <c>layer.ToTar()</c>.</summary>
    public static BuiltLayer From(LayerBuilder layer, LayerCompression compression)
    {
        if (compression == LayerCompression.EStargz)
        {
            return EStargz.Build(layer);
        }
        var tar = layer.ToTar();
        return new BuiltLayer(Compress(tar, compression), tar, compression, new Dictionary<string, string>());
    }

    /// <summary>Another compression of the same tar stream: same diff_id, another blob.</summary>
    public BuiltLayer Recompress(LayerCompression compression) => compression == LayerCompression.EStargz
        ? throw new NotSupportedException("eStargz needs the entries; use From(layer, EStargz)")
        : new BuiltLayer(Compress(Uncompressed, compression), Uncompressed, compression, new Dictionary<string, string>());

    public static byte[] Compress(byte[] data, LayerCompression compression)
    {
        switch (compression)
        {
            case LayerCompression.None:
                return data;
            case LayerCompression.Gzip:
                return Gzip(data);
            case LayerCompression.Zstd:
                using (var c = new ZstdSharp.Compressor(3))
                {
                    return c.Wrap(data).ToArray();
                }
            default:
                throw new ArgumentOutOfRangeException(nameof(compression));
        }
    }

    /// <summary>One gzip member (the .NET header: no name, mtime 0), level Optimal.</summary>
    public static byte[] Gzip(ReadOnlySpan<byte> data)
    {
        using var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Optimal, leaveOpen: true))
        {
            gz.Write(data);
        }
        return ms.ToArray();
    }

    public static string Sha256(ReadOnlySpan<byte> data) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(data));
}

/// <summary>The eStargz encoder (containerd/stargz-snapshotter docs/estargz.md).</summary>
public static class EStargz
{
    public const string TocName = "stargz.index.json";
    public const string NoPrefetchLandmark = ".no.prefetch.landmark";
    public const string TocDigestAnnotation = "containerd.io/snapshot/stargz/toc.digest";
    public const string UncompressedSizeAnnotation = "io.containers.estargz.uncompressed-size";
    public const int FooterSize = 51;

    public static BuiltLayer Build(LayerBuilder layer)
    {
        if (layer.Entries.Any(e => e.Type == EntryType.SparseFile))
        {
            throw new NotSupportedException("sparse entries in an eStargz layer");
        }
        // The layer's entries preceded by the no-prefetch landmark (a 1-byte regular file 0xf), as the spec requires.
        var withLandmark = new LayerBuilder(implicitParents: false, mtime: layer.Mtime);
        withLandmark.File(NoPrefetchLandmark, [0xf]);
        foreach (var e in layer.Entries)
        {
            Copy(withLandmark, e);
        }

        using var tarStream = new MemoryStream();
        var spans = withLandmark.WriteEntries(tarStream);
        var body = tarStream.ToArray();

        // Cut the tar stream at the start of every non-empty regular file payload; each piece is its own gzip member.
        var cuts = new List<long> { 0 };
        foreach (var span in spans)
        {
            var e = withLandmark.Entries[span.EntryIndex];
            if (e.Type == EntryType.File && e.Content.Length > 0 && span.DataOffset > 0)
            {
                cuts.Add(span.DataOffset);
            }
        }
        cuts = [.. cuts.Distinct()];
        using var blob = new MemoryStream();
        var memberOffset = new Dictionary<long, long>();
        for (var i = 0; i < cuts.Count; i++)
        {
            var start = cuts[i];
            var end = i + 1 < cuts.Count ? cuts[i + 1] : body.Length;
            memberOffset[start] = blob.Position;
            blob.Write(BuiltLayer.Gzip(body.AsSpan((int)start, (int)(end - start))));
        }

        var toc = Toc(withLandmark, spans, memberOffset);
        var tocOffset = blob.Position;
        using (var tocTar = new MemoryStream())
        {
            TarFormat.WriteEntryHeader(tocTar, new TarFormat.Header(TocName, TarFormat.TypeRegular) { Size = toc.Length, Mtime = layer.Mtime });
            TarFormat.WritePadded(tocTar, toc);
            TarFormat.WriteEndOfArchive(tocTar);
            blob.Write(BuiltLayer.Gzip(tocTar.ToArray()));
            tarStream.Write(tocTar.ToArray());
        }
        blob.Write(Footer(tocOffset));

        var uncompressed = tarStream.ToArray();
        var annotations = new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            [TocDigestAnnotation] = BuiltLayer.Sha256(toc),
            [UncompressedSizeAnnotation] = uncompressed.LongLength.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        return new BuiltLayer(blob.ToArray(), uncompressed, LayerCompression.EStargz, annotations);
    }

    /// <summary>The 51-byte footer: an empty gzip member whose Extra field holds "%016xSTARGZ" of the TOC offset.</summary>
    public static byte[] Footer(long tocOffset)
    {
        var f = new byte[FooterSize];
        byte[] header = [0x1f, 0x8b, 0x08, 0x04, 0, 0, 0, 0, 0, 0xff];
        header.CopyTo(f, 0);
        f[10] = 26; // XLEN
        f[12] = (byte)'S';
        f[13] = (byte)'G';
        f[14] = 22; // LEN
        Encoding.ASCII.GetBytes(tocOffset.ToString("x16", System.Globalization.CultureInfo.InvariantCulture) + "STARGZ").CopyTo(f, 16);
        byte[] emptyStoredBlock = [0x01, 0x00, 0x00, 0xff, 0xff];
        emptyStoredBlock.CopyTo(f, 38);
        // CRC32 and ISIZE of empty data are zero: bytes 43..50 stay 0.
        return f;
    }

    private static byte[] Toc(LayerBuilder layer, IReadOnlyList<TarSpan> spans, Dictionary<long, long> memberOffset)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = false }))
        {
            w.WriteStartObject();
            w.WriteNumber("version", 1);
            w.WriteStartArray("entries");
            var modtime = DateTimeOffset.FromUnixTimeSeconds(layer.Mtime).UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture);
            foreach (var span in spans)
            {
                var e = layer.Entries[span.EntryIndex];
                w.WriteStartObject();
                w.WriteString("name", e.Type == EntryType.Directory ? e.Path + "/" : e.Path);
                w.WriteString("type", e.Type switch
                {
                    EntryType.Directory => "dir",
                    EntryType.File => "reg",
                    EntryType.Symlink => "symlink",
                    EntryType.Hardlink => "hardlink",
                    EntryType.CharDevice => "char",
                    EntryType.BlockDevice => "block",
                    EntryType.Fifo => "fifo",
                    _ => throw new NotSupportedException(e.Type.ToString()),
                });
                if (e.Type == EntryType.File)
                {
                    w.WriteNumber("size", e.Content.Length);
                }
                w.WriteString("modtime", modtime);
                if (e.Type is EntryType.Symlink or EntryType.Hardlink)
                {
                    w.WriteString("linkName", e.LinkTarget);
                }
                w.WriteNumber("mode", e.Mode);
                w.WriteNumber("uid", e.Uid);
                w.WriteNumber("gid", e.Gid);
                w.WriteString("userName", "root");
                w.WriteString("groupName", "root");
                if (e.Type is EntryType.CharDevice or EntryType.BlockDevice)
                {
                    w.WriteNumber("devMajor", e.DevMajor);
                    w.WriteNumber("devMinor", e.DevMinor);
                }
                if (e.Type == EntryType.File && e.Content.Length > 0)
                {
                    var digest = BuiltLayer.Sha256(e.Content);
                    w.WriteNumber("offset", memberOffset[span.DataOffset]);
                    w.WriteString("digest", digest);
                    w.WriteString("chunkDigest", digest);
                }
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return ms.ToArray();
    }

    private static void Copy(LayerBuilder to, LayerEntry e)
    {
        switch (e.Type)
        {
            case EntryType.Directory: to.Dir(e.Path, e.Mode); break;
            case EntryType.File: to.File(e.Path, e.Content, e.Mode, e.Uid, e.Gid); break;
            case EntryType.Symlink: to.Symlink(e.Path, e.LinkTarget); break;
            case EntryType.Hardlink: to.Hardlink(e.Path, e.LinkTarget, e.Mode); break;
            case EntryType.Fifo: to.Fifo(e.Path, e.Mode); break;
            case EntryType.CharDevice: to.CharDevice(e.Path, e.DevMajor, e.DevMinor, e.Mode); break;
            case EntryType.BlockDevice: to.BlockDevice(e.Path, e.DevMajor, e.DevMinor, e.Mode); break;
            default: throw new NotSupportedException(e.Type.ToString());
        }
    }
}
