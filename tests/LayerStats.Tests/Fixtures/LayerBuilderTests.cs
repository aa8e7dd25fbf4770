using System.Formats.Tar;
using System.Text;
using LayerStats.Fixtures;

namespace LayerStats.Tests.Fixtures;

public sealed class LayerBuilderTests
{
    private static LayerBuilder Demo()
    {
        var tool = Content.Binary("tool", 5000);
        return new LayerBuilder()
            .Dir("etc").File("etc/os-release", "ID=demo\n").File("bin/tool", tool, mode: 0b111_101_101)
            .Symlink("bin/sh", "tool").Hardlink("bin/tool2", "bin/tool")
            .Whiteout("var/cache/old")
            .Opaque("var/lib")
            .Fifo("run/p").CharDevice("dev/null", 1, 3)
            .File("usr/share/" + new string('d', 120) + "/" + new string('f', 120), "long name\n");
    }

    [Fact]
    public void ToTar_is_read_back_by_System_Formats_Tar_entry_by_entry()
    {
        var tar = Demo().ToTar();
        using var reader = new TarReader(new MemoryStream(tar));
        var entries = new List<(string Name, TarEntryType Type, string Link, int Length, UnixFileMode Mode)>();
        while (reader.GetNextEntry(copyData: true) is { } e)
        {
            entries.Add((e.Name, e.EntryType, e.LinkName, (int)(e.DataStream?.Length ?? 0), e.Mode));
            if (e is PosixTarEntry { EntryType: TarEntryType.CharacterDevice } dev)
            {
                Assert.Equal((1, 3), (dev.DeviceMajor, dev.DeviceMinor));
            }
        }
        Assert.Equal(
            [
                "etc/", "etc/os-release", "bin/tool", "bin/sh", "bin/tool2", "var/cache/.wh.old", "var/lib/.wh..wh..opq",
                "run/p", "dev/null", "usr/share/" + new string('d', 120) + "/" + new string('f', 120),
            ],
            entries.Select(e => e.Name));
        Assert.Equal(
            [
                TarEntryType.Directory, TarEntryType.RegularFile, TarEntryType.RegularFile, TarEntryType.SymbolicLink, TarEntryType.HardLink,
                TarEntryType.RegularFile, TarEntryType.RegularFile, TarEntryType.Fifo, TarEntryType.CharacterDevice, TarEntryType.RegularFile,
            ],
            entries.Select(e => e.Type));
        Assert.Equal("tool", entries[3].Link);
        Assert.Equal("bin/tool", entries[4].Link);
        Assert.Equal(5000, entries[2].Length);
        Assert.Equal((UnixFileMode)0b111_101_101, entries[2].Mode);
        Assert.Equal(0, entries[5].Length);
        // the archive ends with two zero blocks, and every entry is block aligned
        Assert.Equal(0, tar.Length % 512);
        Assert.All(tar[^1024..], b => Assert.Equal(0, b));
    }

    [Fact]
    public void ToTar_without_end_blocks_is_the_same_stream_cut_before_them()
    {
        var layer = Demo();
        var full = layer.ToTar(endOfArchiveBlocks: true);
        var cut = layer.ToTar(endOfArchiveBlocks: false);
        Assert.Equal(full.Length - 1024, cut.Length);
        Assert.Equal(full[..cut.Length], cut);
    }

    [Fact]
    public void Python_tarfile_reads_the_same_entries_names_links_devices_and_contents()
    {
        var layer = Demo();
        var py = FixtureTools.PythonTarList(layer.ToTar());
        Assert.Equal(layer.Entries.Select(e => e.Path), py.Select(p => p.Name));
        Assert.Equal(["5", "0", "0", "2", "1", "0", "0", "6", "3", "0"], py.Select(p => p.Type));
        Assert.Equal(FixtureTools.Sha256(Encoding.UTF8.GetBytes("ID=demo\n")), py[1].Sha256);
        Assert.Equal(FixtureTools.Sha256(Content.Binary("tool", 5000)), py[2].Sha256);
        Assert.Equal(493, py[2].Mode);
        Assert.Equal((1, 3), (py[8].Devmajor, py[8].Devminor));
        Assert.Equal("bin/tool", py[4].Linkname);
    }

