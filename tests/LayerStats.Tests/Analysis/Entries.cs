using LayerStats.Core.Analysis;
using LayerStats.Core.Layers;

namespace LayerStats.Tests.Analysis;

/// <summary>Short constructors for synthetic layers: raw tar names, as a layer reader would give them.</summary>
internal static class Entries
{
    public static AnalysisEntry F(string path, long size) => new(path, EntryKind.File, size);
    public static AnalysisEntry D(string path) => new(path, EntryKind.Dir, 0);
    public static AnalysisEntry S(string path) => new(path, EntryKind.Symlink, 0);
    public static AnalysisEntry H(string path) => new(path, EntryKind.Hardlink, 0);

    /// <summary>A whiteout entry; <paramref name="path"/> is the raw name, e.g. <c>a/.wh.f</c>.</summary>
    public static AnalysisEntry W(string path) => new(path, EntryKind.Whiteout, 0);

    /// <summary>The opaque whiteout of <paramref name="dir"/> ("" for the root).</summary>
    public static AnalysisEntry O(string dir) => new(dir.Length == 0 ? ".wh..wh..opq" : dir + "/.wh..wh..opq", EntryKind.OpaqueWhiteout, 0);

    public static IReadOnlyList<AnalysisEntry> L(params AnalysisEntry[] entries) => entries;

    public static IReadOnlyList<IReadOnlyList<AnalysisEntry>> Image(params IReadOnlyList<AnalysisEntry>[] layers) => layers;
}
