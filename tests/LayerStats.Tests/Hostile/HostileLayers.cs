using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using LayerStats.Fixtures;

namespace LayerStats.Tests.Hostile;

/// <summary>
/// Hand-written tar streams for hostile-input tests: entries whose names and headers are exactly the bytes given
/// (built on <see cref="TarFormat"/>, independent of the reader under test).
/// </summary>
internal sealed class RawTar
{
    private readonly MemoryStream _s = new();

    /// <summary>A regular file; long names go through a PAX header (as <see cref="TarFormat.WriteEntryHeader"/> does).</summary>
    public RawTar File(string name, byte[] content, IReadOnlyList<KeyValuePair<string, string>>? pax = null)
    {
        TarFormat.WriteEntryHeader(_s, new TarFormat.Header(name, TarFormat.TypeRegular) { Size = content.Length }, pax);
        TarFormat.WritePadded(_s, content);
        return this;
    }

    public RawTar File(string name, string text) => File(name, Encoding.UTF8.GetBytes(text));

    public RawTar Dir(string name)
    {
        TarFormat.WriteEntryHeader(_s, new TarFormat.Header(name.TrimEnd('/') + "/", TarFormat.TypeDirectory) { Mode = 493 });
        return this;
    }

    public RawTar Symlink(string name, string target)
    {
        TarFormat.WriteEntryHeader(_s, new TarFormat.Header(name, TarFormat.TypeSymlink) { LinkName = target, Mode = 511 });
        return this;
    }

    public RawTar Hardlink(string name, string target)
    {
        TarFormat.WriteEntryHeader(_s, new TarFormat.Header(name, TarFormat.TypeHardlink) { LinkName = target });
        return this;
    }

    /// <summary>A regular file whose ustar name field (offset 0, 100 bytes) is these raw bytes (no UTF-8 check).</summary>
    public RawTar FileWithRawName(byte[] rawName, byte[] content)
    {
        var header = TarFormat.HeaderBlock(new TarFormat.Header("placeholder", TarFormat.TypeRegular) { Size = content.Length }, b =>
        {
            Array.Clear(b, 0, 100);
            rawName.CopyTo(b, 0);
        });
        _s.Write(header);
        TarFormat.WritePadded(_s, content);
        return this;
    }

    /// <summary>A regular file named by a PAX <c>path</c> record whose value is these raw bytes (no UTF-8 check).</summary>
    public RawTar FileWithRawPaxPath(byte[] rawPath, byte[] content)
    {
        byte[] body = [.. " path="u8, .. rawPath, (byte)'\n'];
        int length = body.Length + 1;
        while (length.ToString(System.Globalization.CultureInfo.InvariantCulture).Length + body.Length != length)
        {
            length = length.ToString(System.Globalization.CultureInfo.InvariantCulture).Length + body.Length;
        }

        byte[] record = [.. Encoding.ASCII.GetBytes(length.ToString(System.Globalization.CultureInfo.InvariantCulture)), .. body];
        _s.Write(TarFormat.HeaderBlock(new TarFormat.Header("PaxHeaders.0/raw", TarFormat.TypePaxExtended) { Size = record.Length }));
        TarFormat.WritePadded(_s, record);
        _s.Write(TarFormat.HeaderBlock(new TarFormat.Header("raw-pax-placeholder", TarFormat.TypeRegular) { Size = content.Length }));
        TarFormat.WritePadded(_s, content);
        return this;
    }

    /// <summary>Raw bytes (a header block made by hand, data, garbage).</summary>
    public RawTar Raw(ReadOnlySpan<byte> bytes)
    {
        _s.Write(bytes);
        return this;
    }

    public byte[] ToArray(bool end = true)
    {
        using var copy = new MemoryStream();
        _s.Position = 0;
        _s.CopyTo(copy);
        if (end)
        {
            TarFormat.WriteEndOfArchive(copy);
        }

        return copy.ToArray();
    }
}

/// <summary>Images built around hand-written layer tars, and OCI layouts whose layer blobs are files written by streaming.</summary>
internal static class HostileImages
{
    /// <summary>An OCI image whose layers are exactly these tar streams, compressed as asked.</summary>
    public static BuiltImage FromTars(LayerCompression compression, params byte[][] tars)
    {
        var builder = new ImageBuilder();
        for (int i = 0; i < tars.Length; i++)
        {
            builder.Layer(new BuiltLayer(BuiltLayer.Compress(tars[i], compression), tars[i], compression, new Dictionary<string, string>()), $"layer {i}");
        }

        return builder.Build();
    }

