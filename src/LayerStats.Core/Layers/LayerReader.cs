using System.Buffers;
using System.IO.Compression;
using LayerStats.Core.Hashing;
using LayerStats.Core.Model;
using ZstdSharp;

namespace LayerStats.Core.Layers;

/// <summary>
/// Reads one layer blob in a single streaming pass: SHA-256 and length of the blob bytes (digest), decompression
/// decided by magic bytes (gzip <c>1f 8b</c>, multi-member and estargz included; zstd <c>28 b5 2f fd</c> or a
/// skippable frame; anything else is a plain tar), SHA-256 and length of the tar stream (diff_id), and, when a
/// sink is given, a tar walk that hashes every regular file (XxHash128, and SHA-256 on request) and writes one
/// <see cref="FileEntry"/> per tar entry. Both streams are read to their very end.
/// </summary>
/// <remarks>
/// <see cref="FileEntry.Xxh128"/> is <see cref="System.IO.Hashing.XxHash128.GetCurrentHashAsUInt128"/>: the numeric
/// XXH128 value. Written big-endian (<c>value.ToString("x32")</c>) it is the canonical form that <c>xxhsum -H2</c>
/// prints and that <see cref="System.IO.Hashing.XxHash128.Hash(ReadOnlySpan{byte})"/> returns as bytes.
/// </remarks>
public static class LayerReader
{
    /// <summary>The largest batch handed to <see cref="IFileEntrySink.WriteAsync"/>.</summary>
    public const int BatchSize = 4096;

    public static Task<LayerReadResult> ReadAsync(Stream blob, FileHashing hashing, IFileEntrySink? sink, CancellationToken ct) =>
        ReadAsync(blob, hashing, sink, overlap: false, ct);

    /// <param name="overlap">
    /// For a compressed layer, decompress (with the blob's SHA-256) on a second thread-pool task, ahead of the tar
    /// walk and the diff_id SHA-256, through a bounded queue of 1 MiB chunks (~4 MiB): one large layer then uses two
    /// cores. Worth it when fewer layers are being read than there are cores; the result and the exceptions are the
    /// same either way.
    /// </param>
    public static async Task<LayerReadResult> ReadAsync(Stream blob, FileHashing hashing, IFileEntrySink? sink, bool overlap, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(blob);

        using var hashed = new HashingReadStream(blob, leaveOpen: true);
        byte[] magic = new byte[6];
        int got = await hashed.ReadAtLeastAsync(magic, magic.Length, throwOnEndOfStream: false, ct).ConfigureAwait(false);
        Compression compression = Detect(magic.AsSpan(0, got));
        var prefixed = new PrefixedStream(magic.AsMemory(0, got), hashed);

        string codec = compression switch { Compression.Gzip => "gzip", Compression.Zstd => "zstd", _ => "tar" };
        await using Stream tar = compression switch
        {
            Compression.Gzip when GzipDecoder.IsAvailable => new GzipDecoder(prefixed),
            Compression.Gzip => new GZipStream(prefixed, CompressionMode.Decompress, leaveOpen: true),
            Compression.Zstd => new DecompressionStream(prefixed, leaveOpen: true),
            _ => prefixed,
        };

        await using ReadAheadStream? ahead = overlap && compression != Compression.None ? new ReadAheadStream(tar, ct) : null;

        Exception? Translate(Exception ex) => hashed.SourceFaulted || ex is LayerFormatException
            ? null
            : ex is EndOfStreamException
                ? new LayerFormatException($"truncated {codec} stream: {ex.Message}", ex)
                : new LayerFormatException($"corrupt {codec} stream: {ex.Message}", ex);

        using var input = new TarInput(ahead ?? tar, hash: compression != Compression.None, Translate);
        int entries = 0;
        if (sink is not null)
        {
            using var walker = new TarWalker(input, hashing, sink, BatchSize);
            entries = await walker.WalkAsync(ct).ConfigureAwait(false);
        }

        await input.DrainAsync(ct).ConfigureAwait(false);
        if (ahead is not null)
        {
            await ahead.Completion.ConfigureAwait(false); // the producer has stopped reading the blob
        }

        // The decompressor may stop before the blob does (bytes after the last gzip member): they count in the digest.
        byte[] scratch = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            await hashed.DrainAsync(scratch, ct).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }

        Digest digest = hashed.GetDigest();
        Digest diffId = compression == Compression.None ? digest : Digest.Sha256(input.GetSha256());
        return new LayerReadResult(digest, hashed.BytesRead, compression, diffId, input.Total, entries);
    }

    /// <summary>The compression of a blob from its first bytes.</summary>
    public static Compression Detect(ReadOnlySpan<byte> head)
    {
        if (head.Length >= 2 && head[0] == 0x1f && head[1] == 0x8b)
        {
            return Compression.Gzip;
        }

        if (head.Length >= 4 && head[1] == 0xb5 && head[2] == 0x2f && head[3] == 0xfd && head[0] == 0x28)
        {
            return Compression.Zstd;
        }

        if (head.Length >= 4 && (head[0] & 0xf0) == 0x50 && head[1] == 0x2a && head[2] == 0x4d && head[3] == 0x18)
        {
            return Compression.Zstd; // a zstd skippable frame first (e.g. zstd:chunked metadata)
        }

        if (head.Length >= 6 && head[..6].SequenceEqual((ReadOnlySpan<byte>)[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))
        {
            throw new LayerFormatException("unsupported layer compression: xz (only gzip, zstd and plain tar are read)");
        }

        return Compression.None;
    }
}
