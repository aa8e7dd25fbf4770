namespace LayerStats.Core.Analysis;

/// <summary>
/// The per-image figures as pure functions over the entries of an image's layers.
/// <c>layers</c> runs from the bottom (first) to the top (last) layer; each layer's entries are in archive order (or
/// carry their <see cref="AnalysisEntry.Seq"/>); the same layer may appear at several positions.
/// Memory: one compact trie node per distinct path of the image (<see cref="ImageAnalyzer"/>), nothing per entry; the
/// layers are read one at a time.
/// </summary>
public static class ImageAnalysis
{
    /// <summary>Hidden bytes and the dive-compatible figures of one image.</summary>
    public static ImageFigures Analyze(IReadOnlyList<IReadOnlyList<AnalysisEntry>> layers)
    {
        ArgumentNullException.ThrowIfNull(layers);
        return ImageAnalyzer.Analyze(layers.Count, k => layers[k]);
    }

    /// <summary>
    /// The figures of an image whose layers are streamed: <paramref name="openLayer"/>(k) gives the entries of layer k
    /// (0 = bottom) in any order, each with its seq; a layer is read once (a one-layer image whose paths contain
    /// <c>.wh.</c> is read twice). A one-layer image holds nothing (<see cref="TryAnalyzeSingleLayer"/>), larger ones
    /// one trie node per distinct path.
    /// </summary>
    public static ImageFigures AnalyzeStreamed(int layerCount, Func<int, IEnumerable<AnalysisEntry>> openLayer)
    {
        ArgumentNullException.ThrowIfNull(openLayer);
        return (layerCount == 1 ? TryAnalyzeSingleLayer(openLayer(0)) : null) ?? ImageAnalyzer.Analyze(layerCount, openLayer);
    }

    /// <summary>
    /// The figures of a one-layer image from one pass over its entries (any order), holding none of them; null when a
    /// path contains <c>.wh.</c> (then use <see cref="Analyze"/>). Without whiteout names, a single layer hides nothing
    /// and every leaf of dive's tree is the only node of its path: Σ minimum = Σ cumulative, so efficiency is 1 and
    /// nothing is wasted; dive's size is Σ regular-file sizes of the entries whose cleaned name is not ".".
    /// Equal to <see cref="Analyze"/> of the same single layer (tested on random layers).
    /// </summary>
    public static ImageFigures? TryAnalyzeSingleLayer(IEnumerable<AnalysisEntry> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        long size = 0;
        foreach (var entry in entries)
        {
            if (entry.Path.Contains(".wh.", StringComparison.Ordinal))
            {
                return null;
            }
            if (entry.Kind == Layers.EntryKind.File && entry.Size != 0 && TarPath.Clean(entry.Path) != ".")
            {
                size += entry.Size;
            }
        }
        const long userSize = 0;
        return new ImageFigures(0, 0, 1.0, 0, (double)0 / userSize, size, userSize);
    }

    /// <summary>Hidden bytes (DESIGN.md §3) only.</summary>
    public static HiddenFigures HiddenBytes(IReadOnlyList<IReadOnlyList<AnalysisEntry>> layers)
    {
        var figures = Analyze(layers);
        return new HiddenFigures(figures.HiddenBytes, figures.HiddenFiles);
    }

    /// <summary>The dive-compatible figures only.</summary>
    public static DiveFigures Dive(IReadOnlyList<IReadOnlyList<AnalysisEntry>> layers)
    {
        var figures = Analyze(layers);
        return new DiveFigures(figures.Efficiency, figures.WastedBytes, figures.UserWastedPercent, figures.DiveSizeBytes, figures.DiveUserSizeBytes);
    }
}
