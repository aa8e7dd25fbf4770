using CsCheck;
using LayerStats.Core.Analysis;
using LayerStats.Core.Layers;
using LayerStats.Tests.Analysis.Oracle;
using static LayerStats.Tests.Analysis.Entries;

namespace LayerStats.Tests.Analysis;

/// <summary>
/// The bounded-memory analysis (<see cref="ImageAnalysis"/>, one trie node per distinct path, layers streamed) against
/// the former implementation kept as an oracle (every entry in memory, dive's per-layer trees as objects): equal
/// figures on seeded random multi-layer images over a small, adversarial name space (whiteouts of files and
/// directories, opaque and AUFS-meta whiteouts, ".wh." alone, "." and "..", "./" and "/" prefixes, trailing slashes,
/// paths written twice, a directory replaced by a file and back, sizes beyond 2 GiB, hardlinks, devices, deep paths, non-ASCII and
/// supplementary-plane names, the same layer twice), each layer fed in archive order and, shuffled, with its seqs.
/// </summary>
public sealed class AnalyzerOracleTests
{
    private static readonly string[] s_plainNames = ["a", "b", "ab", "é", "日本", "\U0001F600", "ｚ", "a b", "-x"];
    private static readonly string[] s_names = [.. s_plainNames, ".", "..", "", ".wh.a", ".wh.b", ".wh..wh..opq", ".wh..wh.plnk", ".wh.", ".wh..."];

    private static Gen<string> Path(string[] names) =>
        Gen.Frequency(
            (12, Gen.Int[1, 4]),
            (1, Gen.Int[5, 24])) // deep
        .SelectMany(depth => Gen.Int[0, names.Length - 1].Array[depth])
        .SelectMany(parts => Gen.Int[0, 9], (parts, decoration) =>
        {
            var path = string.Join('/', parts.Select(p => names[p]));
            return decoration switch
            {
                0 => "./" + path,
                1 => "/" + path,
                2 => path + "/",
                _ => path,
            };
        });

    // Mostly small sizes; some of 2 GiB and more (sums and minimums beyond an int).
    private static readonly Gen<long> s_size = Gen.Frequency((8, Gen.Long[0, 2000]), (1, Gen.Long[int.MaxValue - 2000L, 1L << 40]));

    // Adversarial entries: every kind, whiteouts, special names. Plain entries: no whiteout, no "." or ".." names
    // (the layers that the analysis stacks without dive's ordering).
    private static Gen<AnalysisEntry> Entry(bool adversarial) =>
        Gen.Select(Path(adversarial ? s_names : s_plainNames), Gen.Int[0, adversarial ? 13 : 9], s_size, (path, kind, size) =>
        {
            var slash = path.TrimEnd('/').LastIndexOf('/');
            var dir = slash < 0 ? "" : path[..(slash + 1)];
            var name = path[(slash + 1)..];
            return kind switch
            {
                <= 4 => new AnalysisEntry(path, EntryKind.File, size % 7 == 0 ? 0 : size),
                5 or 6 => new AnalysisEntry(path, EntryKind.Dir, 0),
                7 => new AnalysisEntry(path, EntryKind.Symlink, 0),
                8 => new AnalysisEntry(path, EntryKind.Hardlink, 0),
                9 => new AnalysisEntry(path, (EntryKind)(4 + (int)(size % 3)), 0), // char/block device, fifo
                10 or 11 => new AnalysisEntry(dir + ".wh." + name, EntryKind.Whiteout, 0),
                12 => new AnalysisEntry(dir + ".wh..wh..opq", EntryKind.OpaqueWhiteout, 0),
                _ => new AnalysisEntry(path, name.StartsWith(".wh.", StringComparison.Ordinal) ? EntryKind.Whiteout : EntryKind.File, size),
            };
        });

    // 1–6 layers of 0–14 entries, each layer adversarial or plain; a layer may be an earlier one again (the same
    // diff_id twice in an image).
    private static readonly Gen<IReadOnlyList<IReadOnlyList<AnalysisEntry>>> s_image =
        Gen.Int[1, 6].SelectMany(count => Gen.Frequency((1, Entry(true).Array[0, 14]), (1, Entry(false).Array[0, 14])).Array[count]).SelectMany(
            layers => Gen.Int[0, 5].Array[layers.Length],
            (layers, repeats) =>
            {
                var result = new List<IReadOnlyList<AnalysisEntry>>();
                for (var k = 0; k < layers.Length; k++)
                {
                    result.Add(k > 0 && repeats[k] == 0 ? result[repeats[k - 1] % k] : layers[k]);
                }
                return (IReadOnlyList<IReadOnlyList<AnalysisEntry>>)result;
            });

