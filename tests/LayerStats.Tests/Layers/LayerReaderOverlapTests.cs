using System.IO.Compression;
using LayerStats.Core.Layers;
using LayerStats.Core.Model;
using static LayerStats.Tests.Layers.TarBytes;

namespace LayerStats.Tests.Layers;

/// <summary>
/// <see cref="LayerReader.ReadAsync(Stream, FileHashing, IFileEntrySink?, bool, CancellationToken)"/> with
/// <c>overlap: true</c> (decompression on a second task): the same results and the same exceptions as the
/// sequential read, and a failure on either side stops the other.
/// </summary>
public sealed class LayerReaderOverlapTests
{
    private static readonly byte[] s_small = Bytes(1000, 2);
    private static readonly byte[] s_big = Bytes(3 * 1024 * 1024 + 77, 5); // several 1 MiB chunks, not aligned

    private static byte[] Layer() => Concat(
        Header("dir/a", '0', s_small.Length), Padded(s_small),
        Header("dir/big", '0', s_big.Length), Padded(s_big),
        Header("dir/l", '2', 0, link: "a"),
        EndOfArchive);

    public static TheoryData<string> Blobs() =>
        ["tar", "gzip", "zstd", "gzip+trailing", "gzip multi-member", "zstd multi-frame", "gzip+padding", "empty gzip"];

    private static (byte[] Blob, byte[] Tar) Make(string kind)
    {
        byte[] tar = Layer();
        return kind switch
        {
            "tar" => (tar, tar),
            "gzip" => (Gzip(tar), tar),
            "zstd" => (Zstd(tar), tar),
            "gzip+trailing" => (Concat(Gzip(tar), new byte[100], [1, 2, 3]), tar),
            "gzip multi-member" => (Concat(Gzip(tar[..700_000]), Gzip(tar[700_000..])), tar),
            "zstd multi-frame" => (Concat(Zstd(tar[..1_500_000]), Zstd(tar[1_500_000..])), tar),
            "gzip+padding" => (Gzip(Concat(tar, new byte[10_240])), Concat(tar, new byte[10_240])),
            "empty gzip" => (Gzip([]), []),
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };
    }

    private static async Task<(LayerReadResult Result, List<FileEntry> Entries)> Read(byte[] blob, bool overlap, IFileEntrySink? sink = null, CancellationToken ct = default)
    {
        var collect = new CollectingSink();
        using var stream = new MemoryStream(blob, writable: false);
        var result = await LayerReader.ReadAsync(stream, FileHashing.Xxh128AndSha256, sink ?? collect, overlap, ct);
        return (result, collect.Entries);
    }

    [Theory]
    [MemberData(nameof(Blobs))]
    public async Task Overlapped_reads_give_the_sequential_result(string kind)
    {
        var (blob, tar) = Make(kind);
        var (seq, seqEntries) = await Read(blob, overlap: false);
        var (ovl, ovlEntries) = await Read(blob, overlap: true);

        Assert.Equal(Digest.Compute(blob), ovl.Digest);
        Assert.Equal(blob.Length, ovl.CompressedSize);
        Assert.Equal(Digest.Compute(tar), ovl.DiffId);
        Assert.Equal(tar.Length, ovl.UncompressedSize);
        Assert.Equal(seq, ovl);
        Assert.Equal(seqEntries.Select(e => (e.Path, e.Size, e.Xxh128, e.Sha256 is null ? "" : Convert.ToHexString(e.Sha256))),
            ovlEntries.Select(e => (e.Path, e.Size, e.Xxh128, e.Sha256 is null ? "" : Convert.ToHexString(e.Sha256))));
        if (tar.Length > 0)
        {
            Assert.Equal(System.IO.Hashing.XxHash128.HashToUInt128(s_big), ovlEntries.Single(e => e.Path == "dir/big").Xxh128);
        }
    }

    public static TheoryData<string, int> Broken() => new()
    {
        { "gzip", 20 }, { "gzip", 500_000 }, { "gzip", -10 }, { "gzip", -5000 }, { "zstd", 600_000 }, { "zstd", -3 },
    };

    [Theory]
    [MemberData(nameof(Broken))]
    public async Task A_truncated_stream_fails_the_same_way_overlapped(string kind, int cut)
    {
        var (blob, _) = Make(kind);
        blob = cut > 0 ? blob[..cut] : blob[..(blob.Length + cut)];

        var seq = await Assert.ThrowsAsync<LayerFormatException>(() => Read(blob, overlap: false));
        var ovl = await Assert.ThrowsAsync<LayerFormatException>(() => Read(blob, overlap: true));
        Assert.Equal(seq.Message, ovl.Message);
        Assert.Equal(seq.EntryPath, ovl.EntryPath);
        Assert.Equal(seq.InnerException?.GetType(), ovl.InnerException?.GetType());
    }

    [Fact]
    public async Task A_truncated_gzip_inside_a_file_names_the_entry_overlapped()
    {
        byte[] gz = Gzip(Layer());
        var ex = await Assert.ThrowsAsync<LayerFormatException>(() => Read(gz[..(gz.Length / 2)], overlap: true));
        Assert.Contains("truncated gzip stream", ex.Message);
        Assert.Equal("dir/big", ex.EntryPath);
    }

