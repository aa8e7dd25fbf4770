using LayerStats.Core.Model;

namespace LayerStats.Core.Images;

/// <summary>Opens a blob's bytes from the start. Each call returns a new stream the caller disposes.</summary>
public delegate ValueTask<Stream> BlobOpener(CancellationToken cancellationToken);

/// <summary>A layer as an image states it: the blob (compressed) and the content (diff_id) it must decompress to.</summary>
public interface ILayer
{
    /// <summary>sha256 of the compressed bytes, as the manifest states it (for a legacy docker-save entry: the diff_id).</summary>
    Digest Digest { get; }

    /// <summary>Compressed size in bytes, as stated (for a legacy docker-save entry: the layer.tar length).</summary>
    long Size { get; }

    string MediaType { get; }

    /// <summary>sha256 of the uncompressed tar stream, as the config's rootfs.diff_ids states it.</summary>
    Digest DiffId { get; }

    /// <summary>False for a foreign / non-distributable layer whose blob the source does not hold: recorded, not read.</summary>
    bool IsAvailable { get; }

    /// <summary>Opens the compressed blob. Throws when <see cref="IsAvailable"/> is false.</summary>
    ValueTask<Stream> OpenCompressedAsync(CancellationToken cancellationToken);
}

/// <summary>One platform image: a manifest (or a legacy docker-save entry), its config and its layers.</summary>
public interface IImage
{
    /// <summary>The identity: the manifest digest, or the config digest for a legacy docker-save entry.</summary>
    Digest Id { get; }

    /// <summary>Null for a legacy docker-save entry, which has no manifest.</summary>
    Digest? ManifestDigest { get; }

    string ManifestMediaType { get; }

    Digest ConfigDigest { get; }

    /// <summary>The config blob as read (and verified against <see cref="ConfigDigest"/>), kept in the database.</summary>
    ReadOnlyMemory<byte> ConfigBytes { get; }

    ImageConfig Config { get; }

    IReadOnlyList<ILayer> Layers { get; }
}

/// <summary>How an image was reached: the input as the user gave it, and the repository/tag that named it there.</summary>
public sealed record ImageReference(string Source, string? Repository, string? Tag, Digest? IndexDigest = null);

/// <summary>An image found in a source, with the reference it was found under.</summary>
public sealed record ResolvedImage(IImage Image, ImageReference Reference);

/// <summary>What went wrong, and where: the input, and the image, layer and path where known.</summary>
public sealed record ScanError(string Source, string Message, string? Image = null, string? Layer = null, string? Path = null);

/// <summary>Everything a source holds: its images, and the errors that kept others from being read.</summary>
public sealed record SourceListing(IReadOnlyList<ResolvedImage> Images, IReadOnlyList<ScanError> Errors);

/// <summary>A place images come from: a docker-save tarball, an OCI layout, a registry repository.</summary>
public interface IImageSource : IAsyncDisposable
{
    /// <summary>The input as the user gave it.</summary>
    string Source { get; }

    /// <summary>Reads indexes, manifests and configs (verifying their digests) and lists the images. Layer blobs are not read here.</summary>
    Task<SourceListing> ListImagesAsync(CancellationToken cancellationToken);
}

/// <summary>A layer whose blob is reached through an opener.</summary>
public sealed class BlobLayer(Descriptor descriptor, Digest diffId, BlobOpener? opener) : ILayer
{
    public Digest Digest => descriptor.Digest;

    public long Size => descriptor.Size;

    public string MediaType => descriptor.MediaType;

    public Digest DiffId => diffId;

    public bool IsAvailable => opener is not null;

    public ValueTask<Stream> OpenCompressedAsync(CancellationToken cancellationToken) =>
        opener is null
            ? throw new InvalidOperationException($"layer {descriptor.Digest} is not held by its source (foreign or non-distributable)")
            : opener(cancellationToken);
}

/// <summary>An image whose parts are all known once listed.</summary>
public sealed record SourceImage(
    Digest Id,
    Digest? ManifestDigest,
    string ManifestMediaType,
    Digest ConfigDigest,
    ReadOnlyMemory<byte> ConfigBytes,
    ImageConfig Config,
    IReadOnlyList<ILayer> Layers) : IImage;
