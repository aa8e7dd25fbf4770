using System.Buffers.Binary;
using System.Formats.Tar;
using System.IO.Hashing;
using System.Security.Cryptography;
using LayerStats.Core.Layers;
using LayerStats.Core.Model;
using static LayerStats.Tests.Layers.TarBytes;

namespace LayerStats.Tests.Layers;

public sealed class LayerReaderEntryTests
{
    private static readonly byte[] s_content = Bytes(70_000, 1);
    private static readonly string s_longDir = string.Join('/', Enumerable.Range(0, 12).Select(i => $"directory-number-{i:00}"));

    private static byte[] BuildTar(TarEntryFormat format, bool longNames) => WriteTar(format, w =>
    {
        void Add(TarEntryType type, string name, byte[]? data = null, string? link = null, int mode = 0b111_101_101, int uid = 0)
        {
            TarEntry e = format switch
            {
                TarEntryFormat.Pax => new PaxTarEntry(type, name),
                TarEntryFormat.Gnu => new GnuTarEntry(type, name),
                _ => new UstarTarEntry(type, name),
            };
            e.Mode = (UnixFileMode)mode;
            e.Uid = uid;
            e.Gid = uid + 1;
            e.ModificationTime = MTime;
            if (link is not null)
            {
                e.LinkName = link;
            }

            if (data is not null)
            {
                e.DataStream = new MemoryStream(data);
            }

            if (e is PosixTarEntry p && type is TarEntryType.CharacterDevice or TarEntryType.BlockDevice)
            {
                p.DeviceMajor = 1;
                p.DeviceMinor = 3;
            }

            w.WriteEntry(e);
        }

        Add(TarEntryType.Directory, "./");
        Add(TarEntryType.Directory, "./a/");
        Add(TarEntryType.RegularFile, "./a/file.bin", s_content, mode: 0b110_100_100, uid: 1000);
        Add(TarEntryType.RegularFile, "a/empty", []);
        Add(TarEntryType.SymbolicLink, "a/sym", link: "../etc/target");
        Add(TarEntryType.HardLink, "a/hard", link: "./a/file.bin");
        Add(TarEntryType.CharacterDevice, "dev/null");
        Add(TarEntryType.BlockDevice, "dev/sda");
        Add(TarEntryType.Fifo, "run/fifo");
        Add(TarEntryType.RegularFile, "a/.wh.b", []);
        Add(TarEntryType.RegularFile, "a/.wh..wh..opq", []);
        Add(TarEntryType.RegularFile, "x/../y", [1, 2, 3]);
        if (longNames)
        {
            Add(TarEntryType.RegularFile, s_longDir + "/long-file.txt", [42]);
            Add(TarEntryType.SymbolicLink, "a/longlink", link: s_longDir + "/long-file.txt");
            Add(TarEntryType.HardLink, "a/longhard", link: s_longDir + "/long-file.txt");
        }
    });

