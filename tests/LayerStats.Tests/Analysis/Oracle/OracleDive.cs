using LayerStats.Core.Analysis;
using LayerStats.Core.Layers;

namespace LayerStats.Tests.Analysis.Oracle;

// Test-only oracle: the former per-image implementation (every entry of every layer in memory), kept unchanged to
// cross-check the bounded-memory ImageAnalyzer (AnalyzerOracleTests).

/// <summary>
/// dive's per-image figures, reproduced step by step from dive's source (dive/filetree/efficiency.go, file_tree.go,
/// file_node.go; dive/image/docker/image_archive.go; dive/image/analysis.go):
/// <list type="bullet">
/// <item>one tree per layer, built from the layer's entries in archive order with dive's AddPath (path.Clean; missing
/// parents created with an empty payload — size 0, not a directory; a name starting <c>.wh..wh..</c> ends the walk, so
/// opaque whiteouts never become nodes; the payload of an existing node is replaced, its children kept);
/// the layer size is the sum of the tar header size of every entry but ".";</item>
/// <item>efficiency: for each layer bottom-up, every leaf of its tree (children visited in byte order) adds its size to
/// the record of its path (a whiteout <c>.wh.x</c> has the path of <c>x</c>); a whiteout's size is that of the whole
/// subtree at its path in the tree of the layers below stacked (dive's StackTreeRange(trees, 0, i−1)) when that node is a
/// directory, else 0; a whiteout whose path is not in that stacked tree stops the walk of the rest of that layer's tree
/// and leaves its path record with minimum −1 (dive adds that −1 to the minimum total);</item>
/// <item>efficiency = Σ minimum / Σ cumulative over all path records (1 when Σ cumulative is 0); wasted bytes =
/// Σ cumulative over the records with ≥ 2 nodes; size = Σ layer sizes; user size = Σ layer sizes but the first.</item>
/// </list>
/// </summary>
internal static class OracleDive
{
    private const string WhiteoutPrefix = ".wh.";
    private const string DoubleWhiteoutPrefix = ".wh..wh..";

    public static DiveFigures Compute(IReadOnlyList<IReadOnlyList<AnalysisEntry>> layers)
    {
        var trees = new List<Tree>(layers.Count);
        var built = new Dictionary<IReadOnlyList<AnalysisEntry>, Tree>(ReferenceEqualityComparer.Instance);
        foreach (var layer in layers)
        {
            if (!built.TryGetValue(layer, out var tree))
            {
                tree = Tree.FromEntries(layer);
                built.Add(layer, tree);
            }
            trees.Add(tree);
        }

        long sizeBytes = 0, userSizeBytes = 0;
        for (var i = 0; i < trees.Count; i++)
        {
            sizeBytes += trees[i].FileSize;
            if (i != 0)
            {
                userSizeBytes += trees[i].FileSize;
            }
        }

        var (efficiency, wastedBytes) = Efficiency(trees);
        return new DiveFigures(efficiency, wastedBytes, (double)wastedBytes / userSizeBytes, sizeBytes, userSizeBytes);
    }

    private sealed class PathRecord
    {
        public long Cumulative;
        public long Minimum = -1;
        public int Nodes;
    }

