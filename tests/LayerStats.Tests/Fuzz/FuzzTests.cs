using System.Text;
using CsCheck;
using LayerStats.Core.Layers;
using LayerStats.Core.Model;
using LayerStats.Core.Sources;
using LayerStats.Fixtures;
using LayerStats.Tests.Layers;

namespace LayerStats.Tests.Fuzz;

/// <summary>The fuzz tests run alone (no other test in parallel), so that their per-case memory check sees only them.</summary>
[CollectionDefinition(nameof(FuzzCollection), DisableParallelization = true)]
public sealed class FuzzCollection;

/// <summary>
/// Property-based fuzzing (CsCheck generators) of the three readers that take bytes from images: the layer tar reader
/// (plain, gzip, zstd), the JSON document parser, and the archive sources. Each first replays every input saved under
/// corpus/crashes/, then checks a fixed number of seeded mutations of the committed seed corpus (LAYERSTATS_FUZZ_CASES
/// to change it): the same inputs on every machine, however fast or loaded. LAYERSTATS_FUZZ_SECONDS=N explores random
/// cases for N seconds per target instead (CsCheck, with shrinking). Property: only the documented exception types
/// come out (the sources return errors and never throw), every case ends within its time limit, and no case allocates
/// more than 256 MiB.
/// </summary>
[Collection(nameof(FuzzCollection))]
public sealed class FuzzTests : IDisposable
{
    private readonly long _holeLimit = TarWalker.MaxSparseHoleBytes;

    /// <summary>Sparse holes are hashed as zeros: a mutated size may claim up to the 1 TiB limit, a minute of hashing. The
    /// fuzz cases use a 64 MiB limit, so that such a case is a quick error rather than a time-out.</summary>
    public FuzzTests() => TarWalker.MaxSparseHoleBytes = 64L << 20;

    public void Dispose() => TarWalker.MaxSparseHoleBytes = _holeLimit;

    private const int TarCases = 4000;
    private const int CompressedTarCases = 2500;
    private const int JsonCases = 5000;
    private const int ArchiveCases = 2000;

    private static readonly Type[] LayerErrors = [typeof(LayerFormatException)];
    private static readonly Type[] DocumentErrors = [typeof(ImageFormatException)];

    [Fact]
    public void Tar_reader_throws_only_LayerFormatException_on_mutated_layers()
    {
        var seeds = FuzzSeeds.Load("tar");
        Replay("tar", ReadLayerAsync, LayerErrors);
        FuzzHarness.Run(
            FuzzHarness.Cases([.. seeds.Keys], FuzzHarness.TarMutation, 5),
            "0000tarfuzz0",
            TarCases,
            c => FuzzHarness.Check("tar", c.Build(seeds), ReadLayerAsync, LayerErrors));
    }

    [Fact]
    public void Tar_reader_throws_only_LayerFormatException_on_mutated_tars_inside_gzip_and_zstd()
    {
        var seeds = FuzzSeeds.Load("tar").Where(s => LayerReader.Detect(s.Value) == Compression.None).ToDictionary();
        var gen = Gen.Select(FuzzHarness.Cases([.. seeds.Keys], FuzzHarness.TarMutation, 4), Gen.Bool);
        FuzzHarness.Run(
            gen,
            "0000tarcomp0",
            CompressedTarCases,
            t => FuzzHarness.Check("tar", TarBytes.Compress(t.Item1.Build(seeds), t.Item2 ? Compression.Zstd : Compression.Gzip), ReadLayerAsync, LayerErrors));
    }

    [Fact]
    public void Manifest_parser_throws_only_ImageFormatException_on_mutated_json()
    {
        var seeds = FuzzSeeds.Load("json");
        Replay("json", ParseDocumentsAsync, DocumentErrors);
        FuzzHarness.Run(
            FuzzHarness.Cases([.. seeds.Keys], FuzzHarness.JsonMutation, 4),
            "000jsonfuzz0",
            JsonCases,
            c => FuzzHarness.Check("json", c.Build(seeds), ParseDocumentsAsync, []));
    }

