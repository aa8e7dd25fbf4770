using System.Diagnostics;
using System.IO.Hashing;
using System.Security.Cryptography;
using System.Text;
using LayerStats.Core.Layers;
using static LayerStats.Tests.Layers.TarBytes;

namespace LayerStats.Tests.Layers;

/// <summary>Sparse files: old GNU ('S'), PAX 0.0 / 0.1 / 1.0, written by hand and by GNU tar.</summary>
public sealed class LayerReaderSparseTests
{
    private const long Logical = 1_000_000;

    /// <summary>n fragments of data spread over the logical size, the last one ending before the end (a trailing hole).</summary>
    private static List<(long Offset, byte[] Data)> Fragments(int n)
    {
        var list = new List<(long, byte[])>();
        for (int i = 0; i < n; i++)
        {
            list.Add((i * 30_000L + 4096, Bytes(100 + (i * 37), 100 + i)));
        }

        return list;
    }

    private static byte[] Expand(List<(long Offset, byte[] Data)> fragments, long size)
    {
        var file = new byte[size];
        foreach (var (offset, data) in fragments)
        {
            data.CopyTo(file, offset);
        }

        return file;
    }

    private static byte[] Stored(List<(long Offset, byte[] Data)> fragments) => Concat(fragments.Select(f => f.Data).ToArray());

    private static void SparseEntry(byte[] area, int index, long offset, long length)
    {
        Octal(area, index * 24, 12, offset);
        Octal(area, (index * 24) + 12, 12, length);
    }

    /// <summary>Old GNU sparse: up to 4 entries in the header, then extension blocks of 21 each.</summary>
    private static byte[] OldGnuSparse(string name, List<(long Offset, byte[] Data)> fragments, long size)
    {
        byte[] stored = Stored(fragments);
        var blocks = new List<byte[]>();
        byte[] header = Header(name, 'S', stored.Length, gnu: true, extra: h =>
        {
            var area = new byte[4 * 24 + 1];
            for (int i = 0; i < Math.Min(4, fragments.Count); i++)
            {
                SparseEntry(area, i, fragments[i].Offset, fragments[i].Data.Length);
            }

            area[96] = (byte)(fragments.Count > 4 ? 1 : 0);
            area.CopyTo(h, 386);
            Octal(h, 483, 12, size);
        });
        blocks.Add(header);
        for (int start = 4; start < fragments.Count; start += 21)
        {
            var ext = new byte[512];
            for (int i = start; i < Math.Min(start + 21, fragments.Count); i++)
            {
                SparseEntry(ext, i - start, fragments[i].Offset, fragments[i].Data.Length);
            }

            ext[504] = (byte)(start + 21 < fragments.Count ? 1 : 0);
            blocks.Add(ext);
        }

        blocks.Add(Padded(stored));
        return Concat(blocks.ToArray());
    }

    private static byte[] PaxEntry(byte[] pax, byte[] entryHeader, byte[] data) =>
        Concat(Header("PaxHeaders/x", 'x', pax.Length), Padded(pax), entryHeader, Padded(data));

    private static byte[] Pax00(string name, List<(long Offset, byte[] Data)> fragments, long size)
    {
        var records = new List<(string, string)> { ("GNU.sparse.size", size.ToString()), ("GNU.sparse.numblocks", fragments.Count.ToString()) };
        foreach (var (offset, data) in fragments)
        {
            records.Add(("GNU.sparse.offset", offset.ToString()));
            records.Add(("GNU.sparse.numbytes", data.Length.ToString()));
        }

        byte[] stored = Stored(fragments);
        return PaxEntry(PaxRecords(records.ToArray()), Header(name, '0', stored.Length), stored);
    }

    private static byte[] Pax01(string name, List<(long Offset, byte[] Data)> fragments, long size)
    {
        string map = string.Join(',', fragments.Select(f => $"{f.Offset},{f.Data.Length}"));
        byte[] stored = Stored(fragments);
        byte[] pax = PaxRecords(("GNU.sparse.size", size.ToString()), ("GNU.sparse.numblocks", fragments.Count.ToString()),
            ("GNU.sparse.name", name), ("GNU.sparse.map", map));
        return PaxEntry(pax, Header("GNUSparseFile.0/" + name, '0', stored.Length), stored);
    }

