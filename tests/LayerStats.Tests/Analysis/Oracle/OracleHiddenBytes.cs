using LayerStats.Core.Analysis;
using LayerStats.Core.Layers;

namespace LayerStats.Tests.Analysis.Oracle;

// Test-only oracle: the former per-image implementation (every entry of every layer in memory), kept unchanged to
// cross-check the bounded-memory ImageAnalyzer (AnalyzerOracleTests).

/// <summary>
/// Hidden bytes (DESIGN.md §3), computed top-down: the layers are walked from the top, keeping a path trie of what the
/// layers above the current one do (put an entry at a path, put a non-directory at a path, white a path out, make a
/// directory opaque). A regular file of the current layer is hidden when that trie says a later layer
/// (a) has a non-whiteout entry at its path, (b) whites out its path or an ancestor, (c) has an opaque whiteout in an
/// ancestor directory, or (d) has a non-directory entry at an ancestor path. The current layer's own entries are
/// added to the trie only after its files were checked, so a layer never hides its own files.
/// Every regular-file entry is judged on its own: a path written twice in one layer and hidden from above counts twice.
/// </summary>
internal static class OracleHiddenBytes
{
    private const string WhiteoutPrefix = ".wh.";
    private const string MetaPrefix = ".wh..wh.";

    [Flags]
    private enum Marks : byte
    {
        None = 0,
        Present = 1,   // a non-whiteout entry of any kind at this path
        NonDir = 2,    // a non-whiteout, non-directory entry at this path
        Deleted = 4,   // a whiteout of this path
        Opaque = 8,    // an opaque whiteout in this directory
    }

    private sealed class Node
    {
        private Dictionary<string, Node>? _children;
        public Marks Marks;

        public Node? Find(ReadOnlySpan<char> name) =>
            _children is not null && _children.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(name, out var child) ? child : null;

        public Node GetOrAdd(ReadOnlySpan<char> name)
        {
            _children ??= new Dictionary<string, Node>(StringComparer.Ordinal);
            var lookup = _children.GetAlternateLookup<ReadOnlySpan<char>>();
            if (!lookup.TryGetValue(name, out var child))
            {
                child = new Node();
                lookup[name] = child;
            }
            return child;
        }
    }

    public static HiddenFigures Compute(IReadOnlyList<IReadOnlyList<AnalysisEntry>> layers)
    {
        var root = new Node();
        long bytes = 0, files = 0;
        for (var k = layers.Count - 1; k >= 0; k--)
        {
            var layer = layers[k];
            if (k < layers.Count - 1)
            {
                foreach (var entry in layer)
                {
                    if (entry.Kind == EntryKind.File && IsHidden(root, TarPath.Clean(entry.Path)))
                    {
                        bytes += entry.Size;
                        files++;
                    }
                }
            }
            if (k > 0)
            {
                foreach (var entry in layer)
                {
                    Mark(root, entry);
                }
            }
        }
        return new HiddenFigures(bytes, files);
    }

    private static bool IsHidden(Node root, string path)
    {
        const Marks hidesBelow = Marks.Deleted | Marks.Opaque | Marks.NonDir;
        const Marks hidesHere = Marks.Present | Marks.Deleted;
        if (path == "." || path == "/")
        {
            return false;
        }
        var node = root;
        var rest = path.AsSpan().TrimStart('/');
        while (true)
        {
            if ((node.Marks & hidesBelow) != 0)
            {
                return true; // node is a strict ancestor of the file
            }
            var slash = rest.IndexOf('/');
            var name = slash < 0 ? rest : rest[..slash];
            var child = node.Find(name);
            if (child is null)
            {
                return false;
            }
            if (slash < 0)
            {
                return (child.Marks & hidesHere) != 0;
            }
            node = child;
            rest = rest[(slash + 1)..];
        }
    }

    private static void Mark(Node root, in AnalysisEntry entry)
    {
        var path = TarPath.Clean(entry.Path);
        if (path == "." || path == "/")
        {
            return; // the root directory itself: hides nothing
        }
        var span = path.AsSpan().TrimStart('/');
        var slash = span.LastIndexOf('/');
        var dir = slash < 0 ? ReadOnlySpan<char>.Empty : span[..slash];
        var name = slash < 0 ? span : span[(slash + 1)..];
        switch (entry.Kind)
        {
            case EntryKind.OpaqueWhiteout:
                Walk(root, dir).Marks |= Marks.Opaque;
                break;
            case EntryKind.Whiteout:
                if (name.StartsWith(MetaPrefix, StringComparison.Ordinal) || !name.StartsWith(WhiteoutPrefix, StringComparison.Ordinal) || name.Length == WhiteoutPrefix.Length)
                {
                    return; // AUFS metadata (.wh..wh.plnk, …) or a malformed name: hides nothing
                }
                Walk(Walk(root, dir), name[WhiteoutPrefix.Length..]).Marks |= Marks.Deleted;
                break;
            case EntryKind.Dir:
                Walk(root, span).Marks |= Marks.Present;
                break;
            default:
                Walk(root, span).Marks |= Marks.Present | Marks.NonDir;
                break;
        }
    }

    private static Node Walk(Node node, ReadOnlySpan<char> path)
    {
        while (path.Length > 0)
        {
            var slash = path.IndexOf('/');
            var name = slash < 0 ? path : path[..slash];
            node = node.GetOrAdd(name);
            path = slash < 0 ? ReadOnlySpan<char>.Empty : path[(slash + 1)..];
        }
        return node;
    }
}