    [Fact]
    public void Archive_sources_return_errors_and_never_throw_on_mutated_archives()
    {
        var seeds = FuzzSeeds.Load("archive");
        Replay("archive", ListArchiveAsync, []);
        FuzzHarness.Run(
            FuzzHarness.Cases([.. seeds.Keys], Gen.Frequency((3, FuzzHarness.TarMutation), (1, FuzzHarness.JsonMutation)), 3),
            "00archfuzz00",
            ArchiveCases,
            c => FuzzHarness.Check("archive", c.Build(seeds), ListArchiveAsync, []));
    }

    /// <summary>
    /// The cases do not depend on the machine: two runs from one seed check the same inputs in the same order, and the
    /// seed a failure reports makes its case the first of a run (as LAYERSTATS_FUZZ_SEED does).
    /// </summary>
    [Fact]
    public void Runs_check_a_fixed_list_of_cases_and_a_reported_seed_replays_its_case()
    {
        var seeds = FuzzSeeds.Load("archive");
        var gen = FuzzHarness.Cases([.. seeds.Keys], FuzzHarness.TarMutation, 3);
        var first = new List<string>();
        var second = new List<string>();
        FuzzHarness.RunCases(gen, "00archfuzz00", 50, c => first.Add(c.ToString()));
        FuzzHarness.RunCases(gen, "00archfuzz00", 50, c => second.Add(c.ToString()));
        Assert.Equal(first, second);
        Assert.Equal(50, first.Distinct().Count());

        int seen = 0;
        var failure = Assert.Throws<FuzzFailureException>(() => FuzzHarness.RunCases(gen, "00archfuzz00", 50, c =>
        {
            if (++seen == 37)
            {
                throw new InvalidOperationException("the 37th");
            }
        }));
        Assert.StartsWith("case 37 of 50 failed; LAYERSTATS_FUZZ_SEED=", failure.Message, StringComparison.Ordinal);
        Assert.IsType<InvalidOperationException>(failure.InnerException);
        string replaySeed = failure.Message["case 37 of 50 failed; LAYERSTATS_FUZZ_SEED=".Length..].Split(' ')[0];
        var replayed = new List<string>();
        FuzzHarness.RunCases(gen, replaySeed, 2, c => replayed.Add(c.ToString()));
        Assert.Equal(first[36..38], replayed);
    }

    /// <summary>Every input once saved as a crash stays a regression test: it must pass now.</summary>
    private static void Replay(string target, Func<byte[], CancellationToken, Task> run, Type[] allowed)
    {
        string dir = FuzzHarness.Corpus("crashes");
        if (!Directory.Exists(dir))
        {
            return;
        }

        foreach (string file in Directory.EnumerateFiles(dir, target + "-*.bin").Order(StringComparer.Ordinal))
        {
            FuzzHarness.Check(target, File.ReadAllBytes(file), run, allowed);
        }
    }

    internal static async Task ReadLayerAsync(byte[] bytes, CancellationToken ct)
    {
        var sink = new CountingSink();
        using var stream = new MemoryStream(bytes, writable: false);
        var result = await LayerReader.ReadAsync(stream, FileHashing.Xxh128AndSha256, sink, ct);
        Assert.Equal(bytes.LongLength, result.CompressedSize);
        Assert.Equal(result.EntryCount, sink.Entries);
    }

    /// <summary>Each parser on the same bytes; each may refuse them with an <see cref="ImageFormatException"/> only.</summary>
    internal static Task ParseDocumentsAsync(byte[] bytes, CancellationToken ct)
    {
        var json = (ReadOnlyMemory<byte>)bytes;
        Action[] parsers =
        [
            () => ManifestParser.PeekMediaType(json, "fuzz"),
            () => ManifestParser.DetectMediaType(json, "fuzz"),
            () => ManifestParser.ParseIndex(json, "fuzz"),
            () => ManifestParser.ParseManifest(json, "fuzz"),
            () => ManifestParser.ParseConfig(json, "fuzz"),
        ];
        foreach (var parse in parsers)
        {
            ct.ThrowIfCancellationRequested();
            try
            {
                parse();
            }
            catch (ImageFormatException)
            {
            }
        }

        return Task.CompletedTask;
    }

