using System.Text.Json;

namespace LayerStats.Core.Model;

/// <summary>An image manifest (OCI image manifest or Docker schema 2 manifest).</summary>
public sealed record Manifest(string MediaType, Descriptor Config, IReadOnlyList<Descriptor> Layers, string? ArtifactType);

/// <summary>An image index (OCI index or Docker manifest list).</summary>
public sealed record ImageIndex(string MediaType, IReadOnlyList<Descriptor> Manifests);

/// <summary>One <c>history</c> entry of an image config.</summary>
public sealed record HistoryEntry(string? CreatedBy, bool EmptyLayer, DateTimeOffset? Created, string? Comment);

/// <summary>The parts of an image config that LayerStats reads.</summary>
public sealed record ImageConfig(
    Platform Platform,
    IReadOnlyList<Digest> DiffIds,
    IReadOnlyList<HistoryEntry> History,
    DateTimeOffset? Created)
{
    /// <summary>The <c>created_by</c> of each non-empty history entry, in layer order (null where history is short).</summary>
    public IReadOnlyList<string?> LayerCreatedBy()
    {
        var result = new List<string?>(DiffIds.Count);
        foreach (var entry in History)
        {
            if (!entry.EmptyLayer)
            {
                result.Add(entry.CreatedBy);
            }
        }

        while (result.Count < DiffIds.Count)
        {
            result.Add(null);
        }

        return result.Count == DiffIds.Count ? result : result.GetRange(0, DiffIds.Count);
    }
}

/// <summary>Thrown when a manifest, index, config or archive is not what the spec says it must be.</summary>
public sealed class ImageFormatException : Exception
{
    public ImageFormatException(string message)
        : base(message)
    {
    }

    public ImageFormatException(string message, Exception inner)
        : base(message, inner)
    {
    }
}

/// <summary>Parses the JSON documents of the image spec. Every failure is an <see cref="ImageFormatException"/> naming the document.</summary>
public static class ManifestParser
{
    private static readonly JsonDocumentOptions Options = new() { MaxDepth = 64 };

    /// <summary>Reads the <c>mediaType</c> field (may be absent in old OCI documents).</summary>
    public static string? PeekMediaType(ReadOnlyMemory<byte> json, string what)
    {
        using var doc = Parse(json, what);
        return doc.RootElement.ValueKind == JsonValueKind.Object ? OptionalString(doc.RootElement, "mediaType", what) : null;
    }

    /// <summary>Guesses the kind of an untyped document: an index has <c>manifests</c>, a manifest has <c>config</c> and <c>layers</c>.</summary>
    public static string? DetectMediaType(ReadOnlyMemory<byte> json, string what)
    {
        using var doc = Parse(json, what);
        var root = RequireObject(doc.RootElement, what);
        string? declared = OptionalString(root, "mediaType", what);
        if (declared is not null)
        {
            return declared;
        }

        if (root.TryGetProperty("manifests", out _))
        {
            return MediaTypes.OciIndex;
        }

        if (root.TryGetProperty("config", out _) && root.TryGetProperty("layers", out _))
        {
            return MediaTypes.OciManifest;
        }

        if (root.TryGetProperty("schemaVersion", out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int version) && version == 1)
        {
            return MediaTypes.DockerManifestV1;
        }

        return null;
    }

    public static ImageIndex ParseIndex(ReadOnlyMemory<byte> json, string what)
    {
        using var doc = Parse(json, what);
        var root = RequireObject(doc.RootElement, what);
        string mediaType = OptionalString(root, "mediaType", what) ?? MediaTypes.OciIndex;
        if (!root.TryGetProperty("manifests", out var manifests) || manifests.ValueKind != JsonValueKind.Array)
        {
            throw new ImageFormatException($"{what}: an index needs a 'manifests' array");
        }

        var list = new List<Descriptor>();
        foreach (var item in manifests.EnumerateArray())
        {
            list.Add(ParseDescriptor(item, $"{what} manifests[{list.Count}]"));
        }

        return new ImageIndex(mediaType, list);
    }

    public static Manifest ParseManifest(ReadOnlyMemory<byte> json, string what)
    {
        using var doc = Parse(json, what);
        var root = RequireObject(doc.RootElement, what);
        if (root.TryGetProperty("schemaVersion", out var sv) && sv.ValueKind == JsonValueKind.Number && sv.TryGetInt32(out int schemaVersion) && schemaVersion == 1)
        {
            throw new ImageFormatException($"{what}: Docker schema 1 manifests are unsupported (re-push the image with a current client)");
        }

        string mediaType = OptionalString(root, "mediaType", what) ?? MediaTypes.OciManifest;
        if (!root.TryGetProperty("config", out var config))
        {
            throw new ImageFormatException($"{what}: a manifest needs a 'config' descriptor");
        }

        if (!root.TryGetProperty("layers", out var layers) || layers.ValueKind != JsonValueKind.Array)
        {
            throw new ImageFormatException($"{what}: a manifest needs a 'layers' array");
        }

        var list = new List<Descriptor>();
        foreach (var item in layers.EnumerateArray())
        {
            list.Add(ParseDescriptor(item, $"{what} layers[{list.Count}]"));
        }

        return new Manifest(mediaType, ParseDescriptor(config, $"{what} config"), list, OptionalString(root, "artifactType", what));
    }