    [Fact]
    public void ToTar_is_deterministic()
    {
        Assert.Equal(Demo().ToTar(), Demo().ToTar());
    }

    [Fact]
    public void ImplicitParents_adds_each_missing_directory_once_before_its_children()
    {
        var layer = new LayerBuilder(implicitParents: true).File("a/b/c.txt", "x").File("a/b/d.txt", "y").Dir("a/e").Whiteout("a/f/g");
        Assert.Equal(["a", "a/b", "a/b/c.txt", "a/b/d.txt", "a/e", "a/f", "a/f/.wh.g"], layer.Entries.Select(e => e.Path));
    }

    public static TheoryData<SparseFormat, int> SparseCases() => new()
    {
        { SparseFormat.GnuOld, 2 }, { SparseFormat.GnuOld, 7 }, { SparseFormat.GnuOld, 30 },
        { SparseFormat.Pax00, 3 }, { SparseFormat.Pax01, 3 }, { SparseFormat.Pax10, 3 }, { SparseFormat.Pax10, 30 },
    };

    [Theory]
    [MemberData(nameof(SparseCases))]
    public void SparseFile_is_read_by_python_tarfile_as_its_logical_content(SparseFormat format, int segmentCount)
    {
        // segments of 100..(100+n) bytes every 8 KiB, starting at 4 KiB, and a hole at the end
        var segments = Enumerable.Range(0, segmentCount).Select(i => ((long)4096 + i * 8192, Content.Random("seg" + i, 100 + i))).ToList();
        var logicalSize = 4096 + segmentCount * 8192 + 5000;
        var layer = new LayerBuilder().File("before", "b").SparseFile("data/sparse.img", logicalSize, segments, format).File("after", "a");

        var py = FixtureTools.PythonTarList(layer.ToTar());

        Assert.Equal(["before", "data/sparse.img", "after"], py.Select(p => p.Name));
        Assert.True(py[1].Sparse);
        Assert.Equal(logicalSize, py[1].Size);
        Assert.Equal(FixtureTools.Sha256(layer.Entries[1].LogicalContent()), py[1].Sha256);
        Assert.Equal(FixtureTools.Sha256("a"u8.ToArray()), py[2].Sha256);
    }

    [Fact]
    public void SparseFile_LogicalContent_has_the_segments_at_their_offsets_and_zeros_elsewhere()
    {
        var layer = new LayerBuilder().SparseFile("s", 10, [(2, [1, 2]), (7, [3])], SparseFormat.Pax01);
        Assert.Equal(new byte[] { 0, 0, 1, 2, 0, 0, 0, 3, 0, 0 }, layer.Entries[0].LogicalContent());
    }

    [Theory]
    [InlineData(SparseFormat.GnuOld)]
    [InlineData(SparseFormat.Pax00)]
    [InlineData(SparseFormat.Pax10)]
    public void SparseFile_is_read_by_GNU_tar_as_its_logical_content(SparseFormat format)
    {
        // GNU tar's reader starts each segment's data on a block boundary, so (like GNU tar's writer) every segment but
        // the last is a multiple of 512 bytes here; the data are concatenated either way.
        var layer = new LayerBuilder().SparseFile("s.img", 100_000, [(10_240, Content.Random("a", 1024)), (60_000, Content.Random("b", 1300))], format);
        var dir = TempDir.Create();
        File.WriteAllBytes(dir["l.tar"], layer.ToTar());
        FixtureTools.RunOk("tar", "-xf", dir["l.tar"], "-C", dir.Path);
        Assert.Equal(layer.Entries[0].LogicalContent(), File.ReadAllBytes(dir["s.img"]));
    }
}
