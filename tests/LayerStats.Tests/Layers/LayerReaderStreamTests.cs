using System.Formats.Tar;
using System.IO.Hashing;
using LayerStats.Core.Layers;
using LayerStats.Core.Model;
using static LayerStats.Tests.Layers.TarBytes;

namespace LayerStats.Tests.Layers;

/// <summary>Stream ends, trailing bytes, compression framing and malformed input.</summary>
public sealed class LayerReaderStreamTests
{
    private static readonly byte[] s_a = Bytes(1000, 2);
    private static readonly byte[] s_b = Bytes(100_000, 3);

    // Two files; the second ends on a block boundary minus 100 bytes so that it has padding.
    private static byte[] Entries() => Concat(
        Header("dir/a", '0', s_a.Length), Padded(s_a),
        Header("dir/b", '0', s_b.Length), Padded(s_b));

    private static async Task AssertTwoEntries(byte[] blob, byte[] tar)
    {
        var (result, entries, _) = await ReadAsync(blob);
        Assert.Equal(["dir/a", "dir/b"], entries.Select(e => e.Path));
        Assert.Equal(XxHash128.HashToUInt128(s_b), entries[1].Xxh128);
        Assert.Equal(Digest.Compute(tar), result.DiffId);
        Assert.Equal(tar.Length, result.UncompressedSize);
        Assert.Equal(Digest.Compute(blob), result.Digest);
        Assert.Equal(blob.Length, result.CompressedSize);
    }

    [Fact]
    public void The_runtime_zlib_is_bound() => Assert.True(GzipDecoder.IsAvailable);

    [Theory]
    [InlineData(Compression.None)]
    [InlineData(Compression.Gzip)]
    [InlineData(Compression.Zstd)]
    public async Task A_tar_without_end_of_archive_blocks_is_accepted(Compression compression)
    {
        byte[] tar = Entries();
        await AssertTwoEntries(Compress(tar, compression), tar);
    }

    [Fact]
    public async Task A_tar_that_ends_inside_the_last_padding_is_accepted()
    {
        byte[] full = Entries();
        byte[] tar = full[..(full.Length - 100)]; // s_b's data ends 160 bytes before the block end
        await AssertTwoEntries(tar, tar);
        await AssertTwoEntries(Gzip(tar), tar);
    }

    [Fact]
    public async Task Padding_after_the_end_of_archive_counts_in_the_diff_id()
    {
        byte[] tar = Concat(Entries(), EndOfArchive, new byte[8192], [1, 2, 3]); // even non-zero junk after the end
        await AssertTwoEntries(Gzip(tar), tar);
    }

    [Fact]
    public async Task Bytes_after_the_last_gzip_member_count_in_the_digest()
    {
        byte[] tar = Concat(Entries(), EndOfArchive);
        byte[] blob = Concat(Gzip(tar), new byte[100], "trailing"u8.ToArray());
        await AssertTwoEntries(blob, tar);
    }

    [Fact]
    public async Task Multi_member_gzip_reads_as_one_stream()
    {
        byte[] tar = Concat(Entries(), EndOfArchive);
        // estargz-like: members split at arbitrary points, plus an empty member at the end
        byte[] blob = Concat(Gzip(tar[..700]), Gzip(tar[700..5000]), Gzip(tar[5000..]), Gzip([]));
        await AssertTwoEntries(blob, tar);
    }

    [Fact]
    public async Task Multi_frame_zstd_reads_as_one_stream()
    {
        byte[] tar = Concat(Entries(), EndOfArchive);
        byte[] blob = Concat(Zstd(tar[..3000]), Zstd(tar[3000..]));
        await AssertTwoEntries(blob, tar);
    }

    [Fact]
    public async Task An_empty_blob_is_an_empty_layer()
    {
        var (result, entries, _) = await ReadAsync([]);
        Assert.Empty(entries);
        Assert.Equal(Compression.None, result.Compression);
        Assert.Equal(Digest.Compute([]), result.DiffId);
        Assert.Equal(0, result.UncompressedSize);
    }

