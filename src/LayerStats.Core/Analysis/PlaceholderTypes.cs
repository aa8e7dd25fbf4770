// Placeholder until the analysis branch lands (wip/analysis owns Analysis/).
using LayerStats.Core.Layers;

namespace LayerStats.Core.Analysis;

public readonly record struct AnalysisEntry(string Path, EntryKind Kind, long Size);

public sealed record ImageFigures(long HiddenBytes, long HiddenFiles, double Efficiency, long WastedBytes, double UserWastedPercent, long DiveSizeBytes, long DiveUserSizeBytes);

public static class ImageAnalysis
{
    public static ImageFigures Analyze(IReadOnlyList<IReadOnlyList<AnalysisEntry>> layers) =>
        new(0, 0, 1.0, 0, 0, layers.Sum(l => l.Sum(e => e.Size)), 0);
}
