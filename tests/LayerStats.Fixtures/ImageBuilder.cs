using System.Globalization;
using System.Text.Json;

namespace LayerStats.Fixtures;

/// <summary>OCI image manifest + OCI config media types, or Docker schema2 manifest + Docker config and layer media types.</summary>
public enum ManifestFormat
{
    Oci,
    DockerSchema2,
}

public sealed record HistoryEntry(string CreatedBy, bool EmptyLayer, string? Comment = null);

/// <summary>
/// One built platform image. Digests are "sha256:hex" strings. <see cref="Blobs"/> holds the config and layer blobs by
/// digest (not the manifest). <see cref="RepoTags"/> (e.g. "base:1.0") is what archive writers name it.
/// </summary>
public sealed record BuiltImage(
    string Os,
    string Architecture,
    string? Variant,
    ManifestFormat Format,
    byte[] ConfigBytes,
    byte[] ManifestBytes,
    IReadOnlyList<BuiltLayer> Layers,
    IReadOnlyDictionary<string, byte[]> Blobs)
{
    public string ConfigDigest => BuiltLayer.Sha256(ConfigBytes);
    public string ManifestDigest => BuiltLayer.Sha256(ManifestBytes);
    public string ConfigMediaType => Format == ManifestFormat.Oci ? OciMediaTypes.Config : OciMediaTypes.DockerConfig;
    public string ManifestMediaType => Format == ManifestFormat.Oci ? OciMediaTypes.Manifest : OciMediaTypes.DockerManifest;
    public IReadOnlyList<string> RepoTags { get; init; } = [];

    /// <summary>The same image with these repository tags ("name:tag").</summary>
    public BuiltImage Tagged(params string[] tags) => this with { RepoTags = tags };

    public IReadOnlyList<string> DiffIds => Layers.Select(l => l.DiffId).ToList();
}

public static class OciMediaTypes
{
    public const string Index = "application/vnd.oci.image.index.v1+json";
    public const string Manifest = "application/vnd.oci.image.manifest.v1+json";
    public const string Config = "application/vnd.oci.image.config.v1+json";
    public const string DockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json";
    public const string DockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
    public const string DockerConfig = "application/vnd.docker.container.image.v1+json";
    public const string RefNameAnnotation = "org.opencontainers.image.ref.name";
}

/// <summary>
/// Builds one platform image: config (rootfs.diff_ids, history with empty_layer entries) and manifest, deterministically
/// (fixed created time, JSON keys written in a fixed order).
/// </summary>
public sealed class ImageBuilder(string os = "linux", string arch = "amd64", string? variant = null, ManifestFormat format = ManifestFormat.Oci)
{
    public static readonly DateTimeOffset DefaultCreated = DateTimeOffset.FromUnixTimeSeconds(TarFormat.DefaultMtime);

    private readonly List<(BuiltLayer Layer, string CreatedBy, string? Comment)> _layers = [];
    private readonly List<HistoryEntry> _history = [];
    private readonly List<string> _env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"];
    private readonly SortedDictionary<string, string> _labels = new(StringComparer.Ordinal);
    private readonly SortedDictionary<string, string> _manifestAnnotations = new(StringComparer.Ordinal);
    private string[] _cmd = ["/bin/sh"];
    private string? _workingDir;
    private DateTimeOffset _created = DefaultCreated;

    public ImageBuilder Layer(LayerBuilder layer, LayerCompression compression = LayerCompression.Gzip, string? createdBy = null, string? comment = null) =>
        Layer(BuiltLayer.From(layer, compression), createdBy, comment);

    /// <summary>Adds an already built layer (to share the exact blob between images).</summary>
    public ImageBuilder Layer(BuiltLayer layer, string? createdBy = null, string? comment = null)
    {
        createdBy ??= "/bin/sh -c #(nop) ADD file:" + layer.DiffId[7..19] + " in / ";
        _layers.Add((layer, createdBy, comment));
        _history.Add(new HistoryEntry(createdBy, false, comment));
        return this;
    }