    public static TheoryData<int> GzipCuts() => [1, 4, 8, 9, 20, 500, 3000];

    [Theory]
    [MemberData(nameof(GzipCuts))]
    public async Task A_truncated_gzip_stream_is_a_format_error(int cut)
    {
        byte[] gz = Gzip(Concat(Entries(), EndOfArchive));
        byte[] blob = gz[..(gz.Length - cut)];
        var ex = await Assert.ThrowsAsync<LayerFormatException>(() => ReadAsync(blob));
        Assert.Contains("truncated", ex.Message);

        using var stream = new MemoryStream(blob);
        var verify = await Assert.ThrowsAsync<LayerFormatException>(() => LayerReader.ReadAsync(stream, FileHashing.Xxh128, null, default));
        Assert.Contains("truncated gzip", verify.Message);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    [InlineData(2000)]
    public async Task A_truncated_zstd_stream_is_a_format_error(int cut)
    {
        byte[] zs = Zstd(Concat(Entries(), EndOfArchive));
        byte[] blob = zs[..(zs.Length - cut)];
        var ex = await Assert.ThrowsAsync<LayerFormatException>(() => ReadAsync(blob));
        Assert.Contains("truncated", ex.Message);
        using var stream = new MemoryStream(blob);
        await Assert.ThrowsAsync<LayerFormatException>(() => LayerReader.ReadAsync(stream, FileHashing.Xxh128, null, default));
    }

    [Fact]
    public async Task A_corrupt_gzip_stream_is_a_format_error()
    {
        byte[] gz = Gzip(Concat(Entries(), EndOfArchive));
        gz[gz.Length - 6] ^= 0xff; // the CRC-32 of the trailer
        var ex = await Assert.ThrowsAsync<LayerFormatException>(() => ReadAsync(gz));
        Assert.Contains("corrupt gzip", ex.Message);
    }

    [Fact]
    public async Task A_corrupt_zstd_stream_is_a_format_error_with_the_cause()
    {
        byte[] zs = Concat(Zstd(Concat(Entries(), EndOfArchive)), "garbage!"u8.ToArray());
        var ex = await Assert.ThrowsAsync<LayerFormatException>(() => ReadAsync(zs));
        Assert.Contains("zstd", ex.Message);
        Assert.NotNull(ex.InnerException);
    }

    [Fact]
    public async Task A_tar_truncated_inside_file_data_names_the_entry()
    {
        byte[] tar = Entries();
        var ex = await Assert.ThrowsAsync<LayerFormatException>(() => ReadAsync(tar[..(tar.Length - 5000)]));
        Assert.Contains("truncated", ex.Message);
        Assert.Equal("dir/b", ex.EntryPath);

        var gz = await Assert.ThrowsAsync<LayerFormatException>(() => ReadAsync(Gzip(tar[..(tar.Length - 5000)])));
        Assert.Equal("dir/b", gz.EntryPath);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(300)]
    [InlineData(511)]
    public async Task A_tar_truncated_inside_a_header_is_a_format_error(int headerBytes)
    {
        byte[] tar = Concat(Header("dir/a", '0', s_a.Length), Padded(s_a), Header("next", '0', 0)[..headerBytes]);
        var ex = await Assert.ThrowsAsync<LayerFormatException>(() => ReadAsync(tar));
        Assert.Contains("truncated tar", ex.Message);
    }

    [Fact]
    public async Task A_pax_header_without_its_entry_is_truncated()
    {
        byte[] pax = PaxRecords(("path", "x"));
        var ex = await Assert.ThrowsAsync<LayerFormatException>(() => ReadAsync(Concat(Header("p", 'x', pax.Length), Padded(pax))));
        Assert.Contains("truncated", ex.Message);
    }

    [Fact]
    public async Task A_bad_header_checksum_is_a_format_error()
    {
        byte[] second = Header("dir/b", '0', 0);
        second[10] ^= 1;
        byte[] tar = Concat(Header("dir/a", '0', s_a.Length), Padded(s_a), second, EndOfArchive);
        var ex = await Assert.ThrowsAsync<LayerFormatException>(() => ReadAsync(Gzip(tar)));
        Assert.Contains("checksum", ex.Message);
        Assert.Equal("dir/a", ex.EntryPath);
    }

    [Fact]
    public async Task Random_bytes_are_not_a_tar()
    {
        var ex = await Assert.ThrowsAsync<LayerFormatException>(() => ReadAsync(Bytes(4096, 9)));
        Assert.Contains("checksum", ex.Message);
    }

    [Fact]
    public async Task A_single_zero_block_followed_by_a_header_is_a_format_error()
    {
        byte[] tar = Concat(Header("dir/a", '0', 0), new byte[512], Header("dir/b", '0', 0), EndOfArchive);
        await Assert.ThrowsAsync<LayerFormatException>(() => ReadAsync(tar));
    }

    [Fact]
    public async Task Xz_layers_are_refused_by_name()
    {
        byte[] xz = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0, 0, 0, 0];
        var ex = await Assert.ThrowsAsync<LayerFormatException>(() => ReadAsync(xz));
        Assert.Contains("xz", ex.Message);
    }