    private static byte[] Pax10(string name, List<(long Offset, byte[] Data)> fragments, long size, string major = "1")
    {
        var text = new StringBuilder().Append(fragments.Count).Append('\n');
        foreach (var (offset, data) in fragments)
        {
            text.Append(offset).Append('\n').Append(data.Length).Append('\n');
        }

        byte[] data1 = Concat(Padded(Encoding.ASCII.GetBytes(text.ToString())), Stored(fragments));
        byte[] pax = PaxRecords(("GNU.sparse.major", major), ("GNU.sparse.minor", "0"), ("GNU.sparse.name", name),
            ("GNU.sparse.realsize", size.ToString()));
        return PaxEntry(pax, Header("GNUSparseFile.0/" + name, '0', data1.Length), data1);
    }

    public static TheoryData<string, int> Variants()
    {
        var data = new TheoryData<string, int>();
        foreach (string v in new[] { "gnu", "0.0", "0.1", "1.0" })
        {
            foreach (int n in new[] { 0, 1, 3, 30, 60 })
            {
                data.Add(v, n);
            }
        }

        return data;
    }

    private static byte[] Build(string variant, string name, List<(long, byte[])> fragments, long size) => variant switch
    {
        "gnu" => OldGnuSparse(name, fragments, size),
        "0.0" => Pax00(name, fragments, size),
        "0.1" => Pax01(name, fragments, size),
        _ => Pax10(name, fragments, size),
    };

    [Theory]
    [MemberData(nameof(Variants))]
    public async Task Sparse_files_hash_their_expanded_content(string variant, int fragmentCount)
    {
        var fragments = Fragments(fragmentCount);
        long size = fragmentCount == 60 ? fragments[^1].Offset + fragments[^1].Data.Length : Logical; // 60: no trailing hole
        byte[] expanded = Expand(fragments, size);
        byte[] tar = Concat(
            Build(variant, "var/sparse.db", fragments, size),
            Header("after", '0', 2), Padded([4, 2]),
            EndOfArchive);

        var (_, entries, _) = await ReadAsync(Gzip(tar), FileHashing.Xxh128AndSha256);

        Assert.Equal(["var/sparse.db", "after"], entries.Select(e => e.Path));
        var e = entries[0];
        Assert.Equal(EntryKind.File, e.Kind);
        Assert.Equal(size, e.Size);
        Assert.Equal(XxHash128.HashToUInt128(expanded), e.Xxh128);
        Assert.Equal(SHA256.HashData(expanded), e.Sha256);
        Assert.Equal(XxHash128.HashToUInt128([4, 2]), entries[1].Xxh128);
    }

    [Theory]
    [InlineData("gnu")]
    [InlineData("1.0")]
    public async Task A_sparse_whiteout_is_skipped_whole(string variant)
    {
        byte[] tar = Concat(Build(variant, "a/.wh.sparse", Fragments(30), Logical), Header("next", '0', 1), Padded([1]), EndOfArchive);
        var (_, entries, _) = await ReadAsync(tar);
        Assert.Equal([("a/.wh.sparse", EntryKind.Whiteout, 0L), ("next", EntryKind.File, 1L)], entries.Select(e => (e.Path, e.Kind, e.Size)));
    }

    [Fact]
    public async Task An_unknown_sparse_version_is_refused_with_sparse_in_the_message()
    {
        byte[] tar = Concat(Pax10("f", Fragments(2), Logical, major: "2"), EndOfArchive);
        var ex = await Assert.ThrowsAsync<LayerFormatException>(() => ReadAsync(tar));
        Assert.Contains("sparse", ex.Message);
        Assert.Equal("f", ex.EntryPath);
    }

    [Theory]
    [InlineData("gnu")]
    [InlineData("0.1")]
    [InlineData("1.0")]
    public async Task A_map_beyond_the_size_is_refused(string variant)
    {
        var fragments = Fragments(3);
        byte[] tar = Concat(Build(variant, "f", fragments, 5000), EndOfArchive); // fragments reach 64k > 5000
        var ex = await Assert.ThrowsAsync<LayerFormatException>(() => ReadAsync(tar));
        Assert.Contains("sparse", ex.Message);
    }

