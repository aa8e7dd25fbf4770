using LayerStats.Core.Model;

namespace LayerStats.Core.Layers;

/// <summary>
/// What reading one layer blob found: the blob identity (<paramref name="Digest"/>, <paramref name="CompressedSize"/>,
/// over every byte of the blob, trailing bytes included), the compression decided by magic bytes, and the content
/// identity (<paramref name="DiffId"/>, <paramref name="UncompressedSize"/>, over the whole tar stream, padding after
/// the end-of-archive blocks included). <paramref name="EntryCount"/> is the number of <see cref="FileEntry"/> rows
/// written to the sink (0 when no sink was given: then the tar is not walked).
/// </summary>
public sealed record LayerReadResult(
    Digest Digest,
    long CompressedSize,
    Compression Compression,
    Digest DiffId,
    long UncompressedSize,
    int EntryCount);
