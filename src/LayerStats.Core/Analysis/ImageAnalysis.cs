namespace LayerStats.Core.Analysis;

/// <summary>
/// The per-image figures as pure functions over the entries of an image's layers.
/// <c>layers</c> runs from the bottom (first) to the top (last) layer; each layer's entries are in archive order;
/// the same layer may appear at several positions (pass the same list twice).
/// Memory: the hidden-bytes pass keeps a path trie of the layers above the current one; the dive pass keeps dive's
/// per-layer trees (one node per path per layer), as dive does.
/// </summary>
public static class ImageAnalysis
{
    /// <summary>Hidden bytes and the dive-compatible figures of one image.</summary>
    public static ImageFigures Analyze(IReadOnlyList<IReadOnlyList<AnalysisEntry>> layers)
    {
        ArgumentNullException.ThrowIfNull(layers);
        var hidden = HiddenBytesAnalysis.Compute(layers);
        var dive = DiveAnalysis.Compute(layers);
        return new ImageFigures(
            hidden.HiddenBytes,
            hidden.HiddenFiles,
            dive.Efficiency,
            dive.WastedBytes,
            dive.UserWastedPercent,
            dive.SizeBytes,
            dive.UserSizeBytes);
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
        ArgumentNullException.ThrowIfNull(layers);
        return HiddenBytesAnalysis.Compute(layers);
    }

    /// <summary>The dive-compatible figures only.</summary>
    public static DiveFigures Dive(IReadOnlyList<IReadOnlyList<AnalysisEntry>> layers)
    {
        ArgumentNullException.ThrowIfNull(layers);
        return DiveAnalysis.Compute(layers);
    }
}
