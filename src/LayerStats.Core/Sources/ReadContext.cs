using System.Collections.Concurrent;
using System.Security.Cryptography;
using LayerStats.Core.Images;
using LayerStats.Core.Model;

namespace LayerStats.Core.Sources;

/// <summary>An image found while reading, with every name it was found under and the index that led to it.</summary>
internal sealed record FoundImage(IImage Image, IReadOnlyList<ImageName> Names, Digest? IndexDigest);

/// <summary>What the readers of one source share: the container, the options and the errors gathered so far.</summary>
internal sealed class ReadContext(BlobContainer container, string source, ImageSourceOptions options)
{
    /// <summary>What <see cref="ReadAheadAsync"/> found, for the walk that follows it (null outside one).</summary>
    private ReadAhead? _ahead;

    public BlobContainer Container => container;

    public ImageSourceOptions Options => options;

    public List<ScanError> Errors { get; } = [];

    /// <summary>Threads for <see cref="ReadAheadAsync"/>: 1 reads nothing ahead.</summary>
    public int ListingThreads => options.ListingThreads > 0 ? options.ListingThreads : Environment.ProcessorCount;

    public void Error(string message, string? image = null, string? layer = null, string? path = null) =>
        Errors.Add(new ScanError(source, message, image, layer, path));

    /// <summary>False when the filter leaves this platform out.</summary>
    public bool KeepPlatform(Platform? platform) =>
        options.PlatformFilter is not { } filter || filter.Matches(platform);

    public static string BlobPath(Digest digest) => $"blobs/{digest.Algorithm}/{digest.Hex}";

    /// <summary><see cref="BlobContainer.Find"/>, answered from what was read ahead when it holds the path.</summary>
    public ContainerEntry? Find(string path) =>
        _ahead is { } ahead && ahead.Entries.TryGetValue(path, out var entry) ? entry : container.Find(path);

    /// <summary>Reads a document blob by its descriptor and checks that its size and digest are what the descriptor states.</summary>
    public Task<byte[]> ReadVerifiedAsync(Descriptor descriptor, string what, ContainerEntry entry, CancellationToken cancellationToken) =>
        _ahead is { } ahead && ahead.Documents.TryGetValue(DocumentKey(descriptor, what, entry), out var bytes)
            ? Task.FromResult(bytes)
            : ReadAndVerifyAsync(descriptor, what, entry, cancellationToken);

    /// <summary><see cref="ManifestParser.ParseManifest"/>, answered from what was read ahead when it parsed the same document.</summary>
    public Manifest ParseManifest(byte[] bytes, string what) =>
        _ahead is { } ahead && ahead.Parsed.TryGetValue(what, out var parsed) && parsed is Manifest manifest
            ? manifest
            : ManifestParser.ParseManifest(bytes, what);

    /// <summary><see cref="ManifestParser.ParseConfig"/>, answered from what was read ahead when it parsed the same document.</summary>
    public ImageConfig ParseConfig(byte[] bytes, string what) =>
        _ahead is { } ahead && ahead.Parsed.TryGetValue(what, out var parsed) && parsed is ImageConfig config
            ? config
            : ManifestParser.ParseConfig(bytes, what);