    public static TheoryData<TarEntryFormat, Compression> Formats()
    {
        var data = new TheoryData<TarEntryFormat, Compression>();
        foreach (var f in new[] { TarEntryFormat.Pax, TarEntryFormat.Gnu, TarEntryFormat.Ustar })
        {
            foreach (var c in new[] { Compression.None, Compression.Gzip, Compression.Zstd })
            {
                data.Add(f, c);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Formats))]
    public async Task Every_entry_kind_and_field_is_read_in_order(TarEntryFormat format, Compression compression)
    {
        bool longNames = format != TarEntryFormat.Ustar;
        byte[] tar = BuildTar(format, longNames);
        byte[] blob = Compress(tar, compression);

        var (result, entries, _) = await ReadAsync(blob, FileHashing.Xxh128AndSha256);

        Assert.Equal(Digest.Compute(blob), result.Digest);
        Assert.Equal(blob.Length, result.CompressedSize);
        Assert.Equal(compression, result.Compression);
        Assert.Equal(Digest.Compute(tar), result.DiffId);
        Assert.Equal(tar.Length, result.UncompressedSize);
        Assert.Equal(entries.Count, result.EntryCount);
        Assert.Equal(Enumerable.Range(0, entries.Count), entries.Select(e => e.Seq));

        string[] expectedPaths =
        [
            "", "a", "a/file.bin", "a/empty", "a/sym", "a/hard", "dev/null", "dev/sda", "run/fifo", "a/.wh.b",
            "a/.wh..wh..opq", "x/../y",
            .. longNames ? new[] { s_longDir + "/long-file.txt", "a/longlink", "a/longhard" } : [],
        ];
        Assert.Equal(expectedPaths, entries.Select(e => e.Path));
        EntryKind[] expectedKinds =
        [
            EntryKind.Dir, EntryKind.Dir, EntryKind.File, EntryKind.File, EntryKind.Symlink, EntryKind.Hardlink,
            EntryKind.CharDevice, EntryKind.BlockDevice, EntryKind.Fifo, EntryKind.Whiteout, EntryKind.OpaqueWhiteout,
            EntryKind.File,
            .. longNames ? new[] { EntryKind.File, EntryKind.Symlink, EntryKind.Hardlink } : [],
        ];
        Assert.Equal(expectedKinds, entries.Select(e => e.Kind));

        var file = entries[2];
        Assert.Equal(70_000, file.Size);
        Assert.Equal(0b110_100_100, file.Mode);
        Assert.Equal(1000, file.Uid);
        Assert.Equal(1001, file.Gid);
        Assert.Equal(MTime, file.ModificationTime);
        Assert.Null(file.LinkTarget);
        Assert.Equal(XxHash128.HashToUInt128(s_content), file.Xxh128);
        Assert.Equal(BinaryPrimitives.ReadUInt128BigEndian(XxHash128.Hash(s_content)), file.Xxh128);
        Assert.Equal(SHA256.HashData(s_content), file.Sha256);

        var empty = entries[3];
        Assert.Equal(0, empty.Size);
        Assert.Equal(XxHash128.HashToUInt128([]), empty.Xxh128);
        Assert.Equal(SHA256.HashData(ReadOnlySpan<byte>.Empty), empty.Sha256);

        Assert.Equal("../etc/target", entries[4].LinkTarget); // symlink targets are kept as written
        Assert.Equal("a/file.bin", entries[5].LinkTarget);    // hardlink targets are normalised like paths
        Assert.Equal(0, entries[5].Size);
        Assert.Null(entries[5].Xxh128);

        foreach (var e in entries.Where(e => e.Kind != EntryKind.File))
        {
            Assert.Equal(0, e.Size);
            Assert.Null(e.Xxh128);
            Assert.Null(e.Sha256);
        }

        Assert.Equal(0b111_101_101, entries[0].Mode);
        Assert.Equal(XxHash128.HashToUInt128([1, 2, 3]), entries[11].Xxh128);
        if (longNames)
        {
            Assert.Equal(XxHash128.HashToUInt128([42]), entries[12].Xxh128);
            Assert.Equal(s_longDir + "/long-file.txt", entries[13].LinkTarget);
            Assert.Equal(s_longDir + "/long-file.txt", entries[14].LinkTarget);
        }
    }

    [Fact]
    public async Task Xxh128_only_leaves_sha256_null()
    {
        byte[] tar = BuildTar(TarEntryFormat.Pax, longNames: false);
        var (_, entries, _) = await ReadAsync(tar, FileHashing.Xxh128);
        var file = entries.Single(e => e.Path == "a/file.bin");
        Assert.Equal(XxHash128.HashToUInt128(s_content), file.Xxh128);
        Assert.Null(file.Sha256);
    }

    [Fact]
    public async Task Verify_only_computes_digests_without_walking()
    {
        byte[] tar = BuildTar(TarEntryFormat.Gnu, longNames: true);
        byte[] blob = Gzip(tar);
        using var stream = new MemoryStream(blob);
        var result = await LayerReader.ReadAsync(stream, FileHashing.Xxh128, sink: null, CancellationToken.None);
        Assert.Equal(new LayerReadResult(Digest.Compute(blob), blob.Length, Compression.Gzip, Digest.Compute(tar), tar.Length, 0), result);
    }

