using LayerStats.Core.Analysis;
using LayerStats.Core.Layers;
using static LayerStats.Tests.Analysis.Entries;

namespace LayerStats.Tests.Analysis;

/// <summary>
/// The analysis shared by images on the same bottom layers (<see cref="SharedPrefixAnalysis"/>) gives each image the
/// figures of its own analysis from scratch (<see cref="ImageAnalysis.Analyze"/>), whatever the order the images come
/// in, and holds nothing once every image is forgotten.
/// </summary>
public sealed class SharedPrefixAnalysisTests
{
    private static readonly string[] s_names = ["a", "b", "c", "é", "..", ".wh.a", ".wh.b", ".wh..wh..opq", "d"];

    /// <summary>A random layer over a small name space: files (some of 2 GiB and more), directories, links, whiteouts.</summary>
    private static IReadOnlyList<AnalysisEntry> RandomLayer(Random random, bool adversarial)
    {
        var entries = new List<AnalysisEntry>();
        int count = random.Next(0, 16);
        for (int i = 0; i < count; i++)
        {
            int depth = random.Next(1, 4);
            var parts = Enumerable.Range(0, depth).Select(_ => s_names[random.Next(adversarial ? s_names.Length : 4)]).ToArray();
            string path = string.Join('/', parts);
            string name = parts[^1];
            long size = random.Next(8) == 0 ? int.MaxValue + (long)random.Next(1, 5000) : random.Next(0, 3000);
            entries.Add(random.Next(10) switch
            {
                <= 4 when name.StartsWith(".wh.", StringComparison.Ordinal) => new AnalysisEntry(path, name == ".wh..wh..opq" ? EntryKind.OpaqueWhiteout : EntryKind.Whiteout, 0),
                <= 4 => F(path, size),
                5 or 6 => D(path),
                7 => S(path),
                8 => H(path),
                _ => new AnalysisEntry(path, EntryKind.File, size, Seq: random.Next(0, 3)),
            });
        }

        return entries;
    }

    /// <summary>Families of images: a few bases of 1-3 layers, each under several images of 1-3 more layers (some the
    /// same layer again, some with nothing of their own, some a base's prefix only).</summary>
    private static List<(string[] DiffIds, IReadOnlyList<IReadOnlyList<AnalysisEntry>> Layers)> RandomImages(Random random)
    {
        var layers = new Dictionary<string, IReadOnlyList<AnalysisEntry>>();
        string NewLayer()
        {
            string id = $"sha256:{layers.Count:x64}";
            layers[id] = RandomLayer(random, adversarial: random.Next(2) == 0);
            return id;
        }

        var images = new List<string[]>();
        for (int b = 0; b < 3; b++)
        {
            var baseLayers = Enumerable.Range(0, random.Next(1, 4)).Select(_ => NewLayer()).ToList();
            var middle = NewLayer();
            for (int i = 0; i < random.Next(2, 6); i++)
            {
                var own = new List<string>(baseLayers);
                switch (random.Next(5))
                {
                    case 0:
                        int keep = random.Next(1, own.Count + 1); // the base itself, or its bottom layers
                        own.RemoveRange(keep, own.Count - keep);
                        break;
                    case 1:
                        own.Add(middle); // a shared middle layer, then one of its own
                        own.Add(NewLayer());
                        break;
                    case 2:
                        own.Add(own[random.Next(own.Count)]); // a layer again
                        break;
                    default:
                        own.AddRange(Enumerable.Range(0, random.Next(1, 4)).Select(_ => NewLayer()));
                        break;
                }

                images.Add([.. own]);
            }
        }

        return images.Select(ids => (ids, (IReadOnlyList<IReadOnlyList<AnalysisEntry>>)ids.Select(id => layers[id]).ToList())).ToList();
    }