    /// <summary>
    /// Runs <paramref name="walk"/> over <paramref name="descriptors"/> in order, a slice at a time, each slice's documents
    /// first read ahead on <see cref="ListingThreads"/> threads by <paramref name="readAhead"/>: what it finds, reads
    /// (verified) and parses is kept for the walk, which looks it up instead of doing it again. The walk alone decides
    /// what is an image and what is an error, in the order of a sequential listing; what the read-ahead could not do
    /// (a missing blob, a digest that does not match, JSON that does not parse) is left to the walk, which then meets
    /// the failure itself. Only for containers that read a document at once (a directory, a tar file): a gzipped archive's
    /// documents are in memory already.
    /// </summary>
    public async Task WalkAsync(IReadOnlyList<Descriptor> descriptors, Action<ReadContext, Descriptor> readAhead, Func<Descriptor, Task> walk, CancellationToken cancellationToken)
    {
        int threads = ListingThreads;
        if (threads <= 1 || descriptors.Count < 2 || !container.ReadsAtOnce)
        {
            foreach (var descriptor in descriptors)
            {
                await walk(descriptor).ConfigureAwait(false);
            }

            return;
        }

        var outer = _ahead;
        try
        {
            for (int start = 0; start < descriptors.Count; start += ReadAheadSlice)
            {
                int end = Math.Min(descriptors.Count, start + ReadAheadSlice);
                var ahead = new ReadAhead();
                var reader = new ReadContext(container, source, options) { _filling = ahead };
                Parallel.For(
                    start,
                    end,
                    new ParallelOptions { MaxDegreeOfParallelism = threads, CancellationToken = cancellationToken },
                    i =>
                    {
                        try
                        {
                            readAhead(reader, descriptors[i]);
                        }
                        catch (Exception ex) when (ex is not OperationCanceledException)
                        {
                            // Left to the walk, which meets it again in its place.
                        }
                    });
                _ahead = ahead;
                for (int i = start; i < end; i++)
                {
                    await walk(descriptors[i]).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            _ahead = outer;
        }
    }

    /// <summary>Descriptors read ahead at once: bounds what is kept for the walk (a few KB each).</summary>
    private const int ReadAheadSlice = 512;

    /// <summary>In a read-ahead's context: where it keeps what it found, read and parsed.</summary>
    private ReadAhead? _filling;

    /// <summary>In a read-ahead's context: <see cref="BlobContainer.Find"/>, kept for the walk.</summary>
    public ContainerEntry? FindAhead(string path)
    {
        var entry = container.Find(path);
        _filling?.Entries.TryAdd(path, entry);
        return entry;
    }

    /// <summary>In a read-ahead's context: a verified read that completed at once, kept for the walk; null when it did not.</summary>
    public byte[]? ReadVerifiedAhead(Descriptor descriptor, string what, ContainerEntry entry, CancellationToken cancellationToken)
    {
        var reading = ReadAndVerifyAsync(descriptor, what, entry, cancellationToken);
        if (!reading.IsCompletedSuccessfully)
        {
            return null; // a failure (or a read that would wait) is the walk's to meet
        }

        _filling?.Documents.TryAdd(DocumentKey(descriptor, what, entry), reading.Result);
        return reading.Result;
    }

    /// <summary>In a read-ahead's context: a manifest parsed, kept for the walk.</summary>
    public Manifest ParseManifestAhead(byte[] bytes, string what)
    {
        var manifest = ManifestParser.ParseManifest(bytes, what);
        _filling?.Parsed.TryAdd(what, manifest);
        return manifest;
    }

    /// <summary>In a read-ahead's context: a config parsed, kept for the walk.</summary>
    public ImageConfig ParseConfigAhead(byte[] bytes, string what)
    {
        var config = ManifestParser.ParseConfig(bytes, what);
        _filling?.Parsed.TryAdd(what, config);
        return config;
    }

    private async Task<byte[]> ReadAndVerifyAsync(Descriptor descriptor, string what, ContainerEntry entry, CancellationToken cancellationToken)
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

    private static string DocumentKey(Descriptor descriptor, string what, ContainerEntry entry) =>
        FormattableString.Invariant($"{what}\0{descriptor.Digest}\0{descriptor.Size}\0{entry.Path}");

    private static string Hash(string algorithm, byte[] bytes) => algorithm switch
    {
        "sha512" => Convert.ToHexStringLower(SHA512.HashData(bytes)),
        _ => Convert.ToHexStringLower(SHA256.HashData(bytes)),
    };

    /// <summary>What a read-ahead found (a path's entry, or null when absent), read (verified) and parsed (by the parse's label).</summary>
    private sealed class ReadAhead
    {
        public ConcurrentDictionary<string, ContainerEntry?> Entries { get; } = new(StringComparer.Ordinal);

        public ConcurrentDictionary<string, byte[]> Documents { get; } = new(StringComparer.Ordinal);

        public ConcurrentDictionary<string, object> Parsed { get; } = new(StringComparer.Ordinal);
    }
}
