using System.Text.Json;
using LayerStats.Core.Images;
using LayerStats.Core.Model;

namespace LayerStats.Core.Sources;

/// <summary>One entry of a docker save manifest.json.</summary>
internal sealed record DockerSaveEntry(int Position, string Config, IReadOnlyList<string> RepoTags, IReadOnlyList<string> Layers, IReadOnlyDictionary<string, Descriptor> LayerSources);

/// <summary>
/// Reads docker save's manifest.json. Legacy archives (no index.json) are read from it alone: image id = config digest,
/// layer digest = the diff_id at that position, layer size = the layer.tar length. Docker 25+ archives are read
/// through their OCI index; there manifest.json only gives each config's RepoTags.
/// </summary>
internal sealed class DockerSaveReader(ReadContext context)
{
    private readonly Dictionary<Digest, IImage?> _images = [];

    public async Task<IReadOnlyList<DockerSaveEntry>> ReadManifestJsonAsync(CancellationToken cancellationToken)
    {
        var entry = context.Container.Find("manifest.json") ?? throw new ImageFormatException("the archive has no manifest.json");
        byte[] bytes = await context.Container.ReadDocumentAsync(entry, context.Options.MaxDocumentBytes, cancellationToken).ConfigureAwait(false);
        using var doc = ManifestParser.Parse(bytes, "manifest.json");
        if (doc.RootElement.ValueKind != JsonValueKind.Array)
        {
            throw new ImageFormatException($"manifest.json: expected a JSON array of images, found {doc.RootElement.ValueKind}");
        }

        var entries = new List<DockerSaveEntry>();
        int position = 0;
        foreach (var item in doc.RootElement.EnumerateArray())
        {
            string what = $"manifest.json[{position}]";
            var obj = ManifestParser.RequireObject(item, what);
            string config = ManifestParser.OptionalString(obj, "Config", what) ?? throw new ImageFormatException($"{what}: 'Config' is missing");
            var sources = new Dictionary<string, Descriptor>(StringComparer.Ordinal);
            if (obj.TryGetProperty("LayerSources", out var ls) && ls.ValueKind == JsonValueKind.Object)
            {
                foreach (var prop in ls.EnumerateObject())
                {
                    sources[prop.Name] = ManifestParser.ParseDescriptor(prop.Value, $"{what} LayerSources[{prop.Name}]");
                }
            }

            entries.Add(new DockerSaveEntry(position, config, Strings(obj, "RepoTags", what), Strings(obj, "Layers", what), sources));
            position++;
        }

        return entries;
    }

    /// <summary>The legacy path: every manifest.json entry is an image.</summary>
    public async Task<List<FoundImage>> ReadLegacyAsync(CancellationToken cancellationToken)
    {
        var found = new List<FoundImage>();
        foreach (var entry in await ReadManifestJsonAsync(cancellationToken).ConfigureAwait(false))
        {
            var names = entry.RepoTags.Select(ImageName.FromReference).ToList();
            var image = await ReadLegacyImageAsync(entry, names, cancellationToken).ConfigureAwait(false);
            if (image is not null)
            {
                found.Add(new FoundImage(image, names, null));
            }
        }

        return found;
    }

    /// <summary>For a Docker 25+ archive: config digest → RepoTags. Entries whose config cannot be read are reported and left out.</summary>
    public async Task<Dictionary<Digest, IReadOnlyList<ImageName>>> ReadRepoTagsAsync(CancellationToken cancellationToken)
    {
        var map = new Dictionary<Digest, IReadOnlyList<ImageName>>();
        foreach (var entry in await ReadManifestJsonAsync(cancellationToken).ConfigureAwait(false))
        {
            if (context.Container.Find(entry.Config) is not { } configEntry)
            {
                context.Error($"manifest.json names config '{entry.Config}', which the archive does not contain", Label(entry), path: entry.Config);
                continue;
            }

            byte[] bytes = await context.Container.ReadDocumentAsync(configEntry, context.Options.MaxDocumentBytes, cancellationToken).ConfigureAwait(false);
            var digest = Digest.Compute(bytes);
            if (entry.RepoTags.Count > 0)
            {
                map[digest] = entry.RepoTags.Select(ImageName.FromReference).ToList();
            }
        }

        return map;
    }