    /// <summary>
    /// Lists the archive (which must not throw: problems are listing errors), then reads every layer of every image
    /// found, as a scan would (which may fail with a format or I/O error only).
    /// </summary>
    internal static async Task ListArchiveAsync(byte[] bytes, CancellationToken ct)
    {
        string path = Path.Combine(Path.GetTempPath(), "layerstats-fuzz-" + Guid.NewGuid().ToString("N") + ".tar");
        await File.WriteAllBytesAsync(path, bytes, ct);
        try
        {
            await using var source = ImageSources.Open(path);
            var listing = await source.ListImagesAsync(ct);
            Assert.All(listing.Errors, e => Assert.Equal(path, e.Source));
            foreach (var image in listing.Images)
            {
                foreach (var layer in image.Image.Layers.Where(l => l.IsAvailable))
                {
                    try
                    {
                        await using var blob = await layer.OpenCompressedAsync(ct);
                        await LayerReader.ReadAsync(blob, FileHashing.Xxh128, new CountingSink(), ct);
                    }
                    catch (Exception ex) when (ex is LayerFormatException or ImageFormatException or IOException)
                    {
                    }
                }
            }
        }
        finally
        {
            File.Delete(path);
        }
    }

    private sealed class CountingSink : IFileEntrySink
    {
        public int Entries { get; private set; }

        public ValueTask WriteAsync(ReadOnlyMemory<FileEntry> batch, CancellationToken ct)
        {
            foreach (var e in batch.Span)
            {
                Assert.NotNull(e.Path);
                Assert.True(e.Size >= 0);
            }

            Entries += batch.Length;
            return ValueTask.CompletedTask;
        }
    }
}

/// <summary>
/// The seed corpus: small valid inputs of every kind the readers take, committed under corpus/seeds/&lt;target&gt;/.
/// <see cref="Generate"/> (LAYERSTATS_FUZZ_WRITE_SEEDS=1) rewrites them from the fixture builders.
/// </summary>
public static class FuzzSeeds
{
    public static Dictionary<string, byte[]> Load(string target)
    {
        string dir = FuzzHarness.Corpus("seeds", target);
        var seeds = Directory.Exists(dir)
            ? Directory.EnumerateFiles(dir).Order(StringComparer.Ordinal).ToDictionary(f => Path.GetFileName(f), File.ReadAllBytes)
            : [];
        Assert.True(seeds.Count > 0, $"no seeds in {dir}: run with LAYERSTATS_FUZZ_WRITE_SEEDS=1 once");
        return seeds;
    }

