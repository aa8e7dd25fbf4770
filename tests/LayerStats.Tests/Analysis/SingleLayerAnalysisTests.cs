using LayerStats.Core.Analysis;
using LayerStats.Core.Layers;
using static LayerStats.Tests.Analysis.Entries;

namespace LayerStats.Tests.Analysis;

/// <summary>
/// The streamed one-layer shortcut against the full analysis (hidden-bytes trie and dive's trees) of the same layer:
/// equal figures whenever it answers, and it answers exactly when no path contains ".wh.".
/// </summary>
public sealed class SingleLayerAnalysisTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Matches_the_full_analysis_on_random_single_layers(int seed)
    {
        var random = new Random(seed);
        var answered = 0;
        for (var image = 0; image < 300; image++)
        {
            var layer = RandomLayer(random);
            var expected = ImageAnalysis.Analyze(Image(layer));
            var actual = ImageAnalysis.TryAnalyzeSingleLayer(layer);
            if (layer.Any(e => e.Path.Contains(".wh.", StringComparison.Ordinal)))
            {
                Assert.Null(actual);
            }
            else
            {
                Assert.Equal(expected, actual);
                answered++;
            }
        }
        Assert.InRange(answered, 50, 250); // both branches exercised
    }

    [Fact]
    public void A_single_layer_scores_one_wastes_nothing_and_counts_its_regular_files_but_the_root()
    {
        var layer = L(D("./"), F("./", 7), F("a", 10), F("a/b", 5), D("d"), F("d/x", 3), F("d/x", 4), S("s"), H("h"), F("d/../y", 2));
        var figures = ImageAnalysis.TryAnalyzeSingleLayer(layer);
        Assert.NotNull(figures);
        Assert.Equal(10 + 5 + 3 + 4 + 2, figures.DiveSizeBytes); // "./" cleans to "." and is skipped, as dive does
        Assert.Equal(0, figures.DiveUserSizeBytes);
        Assert.Equal(1.0, figures.Efficiency);
        Assert.Equal(0, figures.WastedBytes);
        Assert.True(double.IsNaN(figures.UserWastedPercent));
        Assert.Equal(0, figures.HiddenBytes);
        Assert.Equal(ImageAnalysis.Analyze(Image(layer)), figures);
    }

    [Fact]
    public void A_whiteout_name_in_a_single_layer_defers_to_the_full_analysis()
    {
        Assert.Null(ImageAnalysis.TryAnalyzeSingleLayer(L(F("a", 1), W(".wh.a"))));
        Assert.Null(ImageAnalysis.TryAnalyzeSingleLayer(L(F("x/.wh.y/z", 1))));
    }

    private static IReadOnlyList<AnalysisEntry> RandomLayer(Random random)
    {
        string[] names = ["a", "b", ".", "..", ""];
        var entries = new List<AnalysisEntry>();
        var count = random.Next(0, 10);
        for (var e = 0; e < count; e++)
        {
            var depth = random.Next(1, 4);
            var path = string.Join('/', Enumerable.Range(0, depth).Select(_ => names[random.Next(names.Length)]));
            var slash = path.LastIndexOf('/');
            var dir = slash < 0 ? "" : path[..slash];
            var name = path[(slash + 1)..];
            var whiteouts = random.Next(3) == 0; // about a third of the layers may hold whiteout names
            entries.Add(random.Next(whiteouts ? 7 : 5) switch
            {
                0 or 1 or 2 => new AnalysisEntry(path, EntryKind.File, random.Next(0, 1000)),
                3 => new AnalysisEntry(path, EntryKind.Dir, 0),
                4 => new AnalysisEntry(path, random.Next(2) == 0 ? EntryKind.Symlink : EntryKind.Hardlink, 0),
                5 => new AnalysisEntry(dir.Length == 0 ? ".wh." + name : dir + "/.wh." + name, EntryKind.Whiteout, 0),
                _ => new AnalysisEntry(dir.Length == 0 ? ".wh..wh..opq" : dir + "/.wh..wh..opq", EntryKind.OpaqueWhiteout, 0),
            });
        }
        return entries;
    }
}
