using LayerStats.Core.Layers;

namespace LayerStats.Core.Analysis;

/// <summary>
/// One tar entry of a layer as the per-image analysis sees it.
/// <see cref="Path"/> is the normalised raw tar name (no leading <c>./</c> or <c>/</c>); whiteouts keep their
/// <c>.wh.</c> name. <see cref="Size"/> is the regular file's size, 0 for every other kind (which is also what
/// the tar header says for directories, symlinks, hardlinks, devices, fifos and whiteouts). <see cref="Seq"/> is the
/// entry's position in its layer (the <c>files.seq</c> column), so that a layer can be streamed in any order: where a
/// path is written twice, the higher seq wins; entries of equal seq (0 when not given) count in the order they come.
/// </summary>
public readonly record struct AnalysisEntry(string Path, EntryKind Kind, long Size, int Seq = 0)
{
    /// <summary>The analysis view of a scanned <see cref="FileEntry"/>.</summary>
    public static AnalysisEntry From(in FileEntry entry) =>
        new(entry.Path, entry.Kind, entry.Kind == EntryKind.File ? entry.Size : 0);
}

/// <summary>Hidden bytes of an image (DESIGN.md §3): regular files shipped in a layer that a later layer hides.</summary>
public readonly record struct HiddenFigures(long HiddenBytes, long HiddenFiles);

/// <summary>
/// The figures dive (github.com/wagoodman/dive) reports for an image, computed the way dive computes them.
/// <see cref="UserWastedPercent"/> is a ratio (dive's <c>wastedUserPercent</c>), not ×100; it is NaN or +∞ when
/// <see cref="UserSizeBytes"/> is 0, as in dive.
/// </summary>
public sealed record DiveFigures(double Efficiency, long WastedBytes, double UserWastedPercent, long SizeBytes, long UserSizeBytes);

/// <summary>All per-image figures: hidden bytes (ours) and the dive-compatible figures.</summary>
public sealed record ImageFigures(
    long HiddenBytes,
    long HiddenFiles,
    double Efficiency,
    long WastedBytes,
    double UserWastedPercent,
    long DiveSizeBytes,
    long DiveUserSizeBytes);