    private async Task<IImage?> ReadLegacyImageAsync(DockerSaveEntry entry, IReadOnlyList<ImageName> names, CancellationToken cancellationToken)
    {
        string label = Label(entry);
        string prefix = names.Count > 0 ? $"image {names[0]}: " : "";
        if (context.Container.Find(entry.Config) is not { } configEntry)
        {
            context.Error($"{prefix}manifest.json names config '{entry.Config}', which the archive does not contain", label, path: entry.Config);
            return null;
        }

        Digest configDigest = default;
        try
        {
            byte[] bytes = await context.Container.ReadDocumentAsync(configEntry, context.Options.MaxDocumentBytes, cancellationToken).ConfigureAwait(false);
            configDigest = Digest.Compute(bytes);
            if (_images.TryGetValue(configDigest, out var known))
            {
                return known;
            }

            if (DigestFromPath(entry.Config) is { } stated && stated != configDigest)
            {
                throw new ImageFormatException($"config '{entry.Config}' hashes to {configDigest}, not the {stated} its name states");
            }

            var config = ManifestParser.ParseConfig(bytes, $"config '{entry.Config}'");
            if (!context.KeepPlatform(config.Platform))
            {
                return null;
            }

            if (config.DiffIds.Count != entry.Layers.Count)
            {
                throw new ImageFormatException($"config '{entry.Config}' lists {config.DiffIds.Count} diff_ids but manifest.json lists {entry.Layers.Count} layers");
            }

            var layers = new List<ILayer>(entry.Layers.Count);
            for (int i = 0; i < entry.Layers.Count; i++)
            {
                string layerPath = entry.Layers[i];
                var diffId = config.DiffIds[i];
                var layerEntry = context.Container.Find(layerPath);
                if (layerEntry is null)
                {
                    if (entry.LayerSources.TryGetValue(diffId.ToString(), out var foreign))
                    {
                        layers.Add(new BlobLayer(foreign, diffId, null));
                        continue;
                    }

                    context.Error($"{prefix}manifest.json names layer '{layerPath}', which the archive does not contain", configDigest.ToString(), diffId.ToString(), layerPath);
                    _images[configDigest] = null;
                    return null;
                }

                if (layerEntry.Value.Problem is not null)
                {
                    context.Error($"{prefix}layer '{layerPath}': {layerEntry.Value.Problem}", configDigest.ToString(), diffId.ToString(), layerPath);
                    _images[configDigest] = null;
                    return null;
                }

                var descriptor = new Descriptor(MediaTypes.DockerLayer, diffId, layerEntry.Value.Length);
                layers.Add(context.Container.LayerFor(descriptor, diffId, layerEntry.Value));
            }

            var image = new SourceImage(configDigest, null, ImageSources.LegacyDockerSaveMediaType, configDigest, bytes, config, layers);
            _images[configDigest] = image;
            return image;
        }
        catch (Exception ex) when (ex is ImageFormatException or IOException or InvalidDataException)
        {
            context.Error(prefix + ex.Message, configDigest.IsEmpty ? label : configDigest.ToString(), path: entry.Config);
            if (!configDigest.IsEmpty)
            {
                _images[configDigest] = null;
            }

            return null;
        }
    }

    /// <summary>"&lt;hex&gt;.json" (legacy) or "blobs/sha256/&lt;hex&gt;" (Docker 25+) state the config digest in the name.</summary>
    private static Digest? DigestFromPath(string path)
    {
        string? normalized = ArchivePath.Normalize(path);
        if (normalized is null)
        {
            return null;
        }

        string name = normalized[(normalized.LastIndexOf('/') + 1)..];
        if (name.EndsWith(".json", StringComparison.Ordinal))
        {
            name = name[..^5];
        }

        string algorithm = normalized.StartsWith("blobs/sha512/", StringComparison.Ordinal) ? "sha512" : "sha256";
        return Digest.TryParse($"{algorithm}:{name}", out var digest) ? digest : null;
    }

    private static string Label(DockerSaveEntry entry) => entry.RepoTags.Count > 0 ? entry.RepoTags[0] : $"manifest.json[{entry.Position}]";

    private static List<string> Strings(JsonElement obj, string name, string what)
    {
        var list = new List<string>();
        if (!obj.TryGetProperty(name, out var array) || array.ValueKind == JsonValueKind.Null)
        {
            return list;
        }

        if (array.ValueKind != JsonValueKind.Array)
        {
            throw new ImageFormatException($"{what}: '{name}' must be an array of strings");
        }

        foreach (var item in array.EnumerateArray())
        {
            list.Add(item.ValueKind == JsonValueKind.String ? item.GetString()! : throw new ImageFormatException($"{what}: '{name}' must be an array of strings"));
        }

        return list;
    }
}