    private static (double Efficiency, long WastedBytes) Efficiency(List<Tree> trees)
    {
        var records = new Dictionary<string, PathRecord>(StringComparer.Ordinal);
        Tree? stacked = null;       // StackTreeRange(trees, 0, stackedUpTo), built lazily and incrementally
        var stackedUpTo = -1;

        for (var i = 0; i < trees.Count; i++)
        {
            var current = i;
            trees[i].VisitLeavesChildFirst(node =>
            {
                var path = node.DivePath();
                if (!records.TryGetValue(path, out var record))
                {
                    record = new PathRecord();
                    records.Add(path, record);
                }
                long size = 0;
                if (node.IsWhiteout)
                {
                    if (stacked is null)
                    {
                        stacked = trees[0].Copy();
                        stackedUpTo = -1;
                    }
                    while (stackedUpTo < current - 1)
                    {
                        stackedUpTo++;
                        stacked.Stack(trees[stackedUpTo]);
                    }
                    var previous = stacked.GetNode(path);
                    if (previous is null)
                    {
                        return false; // dive: GetNode fails, the visitor returns the error, the rest of this tree is skipped
                    }
                    if (previous.IsDir)
                    {
                        size = previous.SubtreeSize();
                    }
                }
                else
                {
                    size = node.Size;
                }
                record.Cumulative += size;
                if (record.Minimum < 0 || size < record.Minimum)
                {
                    record.Minimum = size;
                }
                record.Nodes++;
                return true;
            });
        }

        long minimum = 0, discovered = 0, wasted = 0;
        foreach (var record in records.Values)
        {
            minimum += record.Minimum;
            discovered += record.Cumulative;
            if (record.Nodes >= 2)
            {
                wasted += record.Cumulative;
            }
        }
        var score = discovered == 0 ? 1.0 : (double)minimum / discovered;
        return (score, wasted);
    }

    /// <summary>dive's FileNode, reduced to what the figures read: name, parent, children, header size, IsDir.</summary>
    private sealed class Node(string name, Node? parent)
    {
        public string Name { get; } = name;
        public Node? Parent { get; } = parent;
        public Dictionary<string, Node>? Children { get; private set; }
        public long Size { get; set; }
        public bool IsDir { get; set; }

        public bool IsLeaf => Children is null || Children.Count == 0;
        public bool IsWhiteout => Name.StartsWith(WhiteoutPrefix, StringComparison.Ordinal);

        public Node AddChild(string childName)
        {
            Children ??= new Dictionary<string, Node>(StringComparer.Ordinal);
            var child = new Node(childName, this);
            Children.Add(childName, child);
            return child;
        }

        public Node? Child(string childName) =>
            Children is not null && Children.TryGetValue(childName, out var child) ? child : null;

        public void RemoveChild(string childName) => Children?.Remove(childName);

        /// <summary>The children in Go's sort.Strings order (byte order of UTF-8, i.e. code point order).</summary>
        public Node[] SortedChildren()
        {
            if (Children is null || Children.Count == 0)
            {
                return [];
            }
            var result = Children.Values.ToArray();
            Array.Sort(result, static (a, b) => CodePointComparer.Compare(a.Name, b.Name));
            return result;
        }

        /// <summary>dive's FileNode.Path(): "/" + names from the root, this node's own ".wh." prefix removed.</summary>
        public string DivePath()
        {
            var names = new List<string>();
            for (var node = this; node.Parent is not null; node = node.Parent)
            {
                var n = node.Name;
                if (ReferenceEquals(node, this) && n.StartsWith(WhiteoutPrefix, StringComparison.Ordinal))
                {
                    n = n[WhiteoutPrefix.Length..];
                }
                names.Add(n);
            }
            names.Reverse();
            return ("/" + string.Join('/', names)).Replace("//", "/", StringComparison.Ordinal);
        }

        /// <summary>Σ size of this node and every node below it (dive's sizer over VisitDepthChildFirst).</summary>
        public long SubtreeSize()
        {
            var total = Parent is null ? 0 : Size; // dive never visits the root
            if (Children is not null)
            {
                foreach (var child in Children.Values)
                {
                    total += child.SubtreeSize();
                }
            }
            return total;
        }

        public Node CopyTo(Node? parent)
        {
            var copy = new Node(Name, parent) { Size = Size, IsDir = IsDir };
            if (Children is not null)
            {
                copy.Children = new Dictionary<string, Node>(Children.Count, StringComparer.Ordinal);
                foreach (var (key, child) in Children)
                {
                    copy.Children.Add(key, child.CopyTo(copy));
                }
            }
            return copy;
        }
    }

    private sealed class Tree
    {
        private Tree(Node root) => Root = root;

        public Node Root { get; }
        public long FileSize { get; private set; }

