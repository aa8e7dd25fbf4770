using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using LayerStats.Core.Hashing;
using LayerStats.Core.Layers;
using ZstdSharp;

namespace LayerStats.Benchmarks;

/// <summary>
/// <c>--limit [--jobs N] [--in-order] PATH...</c>: the in-process limit of a whole scan. Every distinct layer blob
/// (by file name) under the given OCI layouts' <c>blobs/sha256</c> (or given as blob files) is read once, with
/// no tar walk, no per-file hashing and no database: the blob's SHA-256 (digest, checked against its name) and
/// the decompressed stream's SHA-256 (diff_id), with the project's <see cref="GzipDecoder"/> or ZstdSharp's
/// <see cref="DecompressionStream"/> and <see cref="IncrementalHash"/>, N layers at a time (default: one per
/// core), largest first (the best a layer-per-worker schedule can do) unless <c>--in-order</c>. Layers are told
/// from configs and manifests by magic bytes (gzip, zstd; other blobs are skipped).
/// With <c>--walk</c> it is the scan's read path without the database: each blob goes through
/// <see cref="LayerReader"/> (the same decoder, digest and diff_id, plus the tar walk that XxHash128es every regular
/// file and builds one <see cref="FileEntry"/> per tar entry), and the entries are counted and dropped. The scan can
/// come no closer to the limit than this does (benchmarks/README.md, "What the database costs").
/// </summary>
public static class LimitKernel
{
    private sealed record Blob(string Path, string Hex, long Size, Compression Kind);

    public static async Task<int> RunAsync(IReadOnlyList<string> args)
    {
        int jobs = Environment.ProcessorCount;
        bool inOrder = false;
        bool walk = false;
        var paths = new List<string>();
        for (int i = 0; i < args.Count; i++)
        {
            switch (args[i])
            {
                case "--jobs" when i + 1 < args.Count:
                    jobs = int.Parse(args[++i], CultureInfo.InvariantCulture);
                    break;
                case "--in-order":
                    inOrder = true;
                    break;
                case "--walk":
                    walk = true;
                    break;
                default:
                    paths.Add(args[i]);
                    break;
            }
        }

        if (paths.Count == 0 || jobs < 1)
        {
            Console.Error.WriteLine("usage: LayerStats.Benchmarks --limit [--jobs N] [--in-order] [--walk] OCI-LAYOUT-DIR|BLOB...");
            return 2;
        }

        var blobs = Find(paths);
        if (!inOrder)
        {
            blobs = [.. blobs.OrderByDescending(b => b.Size)];
        }

        var clock = Stopwatch.StartNew();
        long tarBytes = 0;
        long compressed = 0;
        long entries = 0;
        int failures = 0;
        int left = blobs.Count; // as in the scan: with fewer layers left than cores, a layer is read on two tasks
        await Parallel.ForEachAsync(blobs, new ParallelOptions { MaxDegreeOfParallelism = jobs }, async (blob, ct) =>
        {
            var (digestHex, length, tar, walked) = walk
                ? await WalkAsync(blob, Volatile.Read(ref left) < Environment.ProcessorCount, ct)
                : await ReadAsync(blob, ct);
            Interlocked.Decrement(ref left);
            Interlocked.Add(ref tarBytes, tar);
            Interlocked.Add(ref entries, walked);
            Interlocked.Add(ref compressed, length);
            if (digestHex != blob.Hex)
            {
                Interlocked.Increment(ref failures);
                Console.Error.WriteLine($"digest mismatch: {blob.Path} hashes to sha256:{digestHex}");
            }
        });
        double seconds = clock.Elapsed.TotalSeconds;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{(walk ? "walk" : "limit")}: {blobs.Count} layers, {compressed} compressed bytes, {tarBytes} tar bytes{(walk ? $", {entries} tar entries" : "")}, jobs {jobs}, {seconds:0.000} s, {tarBytes / 1e6 / seconds:0} MB/s of tar"));
        return failures == 0 ? 0 : 1;
    }

    private static List<Blob> Find(List<string> paths)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var blobs = new List<Blob>();
        Span<byte> head = stackalloc byte[6];
        foreach (string path in paths)
        {
            IEnumerable<string> files = Directory.Exists(path)
                ? Directory.EnumerateFiles(Path.Combine(path, "blobs", "sha256")).Order(StringComparer.Ordinal)
                : [path];
            foreach (string file in files)
            {
                string hex = Path.GetFileName(file);
                if (seen.Contains(hex))
                {
                    continue;
                }

                using var fs = File.OpenRead(file);
                int n = fs.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
                var kind = LayerReader.Detect(head[..n]);
                if (kind == Compression.None)
                {
                    continue; // a config, a manifest or an index (or an uncompressed tar: not what this measures)
                }

                seen.Add(hex);
                blobs.Add(new Blob(file, hex, fs.Length, kind));
            }
        }

        return blobs;
    }

    private static async Task<(string DigestHex, long Compressed, long Tar, long Entries)> WalkAsync(Blob blob, bool overlap, CancellationToken ct)
    {
        await using var file = new FileStream(blob.Path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0, FileOptions.SequentialScan);
        var sink = new CountingSink();
        LayerReadResult read = await LayerReader.ReadAsync(file, FileHashing.Xxh128, sink, overlap, ct);
        if (read.EntryCount != sink.Entries)
        {
            throw new InvalidOperationException($"{blob.Path}: the walk reported {read.EntryCount} entries, the sink got {sink.Entries}");
        }

        return (read.Digest.Hex, read.CompressedSize, read.UncompressedSize, sink.Entries);
    }

    /// <summary>Counts the entries of a walk and keeps none of them.</summary>
    private sealed class CountingSink : IFileEntrySink
    {
        public long Entries { get; private set; }

        public ValueTask WriteAsync(ReadOnlyMemory<FileEntry> batch, CancellationToken ct)
        {
            Entries += batch.Length;
            return ValueTask.CompletedTask;
        }
    }

    private static async Task<(string DigestHex, long Compressed, long Tar, long Entries)> ReadAsync(Blob blob, CancellationToken ct)
    {
        await using var file = new FileStream(blob.Path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0, FileOptions.SequentialScan);
        using var hashed = new HashingReadStream(file, leaveOpen: true);
        await using Stream decoder = blob.Kind == Compression.Gzip
            ? new GzipDecoder(hashed)
            : new DecompressionStream(hashed, leaveOpen: true);
        using var diffId = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        byte[] buffer = GC.AllocateUninitializedArray<byte>(1 << 20);
        long tar = 0;
        int n;
        while ((n = await decoder.ReadAsync(buffer, ct)) > 0)
        {
            diffId.AppendData(buffer, 0, n);
            tar += n;
        }

        await hashed.DrainAsync(buffer, ct);
        _ = diffId.GetHashAndReset();
        return (hashed.GetDigest().Hex, hashed.BytesRead, tar, 0);
    }
}
