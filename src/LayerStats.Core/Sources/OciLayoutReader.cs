using LayerStats.Core.Images;
using LayerStats.Core.Model;

namespace LayerStats.Core.Sources;

/// <summary>
/// Reads an OCI image layout (index.json + blobs/): follows indexes (nested ones too) down to platform manifests,
/// verifies every index, manifest and config against its descriptor, and builds the images.
/// </summary>
internal sealed class OciLayoutReader(ReadContext context, bool insideDockerSave)
{
    public const string ContainerdImageName = "io.containerd.image.name";
    public const string OciRefName = "org.opencontainers.image.ref.name";
    private const string DockerReferenceType = "vnd.docker.reference.type";

    /// <summary>Manifests already read: the image, or null when it failed or is not an image (reported once).</summary>
    private readonly Dictionary<Digest, IImage?> _manifests = [];
    private readonly List<FoundImage> _found = [];

    public async Task<List<FoundImage>> ReadAsync(CancellationToken cancellationToken)
    {
        var entry = context.Container.Find("index.json") ?? throw new ImageFormatException("the layout has no index.json");
        byte[] bytes = await context.Container.ReadDocumentAsync(entry, context.Options.MaxDocumentBytes, cancellationToken).ConfigureAwait(false);
        var index = ManifestParser.ParseIndex(bytes, "index.json");
        var stack = new List<Digest>();
        foreach (var descriptor in index.Manifests)
        {
            await WalkAsync(descriptor, 0, null, [], stack, cancellationToken).ConfigureAwait(false);
        }

        return _found;
    }

    /// <summary>Names a descriptor's annotations give: the containerd image name (a full reference) or the OCI ref name.</summary>
    public static IReadOnlyList<ImageName> NamesFrom(Descriptor descriptor)
    {
        if (descriptor.Annotation(ContainerdImageName) is { Length: > 0 } full)
        {
            return [ImageName.FromReference(full)];
        }

        return descriptor.Annotation(OciRefName) is { Length: > 0 } refName ? [ImageName.FromRefNameAnnotation(refName)] : [];
    }

    private static bool IsAttestation(Descriptor d) =>
        d.Annotation(DockerReferenceType) == "attestation-manifest"
        || (d.Platform is { Os: "unknown", Architecture: "unknown" } && d.Annotation(DockerReferenceType) is not null);

    private async Task WalkAsync(Descriptor d, int depth, Digest? outerIndex, IReadOnlyList<ImageName> names, List<Digest> stack, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (IsAttestation(d))
        {
            return;
        }

        if (names.Count == 0)
        {
            names = NamesFrom(d);
        }

        string image = d.Digest.ToString();
        if (d.MediaType is MediaTypes.DockerManifestV1 or MediaTypes.DockerManifestV1Signed)
        {
            context.Error($"{Label(names)}manifest {d.Digest} is a Docker schema 1 manifest ({d.MediaType}), which is unsupported (re-push the image with a current client)", image);
            return;
        }

        bool declaredIndex = MediaTypes.IsIndex(d.MediaType);
        if (!declaredIndex && d.Platform is not null && !context.KeepPlatform(d.Platform))
        {
            return;
        }

        if (!declaredIndex && _manifests.TryGetValue(d.Digest, out var known))
        {
            if (known is not null)
            {
                _found.Add(new FoundImage(known, names, outerIndex));
            }

            return;
        }

        string path = ReadContext.BlobPath(d.Digest);
        if (context.Container.Find(path) is not { } found)
        {
            // docker save (containerd store) writes the whole image index but only the platforms it holds.
            if (!(depth > 0 && insideDockerSave))
            {
                string kind = declaredIndex ? "index" : "manifest";
                context.Error($"{Label(names)}{kind} {d.Digest} is missing: expected at {path}", image, path: path);
            }

            return;
        }

        byte[] bytes;
        string? mediaType;
        try
        {
            bytes = await context.ReadVerifiedAsync(d, declaredIndex ? "index" : "manifest", found, cancellationToken).ConfigureAwait(false);
            mediaType = declaredIndex || MediaTypes.IsManifest(d.MediaType) ? d.MediaType : ManifestParser.DetectMediaType(bytes, "blob " + image);
        }
        catch (Exception ex) when (ex is ImageFormatException or IOException or InvalidDataException)
        {
            context.Error(Label(names) + ex.Message, image, path: path);
            _manifests[d.Digest] = null;
            return;
        }

        if (MediaTypes.IsIndex(mediaType))
        {
            await WalkIndexAsync(d, bytes, depth, outerIndex, names, stack, cancellationToken).ConfigureAwait(false);
        }
        else if (MediaTypes.IsManifest(mediaType) || mediaType is MediaTypes.DockerManifestV1 or MediaTypes.DockerManifestV1Signed)
        {
            var built = await BuildImageAsync(d, bytes, names, cancellationToken).ConfigureAwait(false);
            if (built is not null)
            {
                _found.Add(new FoundImage(built, names, outerIndex));
            }
        }
        else
        {
            context.Error($"{Label(names)}blob {d.Digest} is neither an image index nor an image manifest (media type '{mediaType ?? d.MediaType}'); skipped", image, path: path);
        }
    }