    /// <summary>A history entry with <c>empty_layer: true</c> (ENV, CMD, LABEL ...), no layer.</summary>
    public ImageBuilder EmptyLayerHistory(string createdBy)
    {
        _history.Add(new HistoryEntry(createdBy, true));
        return this;
    }

    public ImageBuilder Env(string keyValue)
    {
        _env.Add(keyValue);
        return this;
    }

    public ImageBuilder Cmd(params string[] cmd)
    {
        _cmd = cmd;
        return this;
    }

    public ImageBuilder WorkingDir(string dir)
    {
        _workingDir = dir;
        return this;
    }

    public ImageBuilder Label(string key, string value)
    {
        _labels[key] = value;
        return this;
    }

    public ImageBuilder ManifestAnnotation(string key, string value)
    {
        _manifestAnnotations[key] = value;
        return this;
    }

    public ImageBuilder Created(DateTimeOffset created)
    {
        _created = created;
        return this;
    }

    public BuiltImage Build()
    {
        var layers = _layers.Select(l => l.Layer).ToList();
        var config = ConfigJson(layers.Select(l => l.DiffId));
        var manifest = ManifestJson(config, layers);
        var blobs = new SortedDictionary<string, byte[]>(StringComparer.Ordinal) { [BuiltLayer.Sha256(config)] = config };
        foreach (var l in layers)
        {
            blobs[l.Digest] = l.Blob;
        }
        return new BuiltImage(os, arch, variant, format, config, manifest, layers, blobs);
    }