    public static ImageConfig ParseConfig(ReadOnlyMemory<byte> json, string what)
    {
        using var doc = Parse(json, what);
        var root = RequireObject(doc.RootElement, what);
        string os = OptionalString(root, "os", what) ?? "unknown";
        string arch = OptionalString(root, "architecture", what) ?? "unknown";
        string? variant = OptionalString(root, "variant", what);
        if (!root.TryGetProperty("rootfs", out var rootfs) || rootfs.ValueKind != JsonValueKind.Object
            || !rootfs.TryGetProperty("diff_ids", out var diffIds) || diffIds.ValueKind != JsonValueKind.Array)
        {
            throw new ImageFormatException($"{what}: an image config needs 'rootfs.diff_ids'");
        }

        var ids = new Digest[diffIds.GetArrayLength()];
        int at = 0;
        foreach (var id in diffIds.EnumerateArray())
        {
            if (id.ValueKind != JsonValueKind.String || !Digest.TryParse(id.GetString(), out var digest))
            {
                throw new ImageFormatException($"{what}: rootfs.diff_ids[{at}] is not a digest");
            }

            ids[at++] = digest;
        }

        var history = new List<HistoryEntry>();
        if (root.TryGetProperty("history", out var hist) && hist.ValueKind == JsonValueKind.Array)
        {
            foreach (var h in hist.EnumerateArray())
            {
                if (h.ValueKind != JsonValueKind.Object)
                {
                    continue;
                }

                bool empty = h.TryGetProperty("empty_layer", out var e) && e.ValueKind == JsonValueKind.True;
                history.Add(new HistoryEntry(OptionalString(h, "created_by", what), empty, OptionalTime(h, "created"), OptionalString(h, "comment", what)));
            }
        }

        return new ImageConfig(new Platform(os, arch, variant), ids, history, OptionalTime(root, "created"));
    }

    public static Descriptor ParseDescriptor(JsonElement element, string what)
    {
        var obj = RequireObject(element, what);
        string mediaType = OptionalString(obj, "mediaType", what) ?? "";
        string? digestText = OptionalString(obj, "digest", what);
        if (!Digest.TryParse(digestText, out var digest))
        {
            throw new ImageFormatException($"{what}: 'digest' is missing or not a digest");
        }

        if (!obj.TryGetProperty("size", out var sizeEl) || sizeEl.ValueKind != JsonValueKind.Number || !sizeEl.TryGetInt64(out long size) || size < 0)
        {
            throw new ImageFormatException($"{what}: 'size' is missing or not a non-negative integer");
        }

        Platform? platform = null;
        if (obj.TryGetProperty("platform", out var p) && p.ValueKind == JsonValueKind.Object)
        {
            platform = new Platform(
                OptionalString(p, "os", what) ?? "unknown",
                OptionalString(p, "architecture", what) ?? "unknown",
                OptionalString(p, "variant", what));
        }

        Dictionary<string, string>? annotations = null;
        if (obj.TryGetProperty("annotations", out var a) && a.ValueKind == JsonValueKind.Object)
        {
            annotations = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var prop in a.EnumerateObject())
            {
                if (prop.Value.ValueKind == JsonValueKind.String)
                {
                    annotations[prop.Name] = prop.Value.GetString()!;
                }
            }
        }

        List<string>? urls = null;
        if (obj.TryGetProperty("urls", out var u) && u.ValueKind == JsonValueKind.Array)
        {
            urls = u.EnumerateArray().Where(x => x.ValueKind == JsonValueKind.String).Select(x => x.GetString()!).ToList();
        }

        return new Descriptor(mediaType, digest, size, platform, annotations, urls, OptionalString(obj, "artifactType", what));
    }

    internal static JsonDocument Parse(ReadOnlyMemory<byte> json, string what)
    {
        // JsonDocument accepts invalid UTF-8 inside strings and only fails when a string is read: refuse it here.
        if (!System.Text.Unicode.Utf8.IsValid(json.Span))
        {
            throw new ImageFormatException($"{what}: not valid JSON (it is not valid UTF-8: an invalid byte at offset {FirstInvalidUtf8(json.Span)})");
        }

        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json, Options);
        }
        catch (JsonException ex)
        {
            throw new ImageFormatException($"{what}: not valid JSON ({ex.Message})", ex);
        }

        // JsonDocument also accepts an escaped lone surrogate ("\ud800") and only fails when that string is read.
        var reader = new Utf8JsonReader(json.Span, new JsonReaderOptions { MaxDepth = Options.MaxDepth });
        while (reader.Read())
        {
            if (reader.TokenType is JsonTokenType.String or JsonTokenType.PropertyName && reader.ValueIsEscaped)
            {
                try
                {
                    _ = reader.GetString();
                }
                catch (InvalidOperationException ex)
                {
                    doc.Dispose();
                    throw new ImageFormatException($"{what}: not valid JSON (the string at byte {reader.TokenStartIndex} escapes a lone UTF-16 surrogate)", ex);
                }
            }
        }

        return doc;
    }

    private static int FirstInvalidUtf8(ReadOnlySpan<byte> bytes)
    {
        int at = 0;
        while (at < bytes.Length && System.Text.Rune.DecodeFromUtf8(bytes[at..], out _, out int consumed) == System.Buffers.OperationStatus.Done)
        {
            at += consumed;
        }

        return at;
    }

    internal static JsonElement RequireObject(JsonElement element, string what) =>
        element.ValueKind == JsonValueKind.Object ? element : throw new ImageFormatException($"{what}: expected a JSON object, found {element.ValueKind}");

    internal static string? OptionalString(JsonElement obj, string name, string what)
    {
        if (!obj.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return value.ValueKind == JsonValueKind.String
            ? value.GetString()
            : throw new ImageFormatException($"{what}: '{name}' must be a string");
    }

    private static DateTimeOffset? OptionalTime(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String && DateTimeOffset.TryParse(value.GetString(), System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal, out var t)
            ? t
            : null;
}
