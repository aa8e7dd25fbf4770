using LayerStats.Core.Analysis;
using LayerStats.Core.Layers;

namespace LayerStats.Tests.Analysis;

public sealed class ImageAnalysisDiveImageTests
{
    [Fact]
    public void Layers_are_read_as_the_manifest_orders_them()
    {
        var layers = DiveTestImage.Layers;
        Assert.Equal(14, layers.Count);
        Assert.Equal(415, layers[0].Count); // busybox: 17 dirs, 6 files, 392 hardlinks
        Assert.Equal(392, layers[0].Count(e => e.Kind == EntryKind.Hardlink));
        Assert.Equal(new AnalysisEntry("somefile.txt", EntryKind.File, 6405), Assert.Single(layers[1]));
        Assert.Contains(new AnalysisEntry("root/example/.wh.somefile3.txt", EntryKind.Whiteout, 0), layers[7]);
        Assert.Contains(new AnalysisEntry("root/.wh.example", EntryKind.Whiteout, 0), layers[9]);
    }

    [Fact]
    public void Dive_figures_match_dives_own_test()
    {
        // dive/image/docker/image_archive_analysis_test.go expects exactly these values for this archive.
        var figures = ImageAnalysis.Analyze(DiveTestImage.Layers);

        Assert.Equal(1220598, figures.DiveSizeBytes);
        Assert.Equal(66237, figures.DiveUserSizeBytes);
        Assert.Equal(32025, figures.WastedBytes);
        Assert.Equal(0.4834911001404049, figures.UserWastedPercent);
        Assert.Equal(0.9844212134184309, figures.Efficiency);
    }

    [Fact]
    public void Hidden_bytes_are_the_five_copies_that_later_layers_hide()
    {
        // Derivation from Dockerfile.test-image and the layer listings (layer index: what it holds):
        //  0 busybox: dirs, 6 files, 392 hardlinks. Later layers only add directory entries over its directories
        //    (root, tmp), which hide no file. Nothing hidden.
        //  1 ADD README.md /somefile.txt: somefile.txt 6405 — never touched again. Visible.
        //  2 mkdir -p root/example/really/nested: directories only.
        //  3 cp → root/example/somefile1.txt 6405 — HIDDEN: layer 4 replaces the same path (rule a), and layer 9
        //    whites out the ancestor root/example (rule b); counted once.
        //  4 chmod 444 → root/example/somefile1.txt 6405 (a new copy) — HIDDEN by layer 9 (.wh.example, ancestor).
        //  5 cp → root/example/somefile2.txt 6405 — HIDDEN by layer 9 (ancestor whiteout).
        //  6 cp → root/example/somefile3.txt 6405 — HIDDEN by layer 7 (.wh.somefile3.txt) and layer 9; once.
        //  7 mv → root/example/.wh.somefile3.txt + root/saved.txt 6405 — HIDDEN: layer 13 (chmod +x) replaces
        //    root/saved.txt at the same path (rule a).
        //  8 cp → root/.saved.txt 6405 — visible.
        //  9 rm -rf root/example → root/.wh.example (whiteout only).
        // 10 ADD .scripts → root/.data/tag.sh 917, root/.data/test.sh 1270 — visible.
        // 11 tmp/saved.again1.txt 6405, 12 root/.data/saved.again2.txt 6405, 13 root/saved.txt 6405 — visible (top).
        // Hidden: layers 3, 4, 5, 6, 7 → 5 files × 6405 = 32025 bytes.
        var figures = ImageAnalysis.Analyze(DiveTestImage.Layers);

        Assert.Equal(5, figures.HiddenFiles);
        Assert.Equal(5 * 6405, figures.HiddenBytes);
    }
}
