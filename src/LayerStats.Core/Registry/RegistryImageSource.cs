using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text.Json;
using LayerStats.Core.Images;
using LayerStats.Core.Model;
using LayerStats.Core.Sources;

namespace LayerStats.Core.Registry;

/// <summary>
/// A <c>docker://</c> input: one tag, one digest, every tag of a repository, or every repository of the catalog.
/// Lists images by reading (and verifying) indexes, manifests and configs; layers stream their blobs on demand.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item>Manifests are asked for with Accept: OCI index and manifest, Docker manifest list and schema 2 manifest (and schema 1,
/// to say clearly that it is unsupported). The bytes must hash to the digest asked for, or to the Docker-Content-Digest header
/// when asked by tag; a child of an index must also have the size its descriptor states.</item>
/// <item>Indexes are followed (nested too, with a depth and cycle guard); attestation manifests and manifests whose config is
/// not an image config are skipped; the platform filter applies as for OCI layouts.</item>
/// <item>Image identity = the platform manifest digest, so an image from a registry is the same image as from a layout.
/// A reference records Repository = host[:port]/name (docker.io/library/alpine for Docker Hub), Tag (null when reached
/// by digest), IndexDigest = the outermost index the tag or digest names.</item>
/// <item>Foreign / non-distributable layers (their media type, or <c>urls</c>) are recorded, not read (no opener).</item>
/// <item>Errors: a registry that cannot be reached is one error for the input; a catalog or tag list that fails is one error
/// (for the repository); a tag or manifest that fails is an error for that image, and the rest goes on.</item>
/// <item>Concurrency: the tag lists of a catalog's repositories, and then the manifests of the tags, are read with up to
/// <see cref="RegistryOptions.JobsPerRegistry"/> requests at once; results are gathered in listing order (catalog order, then
/// tag-list order), so the images and errors come out in the same order whatever the concurrency.</item>
/// </list>
/// </remarks>
internal sealed class RegistryImageSource(RegistrySession session, string input, ImageSourceOptions options, bool ownsSession) : IImageSource
{
    /// <summary>The manifest types asked for, best first.</summary>
    public const string ManifestAccept =
        MediaTypes.OciIndex + ", " + MediaTypes.OciManifest + ", " + MediaTypes.DockerManifestList + ", " + MediaTypes.DockerManifest + ", "
        + MediaTypes.DockerManifestV1Signed + ", " + MediaTypes.DockerManifestV1;

    private const string DockerReferenceType = "vnd.docker.reference.type";

    private readonly ConcurrentDictionary<(string Repository, Digest Digest), Lazy<Task<ManifestDocument>>> _manifests = new();
    private readonly ConcurrentDictionary<(string Repository, Digest Digest), Lazy<Task<IImage?>>> _images = new();

    public string Source => input;

    public static string Scope(string repository) => $"repository:{repository}:pull";