    [Fact]
    public void Matches_the_oracle_on_random_images_in_archive_order()
    {
        s_image.Sample(
            layers => Assert.Equal(Oracle(layers), ImageAnalysis.Analyze(layers)),
            seed: "0000analyzr0", iter: 2500, threads: 1);
    }

    [Fact]
    public void Matches_the_oracle_on_random_images_streamed_shuffled_with_seqs()
    {
        Gen.Select(s_image, Gen.Int).Sample(
            (layers, shuffleSeed) =>
            {
                var random = new Random(shuffleSeed);
                var streamed = layers.Select(layer =>
                {
                    var withSeq = layer.Select((e, i) => e with { Seq = i }).ToArray();
                    random.Shuffle(withSeq);
                    return withSeq;
                }).ToArray();
                Assert.Equal(Oracle(layers), ImageAnalysis.AnalyzeStreamed(layers.Count, k => streamed[k]));
            },
            seed: "0000analyzs0", iter: 1500, threads: 1);
    }

    [Fact]
    public void The_generator_reaches_dives_ordered_walk_its_early_stop_and_hidden_files()
    {
        int images = 0, ordered = 0, stopped = 0, hidden = 0;
        s_image.Sample(
            layers =>
            {
                var analyzer = new ImageAnalyzer(layers.Count);
                foreach (var layer in layers)
                {
                    analyzer.AddLayer(layer);
                }
                images++;
                ordered += analyzer.OrderedLayers > 0 ? 1 : 0;
                stopped += analyzer.StoppedWalks > 0 ? 1 : 0;
                hidden += analyzer.Result().HiddenFiles > 0 ? 1 : 0;
            },
            seed: "0000analyzr0", iter: 500, threads: 1);
        Assert.Equal(500, images);
        Assert.InRange(ordered, 100, 450);
        Assert.InRange(stopped, 25, 400);
        Assert.InRange(hidden, 50, 450);
    }

    [Fact]
    public void A_whiteout_absent_below_stops_the_walk_of_its_layer_in_name_order()
    {
        // Layer 1's leaves in dive's order: "/.wh.zz" (nothing below: stops, record minimum −1), then "/b", "/c" (never
        // visited). Layer 0: "/a" 10. Records: /a {10}, /zz {−1}. Σ minimum 9, Σ cumulative 10.
        var layers = Image(L(F("a", 10)), L(F("c", 5), W(".wh.zz"), F("b", 7)));
        var figures = ImageAnalysis.Analyze(layers);
        Assert.Equal(Oracle(layers), figures);
        Assert.Equal(0.9, figures.Efficiency);
        Assert.Equal(0, figures.WastedBytes);
    }

    [Fact]
    public void A_layer_repeats_a_path_with_the_higher_seq_winning_whatever_the_row_order()
    {
        // Layer 1 writes "a" twice (3 then 20 bytes); rows come seq-descending. dive: record /a {5, 20}: min 5, cum 25.
        var rows = new[] { new AnalysisEntry("a", EntryKind.File, 20, Seq: 1), new AnalysisEntry("a", EntryKind.File, 3, Seq: 0) };
        var figures = ImageAnalysis.AnalyzeStreamed(2, k => k == 0 ? [F("a", 5)] : rows);
        Assert.Equal(Oracle(Image(L(F("a", 5)), L(F("a", 3), F("a", 20)))), figures);
        Assert.Equal(25, figures.WastedBytes);
        Assert.Equal(5, figures.HiddenBytes);
    }

    [Fact]
    public void Memory_is_one_compact_node_per_distinct_path()
    {
        // 3 layers over the same 20,000 paths in 100 directories: 20,101 nodes (root, dirs, files), not 60,000 entries.
        var layer = Enumerable.Range(0, 20_000).Select(i => F($"dir{i % 100:D3}/file{i:D6}", i)).ToArray();
        var analyzer = new ImageAnalyzer(3);
        for (var k = 0; k < 3; k++)
        {
            analyzer.AddLayer(layer);
        }
        Assert.Equal(20_101, analyzer.DistinctPaths);
        Assert.InRange(analyzer.AllocatedBytes / (double)analyzer.DistinctPaths, 60, 140);
        var figures = analyzer.Result();
        Assert.Equal(2L * Enumerable.Range(0, 20_000).Sum(i => (long)i), figures.HiddenBytes);
        Assert.Equal(Oracle(Image(layer, layer, layer)), figures);
    }

    private static ImageFigures Oracle(IReadOnlyList<IReadOnlyList<AnalysisEntry>> layers)
    {
        var hidden = OracleHiddenBytes.Compute(layers);
        var dive = OracleDive.Compute(layers);
        return new ImageFigures(hidden.HiddenBytes, hidden.HiddenFiles, dive.Efficiency, dive.WastedBytes, dive.UserWastedPercent, dive.SizeBytes, dive.UserSizeBytes);
    }
}
