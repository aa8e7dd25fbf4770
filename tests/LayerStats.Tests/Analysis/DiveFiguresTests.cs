using LayerStats.Core.Analysis;
using static LayerStats.Tests.Analysis.Entries;

namespace LayerStats.Tests.Analysis;

/// <summary>
/// dive's figures on small images, each expected value worked out by hand from dive's algorithm
/// (leaf nodes per layer tree, whiteouts sized from the stacked lower tree, Σ min / Σ cumulative).
/// </summary>
public sealed class DiveFiguresTests
{
    private static DiveFigures Dive(params IReadOnlyList<AnalysisEntry>[] layers) => ImageAnalysis.Dive(layers);

    [Fact]
    public void A_whiteout_of_a_directory_weighs_its_lower_subtree_and_a_whiteout_of_a_file_weighs_nothing()
    {
        // leaves: /a/f 100, /a/g 50, /x 7 (layer 0); /a ← .wh.a = dir a: 0+100+50 = 150, /x ← .wh.x = file: 0.
        // Σmin = 100+50+150+0 = 300, Σcum = 100+50+150+7 = 307; wasted = /x (2 nodes) = 7.
        var d = Dive(L(D("a"), F("a/f", 100), F("a/g", 50), F("x", 7)), L(W(".wh.a"), W(".wh.x")));
        Assert.Equal(300.0 / 307.0, d.Efficiency);
        Assert.Equal(7, d.WastedBytes);
        Assert.Equal(157, d.SizeBytes);
        Assert.Equal(0, d.UserSizeBytes);
        Assert.Equal(double.PositiveInfinity, d.UserWastedPercent); // 7 / 0, as dive's float division gives
    }

    [Fact]
    public void A_directory_known_only_implicitly_is_not_a_directory_for_dive()
    {
        // Layer 1 has a/g but no entry for "a": stacking it writes dive's empty payload over "a" (IsDir false), so the
        // whiteout of a weighs 0. /x: 10 + 10. Σmin = 100 + 5 + 0 + 10 = 115, Σcum = 100 + 5 + 0 + 20 = 125.
        var implicitDir = Dive(L(D("a"), F("a/f", 100), F("x", 10)), L(F("a/g", 5), F("x", 10)), L(W(".wh.a")));
        Assert.Equal(115.0 / 125.0, implicitDir.Efficiency);
        Assert.Equal(20, implicitDir.WastedBytes);

        // The same with a directory entry for "a" in layer 1: the whiteout weighs a/f + a/g = 105.
        // Σmin = 100 + 5 + 105 + 10 = 220, Σcum = 100 + 5 + 105 + 20 = 230.
        var explicitDir = Dive(L(D("a"), F("a/f", 100), F("x", 10)), L(D("a"), F("a/g", 5), F("x", 10)), L(W(".wh.a")));
        Assert.Equal(220.0 / 230.0, explicitDir.Efficiency);
        Assert.Equal(20, explicitDir.WastedBytes);
        Assert.Equal(125, explicitDir.SizeBytes); // 100 + 10, 5 + 10, 0
        Assert.Equal(15, explicitDir.UserSizeBytes);
        Assert.Equal(20.0 / 15.0, explicitDir.UserWastedPercent);
    }

    [Fact]
    public void A_whiteout_of_a_path_absent_below_stops_that_layers_walk_and_leaves_a_minimum_of_minus_one()
    {
        // Layer 1's leaves in name order: "+p" (3), ".wh.nothing", "z" (5). /nothing is not in layer 0, so dive's
        // visitor fails there: "z" is never visited and the record of /nothing keeps minimum −1, cumulative 0.
        // Σmin = 10 + 3 − 1 = 12, Σcum = 10 + 3 = 13.
        var d = Dive(L(F("y", 10)), L(F("+p", 3), W(".wh.nothing"), F("z", 5)));
        Assert.Equal(12.0 / 13.0, d.Efficiency);
        Assert.Equal(0, d.WastedBytes);
        Assert.Equal(18, d.SizeBytes);
        Assert.Equal(8, d.UserSizeBytes);
    }

    [Fact]
    public void Opaque_whiteouts_are_ignored_by_dive_but_counted_in_hidden_bytes()
    {
        // Layer 1's tree: d/g only (the .wh..wh..opq name never becomes a node). Σmin = Σcum = 14.
        var figures = ImageAnalysis.Analyze([L(D("d"), F("d/f", 10)), L(D("d"), O("d"), F("d/g", 4))]);
        Assert.Equal(1.0, figures.Efficiency);
        Assert.Equal(0, figures.WastedBytes);
        Assert.Equal(10, figures.HiddenBytes);
    }

    [Fact]
    public void The_same_layer_twice_wastes_all_of_its_leaves()
    {
        // /a/f: 10 + 10, /b: 5 + 5. Σmin = 15, Σcum = 30; wasted 30; size 30, user 15.
        var layer = L(D("a"), F("a/f", 10), F("b", 5));
        var figures = ImageAnalysis.Analyze([layer, layer]);
        Assert.Equal(0.5, figures.Efficiency);
        Assert.Equal(30, figures.WastedBytes);
        Assert.Equal(30, figures.DiveSizeBytes);
        Assert.Equal(15, figures.DiveUserSizeBytes);
        Assert.Equal(2.0, figures.UserWastedPercent);
        Assert.Equal(15, figures.HiddenBytes);
        Assert.Equal(2, figures.HiddenFiles);
    }

    [Fact]
    public void A_directory_over_a_lower_file_is_a_second_node_of_that_path()
    {
        // /x: file 10 (leaf of layer 0), empty directory (leaf of layer 1, size 0): cum 10, min 0.
        var d = Dive(L(F("x", 10)), L(D("x")));
        Assert.Equal(0.0, d.Efficiency);
        Assert.Equal(10, d.WastedBytes);
    }

    [Fact]
    public void The_root_entry_is_skipped_and_an_empty_image_scores_one()
    {
        var d = Dive(L(D("."), D(""), F("f", 4)));
        Assert.Equal(1.0, d.Efficiency);
        Assert.Equal(4, d.SizeBytes);

        var empty = Dive();
        Assert.Equal(1.0, empty.Efficiency);
        Assert.Equal(0, empty.SizeBytes);
        Assert.True(double.IsNaN(empty.UserWastedPercent)); // 0 / 0 in dive too
    }
}
