using LayerStats.Core.Layers;

namespace LayerStats.Storage;

/// <summary>The text each <see cref="EntryKind"/> has in the <c>files.kind</c> column.</summary>
public static class EntryKinds
{
    private static readonly string[] Names = ["file", "dir", "symlink", "hardlink", "char", "block", "fifo", "whiteout", "opaque"];

    public static string ToName(EntryKind kind) => Names[(int)kind];

    public static EntryKind Parse(string name)
    {
        int index = Array.IndexOf(Names, name);
        return index >= 0 ? (EntryKind)index : throw new FormatException($"unknown entry kind '{name}'");
    }
}