    [Fact]
    public void Each_image_gets_the_figures_of_its_own_analysis_in_any_order()
    {
        int shared = 0;
        for (int seed = 0; seed < 300; seed++)
        {
            var random = new Random(seed);
            var images = RandomImages(random);
            var analysis = new SharedPrefixAnalysis(SharedPrefixAnalysis.DefaultBudgetBytes);
            foreach (var (diffIds, _) in images)
            {
                analysis.Expect(diffIds, diffIds);
            }

            foreach (var (diffIds, layers) in images.OrderBy(_ => random.Next()))
            {
                int opened = 0;
                var figures = analysis.Analyze(diffIds, diffIds, k =>
                {
                    opened++;
                    return layers[k];
                });
                Assert.Equal(ImageAnalysis.Analyze(layers), figures);
                analysis.Forget(diffIds);
                Assert.True(opened <= layers.Count || layers.Count == 1, $"seed {seed}: {opened} layers opened for {layers.Count}");
            }

            shared += analysis.LayersShared;
            Assert.Equal(0, analysis.HeldStates);
            Assert.Equal(0, analysis.HeldBytes);
        }

        Assert.True(shared > 300, $"{shared} layers shared in 300 families: the sharing was exercised");
    }

    [Fact]
    public void Images_on_one_base_read_the_base_once()
    {
        var base0 = L(D("usr"), F("usr/a", 10), F("usr/b", 20));
        var base1 = L(F("usr/a", 11), W("usr/.wh.b"));
        string[] first = ["b0", "b1", "x"];
        string[] second = ["b0", "b1", "y"];
        string[] third = ["b0", "z"];
        var layers = new Dictionary<string, IReadOnlyList<AnalysisEntry>>
        {
            ["b0"] = base0,
            ["b1"] = base1,
            ["x"] = L(F("usr/a", 12)),
            ["y"] = L(F("usr/c", 5)),
            ["z"] = L(W("usr/.wh.a")),
        };
        var opened = new List<string>();
        var analysis = new SharedPrefixAnalysis(SharedPrefixAnalysis.DefaultBudgetBytes);
        foreach (var image in new[] { first, second, third })
        {
            analysis.Expect(image, image);
        }

        foreach (var image in new[] { first, second, third })
        {
            var figures = analysis.Analyze(image, image, k =>
            {
                opened.Add(image[k]);
                return layers[image[k]];
            });
            Assert.Equal(ImageAnalysis.Analyze(image.Select(id => layers[id]).ToList()), figures);
            analysis.Forget(image);
        }

        // first: all three; second: from the state after b0, b1 (kept: second goes on from it); third: from b0's
        // (kept: third shares b0 only).
        Assert.Equal(["b0", "b1", "x", "y", "z"], opened);
        Assert.Equal(3, analysis.LayersShared);
        Assert.Equal(0, analysis.HeldStates);

        // Hand-computed for first: usr/a (10) hidden by b1's usr/a, usr/b (20) whited out, b1's usr/a (11) hidden by x's.
        Assert.Equal(new HiddenFigures(41, 3), ImageAnalysis.HiddenBytes(first.Select(id => layers[id]).ToList()));
    }

    [Fact]
    public void Nothing_is_kept_over_the_budget_or_for_an_image_alone()
    {
        string[] one = ["a", "b"];
        string[] two = ["a", "c"];
        var layers = new Dictionary<string, IReadOnlyList<AnalysisEntry>> { ["a"] = L(F("f", 1)), ["b"] = L(F("f", 2)), ["c"] = L(F("g", 3)) };
        var none = new SharedPrefixAnalysis(budgetBytes: 0);
        none.Expect(one, one);
        none.Expect(two, two);
        Assert.Equal(ImageAnalysis.Analyze([layers["a"], layers["b"]]), none.Analyze(one, one, k => layers[one[k]]));
        Assert.Equal(0, none.HeldStates);
        Assert.Equal(ImageAnalysis.Analyze([layers["a"], layers["c"]]), none.Analyze(two, two, k => layers[two[k]]));
        Assert.Equal(0, none.LayersShared);

        var alone = new SharedPrefixAnalysis(SharedPrefixAnalysis.DefaultBudgetBytes);
        alone.Expect(one, one);
        alone.Analyze(one, one, k => layers[one[k]]);
        Assert.Equal(0, alone.HeldStates); // no other image expected on "a"

        var kept = new SharedPrefixAnalysis(SharedPrefixAnalysis.DefaultBudgetBytes);
        kept.Expect(one, one);
        kept.Expect(two, two);
        kept.Analyze(one, one, k => layers[one[k]]);
        Assert.Equal(1, kept.HeldStates);
        Assert.True(kept.HeldBytes > 0);
        kept.Forget(one);
        Assert.Equal(1, kept.HeldStates); // two still goes on from it
        kept.Forget(two); // failed before its analysis: the state goes
        Assert.Equal(0, kept.HeldStates);
        Assert.Equal(0, kept.HeldBytes);
    }
}