        /// <summary>dive's processLayerTar/getFileList: every entry but "." adds its header size and goes through AddPath.</summary>
        public static Tree FromEntries(IReadOnlyList<AnalysisEntry> entries)
        {
            var tree = new Tree(new Node("", null));
            foreach (var entry in entries)
            {
                var name = TarPath.Clean(entry.Path);
                if (name == ".")
                {
                    continue;
                }
                // dive reads the tar header size of every entry; ours is 0 for non-regular entries, as their headers say.
                tree.FileSize += entry.Kind == EntryKind.File ? entry.Size : 0;
                tree.AddPath(name, entry.Kind == EntryKind.File ? entry.Size : 0, entry.Kind == EntryKind.Dir);
            }
            return tree;
        }

        public Tree Copy() => new(Root.CopyTo(null));

        /// <summary>dive's FileTree.AddPath (path.Clean, then walk/create, payload on the last node).</summary>
        public void AddPath(string path, long size, bool isDir)
        {
            var clean = TarPath.Clean(path);
            if (clean == ".")
            {
                return; // dive: "cannot add relative path" error, ignored by its callers here
            }
            var names = clean.Trim('/').Split('/');
            var node = Root;
            for (var idx = 0; idx < names.Length; idx++)
            {
                var name = names[idx];
                if (name.Length == 0)
                {
                    continue;
                }
                var child = node.Child(name);
                if (child is null)
                {
                    if (name.StartsWith(DoubleWhiteoutPrefix, StringComparison.Ordinal))
                    {
                        return;
                    }
                    child = node.AddChild(name);
                }
                node = child;
                if (idx == names.Length - 1)
                {
                    node.Size = size;
                    node.IsDir = isDir;
                }
            }
        }

        /// <summary>dive's FileTree.GetNode: split on '/', skip empty names, no cleaning.</summary>
        public Node? GetNode(string path)
        {
            var node = Root;
            foreach (var name in TarPath.Elements(path))
            {
                var child = node.Child(name);
                if (child is null)
                {
                    return null;
                }
                node = child;
            }
            return node;
        }

        /// <summary>dive's FileTree.Stack: every node of <paramref name="upper"/>, children first in name order;
        /// a whiteout removes its path (a failure is ignored), any other node is added with its payload.</summary>
        public void Stack(Tree upper) => StackNode(upper.Root);

        private void StackNode(Node upperNode)
        {
            foreach (var child in upperNode.SortedChildren())
            {
                StackNode(child);
            }
            if (upperNode.Parent is null)
            {
                return; // dive never visits the root
            }
            var path = upperNode.DivePath();
            if (upperNode.IsWhiteout)
            {
                var target = GetNode(path);
                if (target?.Parent is not null)
                {
                    target.Parent.RemoveChild(target.Name);
                }
            }
            else
            {
                AddPath(path, upperNode.Size, upperNode.IsDir);
            }
        }

        /// <summary>dive's VisitDepthChildFirst with the IsLeaf evaluator; the visitor returns false to stop the walk.</summary>
        public void VisitLeavesChildFirst(Func<Node, bool> visitor) => VisitNode(Root, visitor);

        private static bool VisitNode(Node node, Func<Node, bool> visitor)
        {
            foreach (var child in node.SortedChildren())
            {
                if (!VisitNode(child, visitor))
                {
                    return false;
                }
            }
            if (node.Parent is null || !node.IsLeaf)
            {
                return true;
            }
            return visitor(node);
        }
    }

    /// <summary>Orders strings by Unicode code point (= UTF-8 byte order, Go's string order), not by UTF-16 unit.</summary>
    private static class CodePointComparer
    {
        public static int Compare(string a, string b)
        {
            var n = Math.Min(a.Length, b.Length);
            for (var i = 0; i < n; i++)
            {
                var x = a[i];
                var y = b[i];
                if (x != y)
                {
                    return Fix(x) - Fix(y);
                }
            }
            return a.Length - b.Length;
        }

        // Surrogates (U+D800–DFFF) encode code points above U+FFFF: move them above U+E000–FFFF.
        private static int Fix(char c) => c >= 0xD800 ? (c >= 0xE000 ? c - 0x800 : c + 0x2000) : c;
    }
}