    /// <summary>The config JSON for the given diff_ids (also used to write a config with a wrong diff_id).</summary>
    public byte[] ConfigJson(IEnumerable<string> diffIds)
    {
        var created = _created.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
        return Json.Write(w =>
        {
            w.WriteStartObject();
            w.WriteString("architecture", arch);
            w.WriteStartObject("config");
            w.WriteStartArray("Env");
            foreach (var e in _env)
            {
                w.WriteStringValue(e);
            }
            w.WriteEndArray();
            w.WriteStartArray("Cmd");
            foreach (var c in _cmd)
            {
                w.WriteStringValue(c);
            }
            w.WriteEndArray();
            if (_workingDir is not null)
            {
                w.WriteString("WorkingDir", _workingDir);
            }
            if (_labels.Count > 0)
            {
                w.WriteStartObject("Labels");
                foreach (var (k, v) in _labels)
                {
                    w.WriteString(k, v);
                }
                w.WriteEndObject();
            }
            w.WriteEndObject();
            w.WriteString("created", created);
            w.WriteStartArray("history");
            foreach (var h in _history)
            {
                w.WriteStartObject();
                w.WriteString("created", created);
                w.WriteString("created_by", h.CreatedBy);
                if (h.Comment is not null)
                {
                    w.WriteString("comment", h.Comment);
                }
                if (h.EmptyLayer)
                {
                    w.WriteBoolean("empty_layer", true);
                }
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteString("os", os);
            w.WriteStartObject("rootfs");
            w.WriteString("type", "layers");
            w.WriteStartArray("diff_ids");
            foreach (var d in diffIds)
            {
                w.WriteStringValue(d);
            }
            w.WriteEndArray();
            w.WriteEndObject();
            if (variant is not null)
            {
                w.WriteString("variant", variant);
            }
            w.WriteEndObject();
        });
    }

    /// <summary>The manifest JSON referencing the given config bytes and layers.</summary>
    public byte[] ManifestJson(byte[] config, IReadOnlyList<BuiltLayer> layers) =>
        ManifestJson(format, config, layers, _manifestAnnotations);

    public static byte[] ManifestJson(ManifestFormat format, byte[] config, IReadOnlyList<BuiltLayer> layers, IReadOnlyDictionary<string, string>? annotations = null)
    {
        var oci = format == ManifestFormat.Oci;
        return Json.Write(w =>
        {
            w.WriteStartObject();
            w.WriteNumber("schemaVersion", 2);
            w.WriteString("mediaType", oci ? OciMediaTypes.Manifest : OciMediaTypes.DockerManifest);
            w.WriteStartObject("config");
            w.WriteString("mediaType", oci ? OciMediaTypes.Config : OciMediaTypes.DockerConfig);
            w.WriteString("digest", BuiltLayer.Sha256(config));
            w.WriteNumber("size", config.Length);
            w.WriteEndObject();
            w.WriteStartArray("layers");
            foreach (var l in layers)
            {
                w.WriteStartObject();
                w.WriteString("mediaType", oci ? l.MediaType : l.DockerMediaType);
                w.WriteString("digest", l.Digest);
                w.WriteNumber("size", l.Size);
                Json.Annotations(w, l.Annotations);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            if (annotations is not null)
            {
                Json.Annotations(w, annotations);
            }
            w.WriteEndObject();
        });
    }
}

/// <summary>A multi-platform image index (OCI index, or Docker manifest list) over built platform images.</summary>
public sealed record BuiltIndex(byte[] IndexBytes, IReadOnlyList<BuiltImage> Platforms, ManifestFormat Format)
{
    public string Digest => BuiltLayer.Sha256(IndexBytes);
    public string MediaType => Format == ManifestFormat.Oci ? OciMediaTypes.Index : OciMediaTypes.DockerManifestList;
    public IReadOnlyList<string> RepoTags { get; init; } = [];

    public BuiltIndex Tagged(params string[] tags) => this with { RepoTags = tags };

    public static BuiltIndex Of(params BuiltImage[] platforms) => Of(ManifestFormat.Oci, platforms);

    public static BuiltIndex Of(ManifestFormat format, params BuiltImage[] platforms)
    {
        var bytes = Json.Write(w =>
        {
            w.WriteStartObject();
            w.WriteNumber("schemaVersion", 2);
            w.WriteString("mediaType", format == ManifestFormat.Oci ? OciMediaTypes.Index : OciMediaTypes.DockerManifestList);
            w.WriteStartArray("manifests");
            foreach (var p in platforms)
            {
                Json.Descriptor(w, p.ManifestMediaType, p.ManifestDigest, p.ManifestBytes.Length, p, null);
            }
            w.WriteEndArray();
            w.WriteEndObject();
        });
        return new BuiltIndex(bytes, platforms, format);
    }
}

internal static class Json
{
    public static byte[] Write(Action<Utf8JsonWriter> write)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = false, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            write(w);
        }
        return ms.ToArray();
    }

    public static void Annotations(Utf8JsonWriter w, IReadOnlyDictionary<string, string> annotations)
    {
        if (annotations.Count == 0)
        {
            return;
        }
        w.WriteStartObject("annotations");
        foreach (var (k, v) in annotations.OrderBy(a => a.Key, StringComparer.Ordinal))
        {
            w.WriteString(k, v);
        }
        w.WriteEndObject();
    }

    public static void Descriptor(Utf8JsonWriter w, string mediaType, string digest, long size, BuiltImage? platform, IReadOnlyDictionary<string, string>? annotations)
    {
        w.WriteStartObject();
        w.WriteString("mediaType", mediaType);
        w.WriteString("digest", digest);
        w.WriteNumber("size", size);
        if (annotations is not null)
        {
            Annotations(w, annotations);
        }
        if (platform is not null)
        {
            w.WriteStartObject("platform");
            w.WriteString("architecture", platform.Architecture);
            w.WriteString("os", platform.Os);
            if (platform.Variant is not null)
            {
                w.WriteString("variant", platform.Variant);
            }
            w.WriteEndObject();
        }
        w.WriteEndObject();
    }
}
