using System.Formats.Tar;
using System.Text.Json.Nodes;

namespace LayerStats.Fixtures;

/// <summary>
/// Makes broken inputs for tests. Image-level functions return a changed <see cref="BuiltImage"/> to hand to an
/// <see cref="ArchiveWriter"/>; file-level functions change an archive or layout after it was written.
/// </summary>
public static class Corrupt
{
    /// <summary>Not JSON: an object that is cut off.</summary>
    public static readonly byte[] GarbageJson = "{\"schemaVersion\": 2, \"manifests\": [ {\"digest\": "u8.ToArray();

    /// <summary>
    /// The blob stored under <paramref name="digest"/> gets one byte inverted; the manifest still names the old digest.
    /// Affects the writers that store blobs (Docker 25, OCI); the legacy writer writes layer.tar from the uncompressed
    /// stream, so there use <see cref="FlipByteInTar"/> after writing.
    /// </summary>
    public static BuiltImage FlipBlobByte(BuiltImage image, string digest, int offset = 0)
    {
        var blobs = new SortedDictionary<string, byte[]>(image.Blobs.ToDictionary(), StringComparer.Ordinal);
        var bytes = (byte[])blobs[digest].Clone();
        bytes[offset] ^= 0xff;
        blobs[digest] = bytes;
        return image with { Blobs = blobs };
    }

    /// <summary>The blob is not written at all (the manifest names a missing blob).</summary>
    public static BuiltImage WithoutBlob(BuiltImage image, string digest)
    {
        var blobs = new SortedDictionary<string, byte[]>(image.Blobs.ToDictionary(), StringComparer.Ordinal);
        blobs.Remove(digest);
        return image with { Blobs = blobs };
    }

    /// <summary>
    /// The config states a wrong diff_id (sha256 of "wrong") for layer <paramref name="layerIndex"/>; the config
    /// digest in the manifest is updated, so only the diff_id check can catch it.
    /// </summary>
    public static BuiltImage WrongDiffId(BuiltImage image, int layerIndex)
    {
        var config = JsonNode.Parse(image.ConfigBytes)!;
        config["rootfs"]!["diff_ids"]![layerIndex] = BuiltLayer.Sha256("wrong"u8);
        var configBytes = Json.Write(w => config.WriteTo(w));
        return Rebuild(image, configBytes, image.Layers);
    }

    /// <summary>
    /// Layer <paramref name="layerIndex"/>'s compressed blob is cut to <paramref name="keepBytes"/> bytes; the manifest states
    /// the digest and size of the cut blob, so only decompression (and the diff_id check) can catch it.
    /// </summary>
    public static BuiltImage TruncateLayer(BuiltImage image, int layerIndex, int keepBytes)
    {
        var old = image.Layers[layerIndex];
        var cut = new BuiltLayer(old.Blob[..keepBytes], old.Uncompressed, old.Compression, old.Annotations);
        var layers = image.Layers.ToList();
        layers[layerIndex] = cut;
        return Rebuild(image, image.ConfigBytes, layers);
    }

    /// <summary>Inverts one byte of a file (e.g. a blob in an OCI layout directory).</summary>
    public static void FlipByte(string path, long offset = 0)
    {
        using var f = File.Open(path, FileMode.Open, FileAccess.ReadWrite);
        f.Position = offset;
        var b = f.ReadByte();
        f.Position = offset;
        f.WriteByte((byte)(b ^ 0xff));
    }

    /// <summary>Inverts one byte of the entry <paramref name="entryName"/> inside a tar archive.</summary>
    public static void FlipByteInTar(string tarPath, string entryName, long offset = 0) =>
        EditTar(tarPath, entryName, bytes =>
        {
            var copy = (byte[])bytes.Clone();
            copy[offset] ^= 0xff;
            return copy;
        });

    /// <summary>Replaces the content of an entry inside a tar archive (e.g. manifest.json with <see cref="GarbageJson"/>).</summary>
    public static void ReplaceInTar(string tarPath, string entryName, byte[] content) => EditTar(tarPath, entryName, _ => content);

    /// <summary>Removes an entry from a tar archive (e.g. a layer.tar that manifest.json names).</summary>
    public static void RemoveFromTar(string tarPath, string entryName) => EditTar(tarPath, entryName, _ => null);

    /// <summary>Reads a (fixture-written, plain) tar archive into name → content of its regular files.</summary>
    public static SortedDictionary<string, byte[]> ReadTarFiles(string tarPath)
    {
        var files = new SortedDictionary<string, byte[]>(StringComparer.Ordinal);
        using var stream = File.OpenRead(tarPath);
        using var reader = new TarReader(stream);
        while (reader.GetNextEntry() is { } entry)
        {
            if (entry.EntryType is TarEntryType.RegularFile or TarEntryType.V7RegularFile)
            {
                using var ms = new MemoryStream();
                entry.DataStream?.CopyTo(ms);
                files[entry.Name] = ms.ToArray();
            }
        }
        return files;
    }

    private static void EditTar(string tarPath, string entryName, Func<byte[], byte[]?> edit)
    {
        var files = ReadTarFiles(tarPath);
        if (!files.TryGetValue(entryName, out var old))
        {
            throw new ArgumentException($"{tarPath} has no entry {entryName}");
        }
        var updated = edit(old);
        if (updated is null)
        {
            files.Remove(entryName);
        }
        else
        {
            files[entryName] = updated;
        }
        ArchiveWriter.WriteTar(tarPath, files);
    }

    private static BuiltImage Rebuild(BuiltImage image, byte[] configBytes, IReadOnlyList<BuiltLayer> layers)
    {
        var manifest = JsonNode.Parse(image.ManifestBytes)!;
        manifest["config"]!["digest"] = BuiltLayer.Sha256(configBytes);
        manifest["config"]!["size"] = configBytes.Length;
        for (var i = 0; i < layers.Count; i++)
        {
            manifest["layers"]![i]!["digest"] = layers[i].Digest;
            manifest["layers"]![i]!["size"] = layers[i].Size;
        }
        var blobs = new SortedDictionary<string, byte[]>(StringComparer.Ordinal) { [BuiltLayer.Sha256(configBytes)] = configBytes };
        foreach (var l in layers)
        {
            blobs[l.Digest] = l.Blob;
        }
        return image with { ConfigBytes = configBytes, ManifestBytes = Json.Write(w => manifest.WriteTo(w)), Layers = layers, Blobs = blobs };
    }
}
