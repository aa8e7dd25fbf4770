using System.Security.Cryptography;
using LayerStats.Core.Images;
using LayerStats.Core.Model;

namespace LayerStats.Core.Sources;

/// <summary>An image found while reading, with every name it was found under and the index that led to it.</summary>
internal sealed record FoundImage(IImage Image, IReadOnlyList<ImageName> Names, Digest? IndexDigest);

/// <summary>What the readers of one source share: the container, the options and the errors gathered so far.</summary>
internal sealed class ReadContext(BlobContainer container, string source, ImageSourceOptions options)
{
    public BlobContainer Container => container;

    public ImageSourceOptions Options => options;

    public List<ScanError> Errors { get; } = [];

    public void Error(string message, string? image = null, string? layer = null, string? path = null) =>
        Errors.Add(new ScanError(source, message, image, layer, path));

    /// <summary>False when the filter leaves this platform out.</summary>
    public bool KeepPlatform(Platform? platform) =>
        options.PlatformFilter is not { } filter || filter.Matches(platform);

    public static string BlobPath(Digest digest) => $"blobs/{digest.Algorithm}/{digest.Hex}";

    /// <summary>Reads a document blob by its descriptor and checks that its size and digest are what the descriptor states.</summary>
    public async Task<byte[]> ReadVerifiedAsync(Descriptor descriptor, string what, ContainerEntry entry, CancellationToken cancellationToken)
    {
        if (entry.Problem is null && entry.Length != descriptor.Size)
        {
            throw new ImageFormatException($"{what} {descriptor.Digest}: the blob at {entry.Path} is {entry.Length} bytes, but its descriptor states {descriptor.Size}");
        }

        byte[] bytes = await container.ReadDocumentAsync(entry, options.MaxDocumentBytes, cancellationToken).ConfigureAwait(false);
        string actual = Hash(descriptor.Digest.Algorithm, bytes);
        if (actual != descriptor.Digest.Hex)
        {
            throw new ImageFormatException($"{what} {descriptor.Digest}: the blob at {entry.Path} hashes to {descriptor.Digest.Algorithm}:{actual}; its content does not match its digest");
        }

        return bytes;
    }

    private static string Hash(string algorithm, byte[] bytes) => algorithm switch
    {
        "sha512" => Convert.ToHexStringLower(SHA512.HashData(bytes)),
        _ => Convert.ToHexStringLower(SHA256.HashData(bytes)),
    };
}