    private async Task WalkIndexAsync(Descriptor d, byte[] bytes, int depth, Digest? outerIndex, IReadOnlyList<ImageName> names, List<Digest> stack, CancellationToken cancellationToken)
    {
        string image = d.Digest.ToString();
        if (stack.Contains(d.Digest))
        {
            context.Error($"{Label(names)}index {d.Digest} refers back to itself (an index cycle); not followed", image);
            return;
        }

        if (depth >= context.Options.MaxIndexDepth)
        {
            context.Error($"{Label(names)}index {d.Digest} is nested more than {context.Options.MaxIndexDepth} deep; not followed", image);
            return;
        }

        ImageIndex index;
        try
        {
            index = ManifestParser.ParseIndex(bytes, "index " + image);
        }
        catch (ImageFormatException ex)
        {
            context.Error(Label(names) + ex.Message, image, path: ReadContext.BlobPath(d.Digest));
            return;
        }

        stack.Add(d.Digest);
        foreach (var child in index.Manifests)
        {
            await WalkAsync(child, depth + 1, outerIndex ?? d.Digest, names, stack, cancellationToken).ConfigureAwait(false);
        }

        stack.RemoveAt(stack.Count - 1);
    }

    private async Task<IImage?> BuildImageAsync(Descriptor d, byte[] bytes, IReadOnlyList<ImageName> names, CancellationToken cancellationToken)
    {
        string image = d.Digest.ToString();
        string label = Label(names);
        try
        {
            var manifest = ManifestParser.ParseManifest(bytes, "manifest " + image);
            if (!MediaTypes.IsImageConfig(manifest.Config.MediaType))
            {
                _manifests[d.Digest] = null; // an artifact (signature, SBOM, attestation…): not an image
                return null;
            }

            string configPath = ReadContext.BlobPath(manifest.Config.Digest);
            if (context.Container.Find(configPath) is not { } configEntry)
            {
                context.Error($"{label}config {manifest.Config.Digest} of manifest {d.Digest} is missing: expected at {configPath}", image, path: configPath);
                _manifests[d.Digest] = null;
                return null;
            }

            byte[] configBytes = await context.ReadVerifiedAsync(manifest.Config, "config", configEntry, cancellationToken).ConfigureAwait(false);
            var config = ManifestParser.ParseConfig(configBytes, "config " + manifest.Config.Digest.ToString());
            if (!context.KeepPlatform(d.Platform ?? config.Platform))
            {
                return null;
            }

            if (config.DiffIds.Count != manifest.Layers.Count)
            {
                throw new ImageFormatException($"config {manifest.Config.Digest} lists {config.DiffIds.Count} diff_ids but manifest {d.Digest} lists {manifest.Layers.Count} layers");
            }

            var layers = new List<ILayer>(manifest.Layers.Count);
            for (int i = 0; i < manifest.Layers.Count; i++)
            {
                var layer = manifest.Layers[i];
                string layerPath = ReadContext.BlobPath(layer.Digest);
                if (context.Container.Find(layerPath) is not { } entry)
                {
                    if (MediaTypes.IsNonDistributable(layer.MediaType) || layer.Urls is { Count: > 0 })
                    {
                        layers.Add(new BlobLayer(layer, config.DiffIds[i], null));
                        continue;
                    }

                    context.Error($"{label}layer {layer.Digest} (layer {i + 1} of {manifest.Layers.Count}) is missing: expected at {layerPath}", image, layer.Digest.ToString(), layerPath);
                    _manifests[d.Digest] = null;
                    return null;
                }

                if (entry.Problem is not null || entry.Length != layer.Size)
                {
                    string problem = entry.Problem ?? $"the blob at {layerPath} is {entry.Length} bytes, but the manifest states {layer.Size}";
                    context.Error($"{label}layer {layer.Digest}: {problem}", image, layer.Digest.ToString(), layerPath);
                    _manifests[d.Digest] = null;
                    return null;
                }

                layers.Add(context.Container.LayerFor(layer, config.DiffIds[i], entry));
            }

            var built = new SourceImage(d.Digest, d.Digest, manifest.MediaType, manifest.Config.Digest, configBytes, config, layers);
            _manifests[d.Digest] = built;
            return built;
        }
        catch (Exception ex) when (ex is ImageFormatException or IOException or InvalidDataException)
        {
            context.Error(label + ex.Message, image, path: ReadContext.BlobPath(d.Digest));
            _manifests[d.Digest] = null;
            return null;
        }
    }

    private static string Label(IReadOnlyList<ImageName> names) => names.Count == 0 ? "" : $"image {names[0]}: ";
}