    [Fact]
    public async Task Base256_numbers_and_signed_checksums_are_read()
    {
        byte[] h = Header("big-uid", '0', 3, extra: b =>
        {
            Array.Clear(b, 108, 8);
            b[108] = 0x80;
            b[115] = 0x05;  // uid 5 in base-256
            b[0] = 0xc3;    // name byte >= 0x80: signed and unsigned sums differ
            b[1] = 0xa9;    // "é"
        });
        var (_, entries, _) = await ReadAsync(Concat(h, Padded([1, 2, 3]), EndOfArchive));
        var e = Assert.Single(entries);
        Assert.Equal(5, e.Uid);
        Assert.StartsWith("é", e.Path);
    }

    [Fact]
    public async Task Header_only_types_carry_no_data_whatever_their_size_field_says()
    {
        // As Go's archive/tar: a hardlink/dir/symlink with a size field has no data blocks.
        byte[] tar = Concat(Header("d/", '5', 1024), Header("f", '0', 1), Padded([5]), EndOfArchive);
        var (_, entries, _) = await ReadAsync(tar);
        Assert.Equal(["d", "f"], entries.Select(e => e.Path));
        Assert.Equal(0, entries[0].Size);
        Assert.Equal(XxHash128.HashToUInt128([5]), entries[1].Xxh128);
    }

    [Fact]
    public async Task The_sink_sees_the_same_entries_as_system_formats_tar()
    {
        // Independent check of paths/sizes/kinds against the BCL's reader on a PAX archive.
        byte[] tar = WriteTar(TarEntryFormat.Pax, w =>
        {
            for (int i = 0; i < 50; i++)
            {
                var e = new PaxTarEntry(i % 5 == 0 ? TarEntryType.Directory : TarEntryType.RegularFile, $"d{i % 3}/n{i}");
                if (e.EntryType == TarEntryType.RegularFile)
                {
                    e.DataStream = new MemoryStream(Bytes(i * 37, i));
                }

                w.WriteEntry(e);
            }
        });

        var (_, entries, _) = await ReadAsync(Zstd(tar));
        using var reader = new TarReader(new MemoryStream(tar));
        var expected = new List<(string, long, UInt128?)>();
        while (reader.GetNextEntry() is { } te)
        {
            UInt128? hash = null;
            if (te.DataStream is not null)
            {
                var ms = new MemoryStream();
                te.DataStream.CopyTo(ms);
                hash = XxHash128.HashToUInt128(ms.ToArray());
            }

            expected.Add((te.Name, te.Length, te.EntryType == TarEntryType.RegularFile ? hash ?? XxHash128.HashToUInt128([]) : null));
        }

        Assert.Equal(expected, entries.Select(e => (e.Path, e.Size, e.Xxh128)));
    }
}
