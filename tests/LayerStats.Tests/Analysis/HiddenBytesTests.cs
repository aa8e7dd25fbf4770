using LayerStats.Core.Analysis;
using static LayerStats.Tests.Analysis.Entries;

namespace LayerStats.Tests.Analysis;

public sealed class HiddenBytesTests
{
    private static HiddenFigures Hidden(params IReadOnlyList<LayerStats.Core.Analysis.AnalysisEntry>[] layers) =>
        ImageAnalysis.HiddenBytes(layers);

    [Fact]
    public void A_later_file_at_the_same_path_hides_the_lower_file()
    {
        var h = Hidden(L(D("a"), F("a/f", 10), F("a/g", 7)), L(D("a"), F("a/f", 3)));
        Assert.Equal(new HiddenFigures(10, 1), h);
    }

    [Theory]
    [InlineData("dir")]
    [InlineData("symlink")]
    [InlineData("hardlink")]
    public void A_later_entry_of_any_kind_at_the_same_path_hides_the_lower_file(string kind)
    {
        var upper = kind switch { "dir" => D("x"), "symlink" => S("x"), _ => H("x") };
        Assert.Equal(new HiddenFigures(7, 1), Hidden(L(F("x", 7), F("y", 1)), L(upper)));
    }

    [Fact]
    public void A_whiteout_of_the_path_hides_the_file()
    {
        Assert.Equal(new HiddenFigures(10, 1), Hidden(L(D("a"), F("a/f", 10), F("a/fg", 4)), L(D("a"), W("a/.wh.f"))));
    }

    [Fact]
    public void A_whiteout_of_an_ancestor_directory_hides_everything_below_it_but_not_a_sibling_with_a_longer_name()
    {
        var lower = L(D("a"), D("a/b"), F("a/b/f", 10), D("a/b/c"), F("a/b/c/g", 5), F("a/bc", 2), F("a/c", 1));
        Assert.Equal(new HiddenFigures(15, 2), Hidden(lower, L(D("a"), W("a/.wh.b"))));
    }

    [Fact]
    public void An_opaque_whiteout_hides_lower_contents_of_the_directory_but_not_its_own_layers()
    {
        var lower = L(D("d"), F("d/f", 10), D("d/sub"), F("d/sub/g", 4), F("e", 8), F("dd", 3));
        var upper = L(D("d"), F("d/before", 6), O("d"), F("d/after", 5), F("d/f", 1));
        // d/f (10) and d/sub/g (4) are hidden; d/before, d/after and d/f of the upper layer are its own.
        Assert.Equal(new HiddenFigures(14, 2), Hidden(lower, upper));
    }

    [Fact]
    public void An_opaque_whiteout_at_the_root_hides_every_lower_file()
    {
        Assert.Equal(new HiddenFigures(11, 2), Hidden(L(F("x", 10), D("a"), F("a/y", 1)), L(O(""), F("z", 4))));
    }

    [Theory]
    [InlineData("symlink")]
    [InlineData("file")]
    public void Replacing_an_ancestor_directory_with_a_non_directory_hides_the_files_below(string kind)
    {
        var upper = kind == "symlink" ? S("a/b") : F("a/b", 9);
        var lower = L(D("a"), D("a/b"), F("a/b/f", 10), F("a/b/g", 20), F("a/c", 1));
        Assert.Equal(new HiddenFigures(30, 2), Hidden(lower, L(upper)));
    }

    [Fact]
    public void A_directory_entry_over_a_lower_directory_hides_nothing()
    {
        Assert.Equal(new HiddenFigures(0, 0), Hidden(L(D("a"), D("a/b"), F("a/b/f", 10)), L(D("a"), D("a/b"), F("a/b/g", 1))));
    }

    [Fact]
    public void A_duplicate_within_one_layer_is_not_hidden_bytes()
    {
        // The first f is overwritten by the second in the same layer; only a later layer's hiding counts.
        Assert.Equal(new HiddenFigures(0, 0), Hidden(L(F("f", 10), F("f", 12)), L(F("g", 1))));
        // The same layer deleting or shadowing its own files: nothing hidden either.
        Assert.Equal(new HiddenFigures(0, 0), Hidden(L(D("a"), F("a/f", 10), S("a"), F("g", 3), W(".wh.g")), L(F("h", 1))));
    }

    [Fact]
    public void A_path_written_twice_in_a_layer_and_hidden_from_above_counts_both_entries()
    {
        Assert.Equal(new HiddenFigures(22, 2), Hidden(L(F("f", 10), F("f", 12)), L(F("f", 1))));
    }

    [Fact]
    public void Each_hidden_file_counts_once_however_many_later_layers_hide_it()
    {
        var h = Hidden(L(D("a"), F("a/f", 10)), L(F("a/f", 3)), L(W(".wh.a")), L(O("a")), L(S("a")));
        // layer 0's a/f (10) and layer 1's a/f (3), each once.
        Assert.Equal(new HiddenFigures(13, 2), h);
    }

    [Fact]
    public void Hardlinks_carry_no_bytes_and_are_not_counted()
    {
        Assert.Equal(new HiddenFigures(10, 1), Hidden(L(F("f", 10), H("h")), L(W(".wh.f"), W(".wh.h"))));
    }

    [Fact]
    public void Only_later_layers_hide_a_file_recreated_after_a_whiteout_stays_visible()
    {
        var h = Hidden(L(F("f", 10)), L(W(".wh.f")), L(F("f", 3)), L(W(".wh.nothing")));
        Assert.Equal(new HiddenFigures(10, 1), h);
    }

    [Fact]
    public void The_same_layer_twice_hides_all_files_of_its_lower_position_once()
    {
        var layer = L(D("a"), F("a/f", 10), F("a/g", 5), H("a/h"), F("b", 1));
        Assert.Equal(new HiddenFigures(16, 3), Hidden(layer, layer));
        // With a layer between the two positions that also deletes a/f: still each file once.
        Assert.Equal(new HiddenFigures(16, 3), Hidden(layer, L(W("a/.wh.f")), layer));
    }

    [Fact]
    public void Unnormalised_names_are_cleaned_before_comparing()
    {
        Assert.Equal(new HiddenFigures(10, 1), Hidden(L(F("a//b/./f", 10)), L(W("a/b/../b/.wh.f"))));
    }

    [Fact]
    public void An_image_with_no_layers_or_one_layer_hides_nothing()
    {
        Assert.Equal(new HiddenFigures(0, 0), Hidden());
        Assert.Equal(new HiddenFigures(0, 0), Hidden(L(F("f", 10), W(".wh.f"))));
    }
}