    public static Dictionary<string, Dictionary<string, byte[]>> Generate()
    {
        var tars = new Dictionary<string, byte[]>(StringComparer.Ordinal)
        {
            ["kinds.tar"] = new LayerBuilder(implicitParents: true)
                .File("etc/passwd", "root:x:0:0::/root:/bin/sh\n").File("bin/sh", Content.Random("sh", 700), mode: 493)
                .Symlink("bin/bash", "sh").Hardlink("bin/ash", "bin/sh").Fifo("run/pipe").CharDevice("dev/null", 1, 3)
                .BlockDevice("dev/sda", 8, 0).Whiteout("etc/old").Opaque("var/cache").ToTar(),
            ["long-names.tar"] = new LayerBuilder()
                .File(string.Join("/", Enumerable.Repeat("directory-name", 12)) + "/file", "long\n")
                .Symlink("link", string.Join("/", Enumerable.Repeat("target", 30)))
                .File("caf\u00e9/\U0001F600.txt", "utf-8\n").ToTar(),
            ["sparse-gnu.tar"] = Sparse(SparseFormat.GnuOld),
            ["sparse-pax00.tar"] = Sparse(SparseFormat.Pax00),
            ["sparse-pax01.tar"] = Sparse(SparseFormat.Pax01),
            ["sparse-pax10.tar"] = Sparse(SparseFormat.Pax10),
            ["gnu-longlink.tar"] = GnuLongLink(),
            ["v7.tar"] = TarBytes.WriteTar(System.Formats.Tar.TarEntryFormat.V7, w =>
            {
                var e = new System.Formats.Tar.V7TarEntry(System.Formats.Tar.TarEntryType.V7RegularFile, "old/file") { DataStream = new MemoryStream("v7\n"u8.ToArray()) };
                w.WriteEntry(e);
            }),
        };
        tars["kinds.tar.gz"] = BuiltLayer.Compress(tars["kinds.tar"], LayerCompression.Gzip);
        tars["kinds.tar.zst"] = BuiltLayer.Compress(tars["kinds.tar"], LayerCompression.Zstd);
        tars["sparse-pax10.tar.gz"] = BuiltLayer.Compress(tars["sparse-pax10.tar"], LayerCompression.Gzip);

        var image = new ImageBuilder()
            .Layer(new LayerBuilder().File("a", "a\n").Symlink("b", "a"), LayerCompression.Gzip, "ADD a")
            .Layer(new LayerBuilder().Whiteout("a").File("c", "c\n"), LayerCompression.None, "RUN c")
            .Build();
        var index = BuiltIndex.Of(image, new ImageBuilder(arch: "arm64", variant: "v8").Layer(new LayerBuilder().File("arm", "arm\n")).Build());
        var json = new Dictionary<string, byte[]>(StringComparer.Ordinal)
        {
            ["manifest.json"] = image.ManifestBytes,
            ["config.json"] = image.ConfigBytes,
            ["index.json"] = index.IndexBytes,
            ["docker-manifest.json"] = new ImageBuilder(format: ManifestFormat.DockerSchema2).Layer(new LayerBuilder().File("x", "x\n")).Build().ManifestBytes,
            ["docker-save-manifest.json"] = ArchiveWriter.DockerSaveLegacyFiles([image.Tagged("fuzz:1")])["manifest.json"],
        };

        var small = new ImageBuilder().Layer(new LayerBuilder().File("f", "f\n"), LayerCompression.None).Build();
        var archives = new Dictionary<string, byte[]>(StringComparer.Ordinal)
        {
            ["docker-legacy.tar"] = TarOf(ArchiveWriter.DockerSaveLegacyFiles([small.Tagged("fuzz:1")])),
            ["docker-25.tar"] = TarOf(ArchiveWriter.DockerSave25Files([small.Tagged("fuzz:1")])),
            ["oci.tar"] = TarOf(ArchiveWriter.OciLayoutFiles([OciEntry.Of(small, "1")])),
        };
        return new() { ["tar"] = tars, ["json"] = json, ["archive"] = archives };
    }

    [Fact]
    public static void Seeds_are_committed_and_small()
    {
        if (Environment.GetEnvironmentVariable("LAYERSTATS_FUZZ_WRITE_SEEDS") is { Length: > 0 })
        {
            foreach (var (target, files) in Generate())
            {
                Directory.CreateDirectory(FuzzHarness.Corpus("seeds", target));
                foreach (var (name, bytes) in files)
                {
                    File.WriteAllBytes(FuzzHarness.Corpus("seeds", target, name), bytes);
                }
            }
        }

        long total = Directory.EnumerateFiles(FuzzHarness.Corpus(), "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);
        Assert.InRange(total, 1, 1 << 20);
        foreach (string target in (string[])["tar", "json", "archive"])
        {
            Assert.NotEmpty(Load(target));
        }
    }

    private static byte[] Sparse(SparseFormat format) =>
        new LayerBuilder().SparseFile("var/sparse.img", 8192, [(512, Content.Random("s1", 300)), (4096, Content.Random("s2", 600))], format).File("after", "after\n").ToTar();

    private static byte[] GnuLongLink()
    {
        using var s = new MemoryStream();
        string longName = string.Join("/", Enumerable.Repeat("gnu-long-name", 10));
        byte[] name = Encoding.UTF8.GetBytes(longName + "\0");
        s.Write(TarFormat.HeaderBlock(new TarFormat.Header("././@LongLink", (byte)'L') { Size = name.Length, Gnu = true }));
        TarFormat.WritePadded(s, name);
        s.Write(TarFormat.HeaderBlock(new TarFormat.Header(longName[..99], TarFormat.TypeRegular) { Size = 4, Gnu = true }));
        TarFormat.WritePadded(s, "gnu\n"u8);
        TarFormat.WriteEndOfArchive(s);
        return s.ToArray();
    }

    private static byte[] TarOf(IReadOnlyDictionary<string, byte[]> files)
    {
        string path = Path.GetTempFileName();
        try
        {
            ArchiveWriter.WriteTar(path, files);
            return File.ReadAllBytes(path);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
