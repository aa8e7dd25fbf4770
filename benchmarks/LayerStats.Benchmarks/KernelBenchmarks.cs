using System.IO.Compression;
using System.IO.Hashing;
using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using LayerStats.Core.Layers;

namespace LayerStats.Benchmarks;

/// <summary>
/// The kernels of layer reading over one generated layer (~128 MiB of tar). Figures in MB/s of uncompressed tar
/// are the tar length divided by the mean time (see benchmarks/README.md).
/// </summary>
[MemoryDiagnoser]
public class KernelBenchmarks
{
    private byte[] _tar = [];
    private byte[] _gzip = [];
    private byte[] _zstd = [];
    private readonly byte[] _buffer = new byte[1024 * 1024];

    [GlobalSetup]
    public void Setup()
    {
        _tar = LayerGenerator.GenerateTar(128L * 1024 * 1024);
        _gzip = LayerGenerator.Gzip(_tar);
        _zstd = LayerGenerator.Zstd(_tar);
        Console.WriteLine($"// layer: tar {_tar.Length} bytes, gzip {_gzip.Length}, zstd {_zstd.Length}");
    }

    private long Drain(Stream s)
    {
        long total = 0;
        int n;
        while ((n = s.Read(_buffer)) > 0)
        {
            total += n;
        }

        return total;
    }

    [Benchmark(Description = "gzip decompress (GZipStream)")]
    public long GzipBcl()
    {
        using var gz = new GZipStream(new MemoryStream(_gzip), CompressionMode.Decompress);
        return Drain(gz);
    }

    [Benchmark(Description = "gzip decompress (GzipDecoder, runtime zlib-ng)")]
    public async Task<long> GzipDecoderDecompress()
    {
        using var gz = new GzipDecoder(new MemoryStream(_gzip));
        long total = 0;
        int n;
        while ((n = await gz.ReadAsync(_buffer)) > 0)
        {
            total += n;
        }

        return total;
    }

    [Benchmark(Description = "zstd decompress (ZstdSharp)")]
    public long ZstdDecompress()
    {
        using var z = new ZstdSharp.DecompressionStream(new MemoryStream(_zstd));
        return Drain(z);
    }

    [Benchmark(Description = "sha256 over the tar stream (IncrementalHash, 1 MiB reads)")]
    public byte[] Sha256Stream()
    {
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var s = new MemoryStream(_tar);
        int n;
        while ((n = s.Read(_buffer)) > 0)
        {
            h.AppendData(_buffer, 0, n);
        }

        return h.GetHashAndReset();
    }

    [Benchmark(Description = "xxhash128 over the tar")]
    public UInt128 XxHash128Tar() => XxHash128.HashToUInt128(_tar);

    [Benchmark(Description = "tar walk + xxh128 per file (no diff_id)")]
    public async Task<int> TarWalk()
    {
        using var input = new TarInput(new MemoryStream(_tar), hash: false, _ => null);
        using var walker = new TarWalker(input, FileHashing.Xxh128, NullSink.Instance, LayerReader.BatchSize);
        return await walker.WalkAsync(CancellationToken.None);
    }

    [Benchmark(Description = "LayerReader plain tar, xxh128")]
    public Task<LayerReadResult> ReaderTar() => Read(_tar, FileHashing.Xxh128, NullSink.Instance);

    [Benchmark(Description = "LayerReader gzip, xxh128")]
    public Task<LayerReadResult> ReaderGzip() => Read(_gzip, FileHashing.Xxh128, NullSink.Instance);

    [Benchmark(Description = "LayerReader gzip, xxh128+sha256")]
    public Task<LayerReadResult> ReaderGzipSha() => Read(_gzip, FileHashing.Xxh128AndSha256, NullSink.Instance);

    [Benchmark(Description = "LayerReader gzip, verify only")]
    public Task<LayerReadResult> ReaderGzipVerify() => Read(_gzip, FileHashing.Xxh128, null);

    [Benchmark(Description = "LayerReader zstd, xxh128")]
    public Task<LayerReadResult> ReaderZstd() => Read(_zstd, FileHashing.Xxh128, NullSink.Instance);

    [Benchmark(Description = "LayerReader gzip, xxh128, overlapped")]
    public Task<LayerReadResult> ReaderGzipOverlap() => Read(_gzip, FileHashing.Xxh128, NullSink.Instance, overlap: true);

    [Benchmark(Description = "LayerReader gzip, xxh128+sha256, overlapped")]
    public Task<LayerReadResult> ReaderGzipShaOverlap() => Read(_gzip, FileHashing.Xxh128AndSha256, NullSink.Instance, overlap: true);

    [Benchmark(Description = "LayerReader zstd, xxh128, overlapped")]
    public Task<LayerReadResult> ReaderZstdOverlap() => Read(_zstd, FileHashing.Xxh128, NullSink.Instance, overlap: true);

    private static Task<LayerReadResult> Read(byte[] blob, FileHashing hashing, IFileEntrySink? sink, bool overlap = false) =>
        LayerReader.ReadAsync(new MemoryStream(blob), hashing, sink, overlap, CancellationToken.None);

    private sealed class NullSink : IFileEntrySink
    {
        public static readonly NullSink Instance = new();

        public ValueTask WriteAsync(ReadOnlyMemory<FileEntry> batch, CancellationToken ct) => ValueTask.CompletedTask;
    }
}