    [Fact]
    public async Task A_corrupt_gzip_fails_the_same_way_overlapped()
    {
        byte[] gz = Gzip(Layer());
        gz[gz.Length / 2] ^= 0xff;
        gz[gz.Length / 2 + 1] ^= 0xff;
        var seq = await Assert.ThrowsAsync<LayerFormatException>(() => Read(gz, overlap: false));
        var ovl = await Assert.ThrowsAsync<LayerFormatException>(() => Read(gz, overlap: true));
        Assert.Equal(seq.Message, ovl.Message);
        Assert.Equal(seq.EntryPath, ovl.EntryPath);
    }

    [Fact]
    public async Task A_source_failure_in_the_producer_reaches_the_caller_unchanged()
    {
        byte[] gz = StoredGzip(Layer());
        using var source = new TrackingStream(gz, failAt: 2_000_000);
        var ex = await Assert.ThrowsAsync<IOException>(
            () => LayerReader.ReadAsync(source, FileHashing.Xxh128, new CollectingSink(), overlap: true, CancellationToken.None));
        Assert.Equal("the disk went away", ex.Message);
        Assert.Equal(0, source.ReadsInFlight);
    }

    // 4,100 empty files (a first batch of 4,096 entries after 2 MiB of tar), then one 32 MiB file: the first sink
    // call comes long before the producer could reach the end of the blob (it runs at most ~5 MiB ahead).
    private static byte[] ManyThenBig()
    {
        var parts = new List<byte[]>();
        for (int i = 0; i < 4100; i++)
        {
            parts.Add(Header($"f/{i}", '0', 0));
        }

        byte[] big = Bytes(32 * 1024 * 1024, 7);
        parts.Add(Header("big", '0', big.Length));
        parts.Add(big);
        parts.Add(EndOfArchive);
        return StoredGzip(Concat([.. parts]));
    }

    [Fact]
    public async Task A_sink_failure_stops_the_producer()
    {
        byte[] blob = ManyThenBig();
        using var source = new TrackingStream(blob);
        var sink = new CallbackSink(_ => throw new InvalidOperationException("the store is full"));
        var ex = await Assert.ThrowsAsync<InvalidOperationException>(
            () => LayerReader.ReadAsync(source, FileHashing.Xxh128, sink, overlap: true, CancellationToken.None));
        Assert.Equal("the store is full", ex.Message);
        Assert.Equal(1, sink.Calls);
        Assert.Equal(0, source.ReadsInFlight); // the producer has stopped before the call returned
        Assert.InRange(source.BytesRead, 1, 16 * 1024 * 1024); // and it stopped near where the walker was, not at the end
    }

    [Fact]
    public async Task Cancellation_stops_both_sides()
    {
        byte[] blob = ManyThenBig();
        using var source = new TrackingStream(blob);
        using var cts = new CancellationTokenSource();
        var sink = new CallbackSink(_ => cts.Cancel());
        await Assert.ThrowsAnyAsync<OperationCanceledException>(
            () => LayerReader.ReadAsync(source, FileHashing.Xxh128, sink, overlap: true, cts.Token));
        Assert.Equal(1, sink.Calls);
        Assert.Equal(0, source.ReadsInFlight);
        Assert.InRange(source.BytesRead, 1, 16 * 1024 * 1024);
    }

    [Fact]
    public async Task A_cancelled_token_stops_an_overlapped_read_before_it_starts()
    {
        using var source = new TrackingStream(Gzip(Layer()));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(
            () => LayerReader.ReadAsync(source, FileHashing.Xxh128, new CollectingSink(), overlap: true, new CancellationToken(true)));
        Assert.Equal(0, source.ReadsInFlight);
    }

    private static byte[] StoredGzip(byte[] data)
    {
        using var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.NoCompression))
        {
            gz.Write(data);
        }

        return ms.ToArray();
    }

    private sealed class CallbackSink(Action<int> onBatch) : IFileEntrySink
    {
        public int Calls { get; private set; }

        public ValueTask WriteAsync(ReadOnlyMemory<FileEntry> batch, CancellationToken ct)
        {
            Calls++;
            onBatch(batch.Length);
            return ValueTask.CompletedTask;
        }
    }

    /// <summary>A blob that counts what was read, how many reads are running, and can fail at an offset.</summary>
    private sealed class TrackingStream(byte[] data, long failAt = long.MaxValue) : Stream
    {
        private long _position;
        private int _inFlight;

        public long BytesRead => Interlocked.Read(ref _position);

        public int ReadsInFlight => Volatile.Read(ref _inFlight);

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref _inFlight);
            try
            {
                await Task.Yield();
                cancellationToken.ThrowIfCancellationRequested();
                if (_position >= failAt)
                {
                    throw new IOException("the disk went away");
                }

                int n = (int)Math.Min(buffer.Length, Math.Min(data.Length, failAt) - _position);
                n = Math.Max(n, 0);
                data.AsSpan((int)_position, n).CopyTo(buffer.Span);
                Interlocked.Add(ref _position, n);
                return n;
            }
            finally
            {
                Interlocked.Decrement(ref _inFlight);
            }
        }

        public override int Read(byte[] buffer, int offset, int count) =>
            ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