    [Fact]
    public async Task Overlapping_fragments_are_refused()
    {
        var fragments = new List<(long, byte[])> { (1000, Bytes(600, 1)), (1500, Bytes(10, 2)) };
        var ex = await Assert.ThrowsAsync<LayerFormatException>(() => ReadAsync(Concat(Pax01("f", fragments, 4000), EndOfArchive)));
        Assert.Contains("sparse", ex.Message);
    }

    [Fact]
    public async Task A_map_that_does_not_cover_the_stored_data_is_refused()
    {
        var fragments = Fragments(2);
        byte[] stored = Stored(fragments);
        string map = $"{fragments[0].Offset},{fragments[0].Data.Length}"; // the second fragment is stored but not mapped
        byte[] pax = PaxRecords(("GNU.sparse.size", "100000"), ("GNU.sparse.map", map));
        var ex = await Assert.ThrowsAsync<LayerFormatException>(() =>
            ReadAsync(Concat(PaxEntry(pax, Header("f", '0', stored.Length), stored), EndOfArchive)));
        Assert.Contains("sparse", ex.Message);
    }

    [Fact]
    public async Task A_sparse_file_cut_inside_its_data_is_truncated()
    {
        byte[] tar = OldGnuSparse("f", Fragments(3), Logical);
        var ex = await Assert.ThrowsAsync<LayerFormatException>(() => ReadAsync(tar[..(tar.Length - 400)]));
        Assert.Contains("truncated", ex.Message);
        Assert.Equal("f", ex.EntryPath);
    }

    public static TheoryData<string[]> GnuTarFormats() =>
    [
        ["--format=gnu"],
        ["--format=posix", "--sparse-version=0.0"],
        ["--format=posix", "--sparse-version=0.1"],
        ["--format=posix", "--sparse-version=1.0"],
    ];

    /// <summary>GNU tar writes the sparse entry from a real file with holes; the expected hash is the file read from disk.</summary>
    [Theory]
    [MemberData(nameof(GnuTarFormats))]
    public async Task Gnu_tar_sparse_archives_hash_like_the_file_on_disk(string[] formatArgs)
    {
        if (!File.Exists("/usr/bin/tar") && !File.Exists("/bin/tar"))
        {
            return; // GNU tar is part of the build image; without it this cross-check cannot run
        }

        string dir = Directory.CreateTempSubdirectory("layerstats-sparse-").FullName;
        try
        {
            string file = Path.Combine(dir, "holes.bin");
            using (var fs = new FileStream(file, FileMode.CreateNew))
            {
                fs.SetLength(8 * 1024 * 1024); // a hole throughout, like `truncate -s 8M`
                foreach (var (offset, length, seed) in new[] { (0L, 5000, 1), (1_048_576L, 70_000, 2), (5_000_000L, 1, 3), (7_000_000L, 300_000, 4) })
                {
                    fs.Position = offset;
                    fs.Write(Bytes(length, seed));
                }
            }

            string tarPath = Path.Combine(dir, "out.tar");
            var psi = new ProcessStartInfo("tar") { WorkingDirectory = dir, RedirectStandardError = true };
            foreach (string a in formatArgs.Concat(["--sparse", "-cf", tarPath, "holes.bin"]))
            {
                psi.ArgumentList.Add(a);
            }

            using (var p = Process.Start(psi)!)
            {
                string err = await p.StandardError.ReadToEndAsync();
                await p.WaitForExitAsync();
                Assert.True(p.ExitCode == 0, err);
            }

            byte[] tar = await File.ReadAllBytesAsync(tarPath);
            byte[] onDisk = await File.ReadAllBytesAsync(file);
            Assert.True(tar.Length < onDisk.Length / 4, "GNU tar did not write a sparse entry"); // the holes are not stored

            var (result, entries, _) = await ReadAsync(Zstd(tar), FileHashing.Xxh128AndSha256);

            var e = Assert.Single(entries);
            Assert.Equal("holes.bin", e.Path);
            Assert.Equal(EntryKind.File, e.Kind);
            Assert.Equal(onDisk.Length, e.Size);
            Assert.Equal(XxHash128.HashToUInt128(onDisk), e.Xxh128);
            Assert.Equal(SHA256.HashData(onDisk), e.Sha256);
            Assert.Equal(tar.Length, result.UncompressedSize);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