    /// <summary>One layer blob already on disk: its digest, size and diff_id as the caller computed them while writing it.</summary>
    public sealed record BlobFile(string Path, string Digest, long Size, string DiffId, string MediaType);

    /// <summary>
    /// Writes an OCI layout directory with one image whose layers are <paramref name="layers"/> (moved into blobs/);
    /// returns the manifest digest.
    /// </summary>
    public static string WriteLayout(string dir, params BlobFile[] layers)
    {
        string blobs = Path.Combine(dir, "blobs", "sha256");
        Directory.CreateDirectory(blobs);
        foreach (var l in layers)
        {
            string target = Path.Combine(blobs, l.Digest[7..]);
            if (!System.IO.File.Exists(target))
            {
                System.IO.File.Move(l.Path, target);
            }
        }

        byte[] config = JsonBytes(w =>
        {
            w.WriteStartObject();
            w.WriteString("architecture", "amd64");
            w.WriteString("os", "linux");
            w.WriteStartObject("rootfs");
            w.WriteString("type", "layers");
            w.WriteStartArray("diff_ids");
            foreach (var l in layers)
            {
                w.WriteStringValue(l.DiffId);
            }

            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteStartArray("history");
            foreach (var l in layers)
            {
                w.WriteStartObject();
                w.WriteString("created_by", "streamed " + l.Digest[7..19]);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
        });
        string configDigest = Sha256(config);
        System.IO.File.WriteAllBytes(Path.Combine(blobs, configDigest[7..]), config);

        byte[] manifest = JsonBytes(w =>
        {
            w.WriteStartObject();
            w.WriteNumber("schemaVersion", 2);
            w.WriteString("mediaType", OciMediaTypes.Manifest);
            Descriptor(w, "config", OciMediaTypes.Config, configDigest, config.Length);
            w.WriteStartArray("layers");
            foreach (var l in layers)
            {
                Descriptor(w, null, l.MediaType, l.Digest, l.Size);
            }

            w.WriteEndArray();
            w.WriteEndObject();
        });
        string manifestDigest = Sha256(manifest);
        System.IO.File.WriteAllBytes(Path.Combine(blobs, manifestDigest[7..]), manifest);
        System.IO.File.WriteAllBytes(Path.Combine(dir, "index.json"), JsonBytes(w =>
        {
            w.WriteStartObject();
            w.WriteNumber("schemaVersion", 2);
            w.WriteString("mediaType", OciMediaTypes.Index);
            w.WriteStartArray("manifests");
            Descriptor(w, null, OciMediaTypes.Manifest, manifestDigest, manifest.Length);
            w.WriteEndArray();
            w.WriteEndObject();
        }));
        System.IO.File.WriteAllText(Path.Combine(dir, "oci-layout"), ArchiveWriter.OciLayoutFile);
        return manifestDigest;
    }

    public static string Sha256(ReadOnlySpan<byte> bytes) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(bytes));

    private static void Descriptor(Utf8JsonWriter w, string? property, string mediaType, string digest, long size)
    {
        if (property is null)
        {
            w.WriteStartObject();
        }
        else
        {
            w.WriteStartObject(property);
        }

        w.WriteString("mediaType", mediaType);
        w.WriteString("digest", digest);
        w.WriteNumber("size", size);
        w.WriteEndObject();
    }

    private static byte[] JsonBytes(Action<Utf8JsonWriter> write)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            write(w);
        }

        return ms.ToArray();
    }
}

/// <summary>
/// A write-only stream that hashes (SHA-256) and counts what goes through it and forwards it to an inner stream:
/// used to write a layer's tar into its compressor while computing its diff_id, and the blob to disk while computing
/// its digest, without ever holding either.
/// </summary>
internal sealed class HashingWriteStream(Stream inner, bool leaveOpen = false) : Stream
{
    private readonly IncrementalHash _sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

    public long Length64 { get; private set; }

    public string Digest() => "sha256:" + Convert.ToHexStringLower(_sha.GetCurrentHash());

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => Length64;

    public override long Position { get => Length64; set => throw new NotSupportedException(); }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        _sha.AppendData(buffer);
        Length64 += buffer.Length;
        inner.Write(buffer);
    }

    public override void Flush() => inner.Flush();

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _sha.Dispose();
            if (!leaveOpen)
            {
                inner.Dispose();
            }
        }

        base.Dispose(disposing);
    }
}