    [Fact]
    public async Task Big_files_cross_buffer_boundaries_and_batches_are_bounded()
    {
        byte[] big = Bytes(3 * 1024 * 1024 + 17, 7);
        byte[] tar = WriteTar(TarEntryFormat.Pax, w =>
        {
            w.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "big") { DataStream = new MemoryStream(big) });
            for (int i = 0; i < LayerReader.BatchSize + 10; i++)
            {
                w.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, $"f/{i}") { DataStream = new MemoryStream([(byte)i]) });
            }

            w.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "big2") { DataStream = new MemoryStream(big) });
        });

        var (result, entries, sink) = await ReadAsync(Gzip(tar), FileHashing.Xxh128AndSha256);

        Assert.Equal(LayerReader.BatchSize + 12, result.EntryCount);
        Assert.Equal([LayerReader.BatchSize, 12], sink.BatchSizes);
        Assert.Equal(XxHash128.HashToUInt128(big), entries[0].Xxh128);
        Assert.Equal(SHA256.HashData(big), entries[^1].Sha256);
        Assert.Equal(big.Length, entries[^1].Size);
        Assert.Equal(XxHash128.HashToUInt128([unchecked((byte)4000)]), entries[4001].Xxh128);
        Assert.Equal("f/4000", entries[4001].Path);
    }

    [Fact]
    public async Task Pax_records_override_the_header()
    {
        byte[] pax = PaxRecords(("path", "./pax/name/" + new string('n', 150)), ("uid", "123456789"), ("gid", "7"),
            ("size", "5"), ("mtime", "1614834367.5"), ("SCHILY.xattr.user.x", "ignored"));
        byte[] tar = Concat(
            Header("PaxHeaders/x", 'x', pax.Length), Padded(pax),
            Header("short", '0', 0), Padded([1, 2, 3, 4, 5]),
            EndOfArchive);

        var (_, entries, _) = await ReadAsync(tar);

        var e = Assert.Single(entries);
        Assert.Equal("pax/name/" + new string('n', 150), e.Path);
        Assert.Equal(123456789, e.Uid);
        Assert.Equal(7, e.Gid);
        Assert.Equal(5, e.Size);
        Assert.Equal(MTime.AddSeconds(0.5), e.ModificationTime);
        Assert.Equal(XxHash128.HashToUInt128([1, 2, 3, 4, 5]), e.Xxh128);
    }

    [Fact]
    public async Task Global_headers_and_volume_headers_are_not_entries()
    {
        byte[] global = PaxRecords(("comment", "hello"));
        byte[] tar = Concat(
            Header("volume", 'V', 0, gnu: true),
            Header("pax_global_header", 'g', global.Length), Padded(global),
            Header("only", '0', 1), Padded([9]),
            EndOfArchive);

        var (result, entries, _) = await ReadAsync(tar);

        Assert.Equal(1, result.EntryCount);
        Assert.Equal("only", Assert.Single(entries).Path);
    }

    [Fact]
    public async Task Gnu_long_name_wins_and_v7_slash_name_is_a_directory()
    {
        string longName = "./" + new string('L', 300);
        byte[] nameData = System.Text.Encoding.UTF8.GetBytes(longName + "\0");
        byte[] tar = Concat(
            Header("././@LongLink", 'L', nameData.Length, gnu: true), Padded(nameData),
            Header("truncated-name", '0', 0, gnu: true),
            Header("old/dir/", '\0', 0),
            Header("contig", '7', 2), Padded([7, 7]),
            EndOfArchive);

        var (_, entries, _) = await ReadAsync(tar);

        Assert.Equal([new string('L', 300), "old/dir", "contig"], entries.Select(e => e.Path));
        Assert.Equal([EntryKind.File, EntryKind.Dir, EntryKind.File], entries.Select(e => e.Kind));
        Assert.Equal(XxHash128.HashToUInt128([7, 7]), entries[2].Xxh128);
    }

    [Theory]
    [InlineData("./a/b/", "a/b")]
    [InlineData("/abs/path", "abs/path")]
    [InlineData(".//./x", "x")]
    [InlineData(".", "")]
    [InlineData("./", "")]
    [InlineData("a/../b", "a/../b")]
    [InlineData("../up", "../up")]
    [InlineData("a//b///", "a//b")]
    public void Paths_are_normalised_only_at_the_ends(string raw, string expected) =>
        Assert.Equal(expected, EntryPaths.Normalize(raw));

    [Theory]
    [InlineData("a/.wh.b", EntryKind.Whiteout)]
    [InlineData(".wh.top", EntryKind.Whiteout)]
    [InlineData("a/b/.wh..wh..opq", EntryKind.OpaqueWhiteout)]
    [InlineData("a/x.wh.b", null)]
    [InlineData("a/.wh/b", null)]
    public void Whiteouts_are_recognised_by_basename(string path, EntryKind? expected) =>
        Assert.Equal(expected, EntryPaths.WhiteoutKind(path));
}