    public async Task<SourceListing> ListImagesAsync(CancellationToken cancellationToken)
    {
        if (!RegistryReference.TryParse(input, out var reference, out string? problem))
        {
            return new SourceListing([], [new ScanError(input, problem)]);
        }

        var client = session.ClientFor(reference.Host);
        try
        {
            await client.PingAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsReadFailure(ex))
        {
            return new SourceListing([], [new ScanError(input, Message(client, ex))]);
        }

        var errors = new List<ScanError>();
        var targets = new List<RegistryReference>();
        switch (reference.Kind)
        {
            case RegistryReferenceKind.Catalog:
                List<string> repositories;
                try
                {
                    repositories = await ListPagedAsync(client, "/v2/_catalog", "registry:catalog:*", "repositories", cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (IsReadFailure(ex))
                {
                    return new SourceListing([], [new ScanError(input, $"{Message(client, ex)} (the registry's catalog cannot be listed; name repositories instead)")]);
                }

                // The catalog is read page after page; the tag lists of its repositories are read concurrently (as many at
                // once as --registry-jobs allows) and gathered in catalog order, so the listing is the same as one by one.
                var listed = new (List<RegistryReference> Targets, List<ScanError> Errors)[repositories.Count];
                await Parallel.ForEachAsync(
                    Enumerable.Range(0, repositories.Count),
                    new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, session.Options.JobsPerRegistry), CancellationToken = cancellationToken },
                    async (i, ct) =>
                    {
                        var found = new List<RegistryReference>();
                        var failed = new List<ScanError>();
                        if (!RegistryReference.IsValidRepositoryName(repositories[i]))
                        {
                            failed.Add(new ScanError(input, $"the catalog lists '{Truncate(repositories[i])}', which is not a valid repository name; skipped"));
                        }
                        else
                        {
                            await AddTagsAsync(client, reference.InRepository(repositories[i]), found, failed, ct).ConfigureAwait(false);
                        }

                        listed[i] = (found, failed);
                    }).ConfigureAwait(false);
                foreach (var (found, failed) in listed)
                {
                    targets.AddRange(found);
                    errors.AddRange(failed);
                }

                break;
            case RegistryReferenceKind.Repository:
                await AddTagsAsync(client, reference, targets, errors, cancellationToken).ConfigureAwait(false);
                break;
            default:
                targets.Add(reference);
                break;
        }

        var results = new (List<ResolvedImage> Images, List<ScanError> Errors)[targets.Count];
        await Parallel.ForEachAsync(
            Enumerable.Range(0, targets.Count),
            new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, session.Options.JobsPerRegistry), CancellationToken = cancellationToken },
            async (i, ct) => results[i] = await ResolveAsync(client, targets[i], ct).ConfigureAwait(false)).ConfigureAwait(false);

        var images = new List<ResolvedImage>();
        foreach (var (found, failed) in results)
        {
            images.AddRange(found);
            errors.AddRange(failed);
        }

        return new SourceListing(images, errors);
    }

    public ValueTask DisposeAsync() => ownsSession ? session.DisposeAsync() : ValueTask.CompletedTask;

    private static bool IsReadFailure(Exception ex) =>
        ex is RegistryException or ImageFormatException or HttpRequestException or IOException or TimeoutException or JsonException or InvalidDataException;

    private static string Message(RegistryClient client, Exception ex) =>
        ex is ImageFormatException ? ex.Message : client.Describe(ex);

    private static string Truncate(string s) => s.Length <= 100 ? s : s[..100] + "…";

    private async Task AddTagsAsync(RegistryClient client, RegistryReference repository, List<RegistryReference> targets, List<ScanError> errors, CancellationToken cancellationToken)
    {
        string name = repository.Repository!;
        List<string> tags;
        try
        {
            tags = await ListPagedAsync(client, $"/v2/{name}/tags/list", Scope(name), "tags", cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsReadFailure(ex))
        {
            errors.Add(new ScanError(input, Message(client, ex), repository.ToString()));
            return;
        }

        foreach (string tag in tags)
        {
            if (RegistryReference.IsValidTag(tag))
            {
                targets.Add(repository.At(tag, null));
            }
            else
            {
                errors.Add(new ScanError(input, $"the tag list of {repository} holds '{Truncate(tag)}', which is not a valid tag; skipped", repository.ToString()));
            }
        }
    }

    /// <summary>Every item of a paginated list (<c>_catalog</c>, <c>tags/list</c>), following <c>Link: &lt;…&gt;; rel="next"</c>.</summary>
    private async Task<List<string>> ListPagedAsync(RegistryClient client, string path, string scope, string property, CancellationToken cancellationToken)
    {
        var items = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        Uri? uri = client.Url($"{path}?n={session.Options.PageSize}");
        while (uri is not null)
        {
            if (!seen.Add(uri.AbsoluteUri))
            {
                throw new RegistryException($"registry {client.DisplayHost}: {path}: the next-page link points back to a page already read ({uri.PathAndQuery})");
            }

            var request = new RegistryRequest(HttpMethod.Get, uri, scope, "application/json");
            var document = await client.GetDocumentAsync(request, options.MaxDocumentBytes, cancellationToken).ConfigureAwait(false);
            using var json = ManifestParser.Parse(document.Bytes, $"registry {client.DisplayHost}: {path}");
            var root = ManifestParser.RequireObject(json.RootElement, $"registry {client.DisplayHost}: {path}");
            if (root.TryGetProperty(property, out var list) && list.ValueKind == JsonValueKind.Array)
            {
                items.AddRange(list.EnumerateArray().Where(e => e.ValueKind == JsonValueKind.String).Select(e => e.GetString()!));
            }

            uri = document.Next;
        }

        return items;
    }

    private async Task<(List<ResolvedImage>, List<ScanError>)> ResolveAsync(RegistryClient client, RegistryReference target, CancellationToken cancellationToken)
    {
        var walk = new Walk(target, [], [], []);
        try
        {
            string reference = target.Digest?.ToString() ?? target.Tag!;
            var document = await FetchManifestAsync(client, target.Repository!, reference, null, target.Digest, cancellationToken).ConfigureAwait(false);
            await WalkAsync(client, walk, document, null, 0, null, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsReadFailure(ex))
        {
            walk.Errors.Add(new ScanError(input, Message(client, ex), target.ToString()));
        }

        return (walk.Images, walk.Errors);
    }

    private async Task WalkAsync(RegistryClient client, Walk walk, ManifestDocument document, Descriptor? descriptor, int depth, Digest? outerIndex, CancellationToken cancellationToken)
    {
        string label = walk.Target.ToString();
        string repository = walk.Target.Repository!;
        string? mediaType = document.MediaType;
        if (mediaType is MediaTypes.DockerManifestV1 or MediaTypes.DockerManifestV1Signed)
        {
            walk.Errors.Add(new ScanError(input, $"manifest {document.Digest} is a Docker schema 1 manifest ({mediaType}), which is unsupported (re-push the image with a current client)", label));
            return;
        }

        if (MediaTypes.IsIndex(mediaType))
        {
            if (walk.Stack.Contains(document.Digest))
            {
                walk.Errors.Add(new ScanError(input, $"index {document.Digest} refers back to itself (an index cycle); not followed", label));
                return;
            }

            if (depth >= options.MaxIndexDepth)
            {
                walk.Errors.Add(new ScanError(input, $"index {document.Digest} is nested more than {options.MaxIndexDepth} deep; not followed", label));
                return;
            }

            var index = ManifestParser.ParseIndex(document.Bytes, $"index {document.Digest}");
            walk.Stack.Add(document.Digest);
            foreach (var child in index.Manifests)
            {
                if (IsAttestation(child))
                {
                    continue;
                }

                bool childIndex = MediaTypes.IsIndex(child.MediaType);
                if (!childIndex && child.Platform is not null && !KeepPlatform(child.Platform))
                {
                    continue;
                }

                if (child.MediaType is MediaTypes.DockerManifestV1 or MediaTypes.DockerManifestV1Signed)
                {
                    walk.Errors.Add(new ScanError(input, $"manifest {child.Digest} of index {document.Digest} is a Docker schema 1 manifest ({child.MediaType}), which is unsupported", label));
                    continue;
                }

                try
                {
                    var childDocument = await FetchManifestAsync(client, repository, child.Digest.ToString(), child, child.Digest, cancellationToken).ConfigureAwait(false);
                    await WalkAsync(client, walk, childDocument, child, depth + 1, outerIndex ?? document.Digest, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (IsReadFailure(ex))
                {
                    walk.Errors.Add(new ScanError(input, $"{Message(client, ex)} (manifest {child.Digest}{(child.Platform is null ? "" : $" for {child.Platform}")} of index {document.Digest})", label));
                }
            }

            walk.Stack.RemoveAt(walk.Stack.Count - 1);
            return;
        }

        if (!MediaTypes.IsManifest(mediaType))
        {
            walk.Errors.Add(new ScanError(input, $"{document.Digest} is neither an image index nor an image manifest (media type '{mediaType}'); skipped", label));
            return;
        }

        var image = await _images.GetOrAdd(
            (repository, document.Digest),
            key => new Lazy<Task<IImage?>>(() => BuildImageAsync(client, key.Repository, document, descriptor?.Platform, cancellationToken))).Value.ConfigureAwait(false);
        if (image is not null)
        {
            var reference = new ImageReference(input, RegistryReference.RepositoryName(client.Host, repository), walk.Target.Tag, outerIndex);
            walk.Images.Add(new ResolvedImage(image, reference));
        }
    }

    private async Task<IImage?> BuildImageAsync(RegistryClient client, string repository, ManifestDocument document, Platform? descriptorPlatform, CancellationToken cancellationToken)
    {
        var manifest = ManifestParser.ParseManifest(document.Bytes, $"manifest {document.Digest}");
        if (!MediaTypes.IsImageConfig(manifest.Config.MediaType))
        {
            return null; // an artifact (signature, SBOM, attestation…): not an image
        }

        var configDescriptor = manifest.Config;
        // A config the database already holds (verified when it was stored) is not fetched again: a rescan of an
        // unchanged registry reads manifests only.
        byte[] configBytes;
        if (options.KnownConfig?.Invoke(configDescriptor.Digest) is { } known)
        {
            configBytes = known;
        }
        else
        {
            var request = new RegistryRequest(HttpMethod.Get, client.Url($"/v2/{repository}/blobs/{configDescriptor.Digest}"), Scope(repository));
            configBytes = (await client.GetDocumentAsync(request, options.MaxDocumentBytes, cancellationToken).ConfigureAwait(false)).Bytes;
        }

        Verify(configBytes, configDescriptor, $"config {configDescriptor.Digest} of manifest {document.Digest}");
        var config = ManifestParser.ParseConfig(configBytes, $"config {configDescriptor.Digest}");
        if (!KeepPlatform(descriptorPlatform ?? config.Platform))
        {
            return null;
        }

        if (config.DiffIds.Count != manifest.Layers.Count)
        {
            throw new ImageFormatException($"config {configDescriptor.Digest} lists {config.DiffIds.Count} diff_ids but manifest {document.Digest} lists {manifest.Layers.Count} layers");
        }

        var layers = new List<ILayer>(manifest.Layers.Count);
        for (int i = 0; i < manifest.Layers.Count; i++)
        {
            var layer = manifest.Layers[i];
            bool foreign = MediaTypes.IsNonDistributable(layer.MediaType) || layer.Urls is { Count: > 0 };
            layers.Add(new BlobLayer(layer, config.DiffIds[i], foreign ? null : BlobOpener(client, repository, layer)));
        }

        string manifestMediaType = MediaTypes.IsManifest(document.MediaType) ? document.MediaType! : manifest.MediaType;
        return new SourceImage(document.Digest, document.Digest, manifestMediaType, configDescriptor.Digest, configBytes, config, layers);
    }

    private static BlobOpener BlobOpener(RegistryClient client, string repository, Descriptor layer) =>
        async ct =>
        {
            var request = new RegistryRequest(HttpMethod.Get, client.Url($"/v2/{repository}/blobs/{layer.Digest}"), Scope(repository));
            return await RegistryBlobStream.OpenAsync(client, request, layer.Size, ct).ConfigureAwait(false);
        };

    /// <summary>Fetches a manifest or index by tag or digest and checks its bytes (once per repository and digest).</summary>
    private Task<ManifestDocument> FetchManifestAsync(RegistryClient client, string repository, string reference, Descriptor? descriptor, Digest? expected, CancellationToken cancellationToken)
    {
        if (expected is not { } digest)
        {
            return FetchManifestCoreAsync(client, repository, reference, descriptor, null, cancellationToken);
        }

        var lazy = _manifests.GetOrAdd((repository, digest), _ => new Lazy<Task<ManifestDocument>>(() => FetchManifestCoreAsync(client, repository, reference, null, digest, cancellationToken)));
        return CheckSizeAsync(lazy.Value, descriptor);
    }

    private static async Task<ManifestDocument> CheckSizeAsync(Task<ManifestDocument> fetch, Descriptor? descriptor)
    {
        var document = await fetch.ConfigureAwait(false);
        if (descriptor is not null && descriptor.Size != document.Bytes.Length)
        {
            throw new ImageFormatException($"manifest {descriptor.Digest}: the registry sent {document.Bytes.Length} bytes, but its descriptor states {descriptor.Size}");
        }

        return document;
    }

    private async Task<ManifestDocument> FetchManifestCoreAsync(RegistryClient client, string repository, string reference, Descriptor? descriptor, Digest? expected, CancellationToken cancellationToken)
    {
        var request = new RegistryRequest(HttpMethod.Get, client.Url($"/v2/{repository}/manifests/{reference}"), Scope(repository), ManifestAccept);
        var document = await client.GetDocumentAsync(request, options.MaxDocumentBytes, cancellationToken).ConfigureAwait(false);
        byte[] bytes = document.Bytes;
        string algorithm = expected?.Algorithm ?? "sha256";
        var actual = Hash(algorithm, bytes);
        string where = $"manifest {RegistryReference.RepositoryName(client.Host, repository)}{(reference.Contains(':', StringComparison.Ordinal) ? "@" : ":")}{reference}";
        if (expected is { } e && actual != e)
        {
            throw new ImageFormatException($"{where}: the registry sent {bytes.Length} bytes that hash to {actual}; they do not match the digest asked for");
        }

        if (expected is null && Digest.TryParse(document.DockerContentDigest, out var stated) && stated.Algorithm == "sha256" && stated != actual)
        {
            throw new ImageFormatException($"{where}: the registry states Docker-Content-Digest {stated}, but the {bytes.Length} bytes it sent hash to {actual}");
        }

        string? mediaType = ManifestParser.PeekMediaType(bytes, where);
        if (mediaType is null)
        {
            mediaType = document.ContentType is { } ct && (MediaTypes.IsIndex(ct) || MediaTypes.IsManifest(ct) || ct is MediaTypes.DockerManifestV1 or MediaTypes.DockerManifestV1Signed)
                ? ct
                : ManifestParser.DetectMediaType(bytes, where);
        }

        _ = descriptor;
        return new ManifestDocument(actual, mediaType, bytes);
    }

    private static void Verify(byte[] bytes, Descriptor descriptor, string what)
    {
        if (bytes.Length != descriptor.Size)
        {
            throw new ImageFormatException($"{what}: the registry sent {bytes.Length} bytes, but the descriptor states {descriptor.Size}");
        }

        var actual = Hash(descriptor.Digest.Algorithm, bytes);
        if (actual != descriptor.Digest)
        {
            throw new ImageFormatException($"{what}: the bytes the registry sent hash to {actual}; they do not match the digest");
        }
    }

    private static Digest Hash(string algorithm, byte[] bytes) =>
        algorithm == "sha512"
            ? Digest.Parse("sha512:" + Convert.ToHexStringLower(SHA512.HashData(bytes)))
            : Digest.Compute(bytes);

    private bool KeepPlatform(Platform? platform) => options.PlatformFilter is not { } filter || filter.Matches(platform);

    private static bool IsAttestation(Descriptor d) =>
        d.Annotation(DockerReferenceType) == "attestation-manifest"
        || (d.Platform is { Os: "unknown", Architecture: "unknown" } && d.Annotation(DockerReferenceType) is not null);

    private sealed record ManifestDocument(Digest Digest, string? MediaType, byte[] Bytes);

    private sealed record Walk(RegistryReference Target, List<ResolvedImage> Images, List<ScanError> Errors, List<Digest> Stack);
}
