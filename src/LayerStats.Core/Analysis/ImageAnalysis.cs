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
