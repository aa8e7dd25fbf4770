namespace LayerStats.Core.Analysis;

/// <summary>
/// The per-image analysis of a scan's images, done once for the bottom layers that images share. Images built on the
/// same base have the same first contents (diff_ids), and <see cref="ImageAnalyzer"/>'s state after a layer that is not
/// an image's top one depends only on the layers added so far: so the state after a shared prefix is kept (a copy, within
/// <see cref="BudgetBytes"/>) when the first of its images is analysed, and the next ones go on from a copy of it instead
/// of reading and adding those layers again. The figures are the same (tested against <see cref="ImageAnalysis.Analyze"/>).
/// <para>
/// The images that are still to be analysed are told first (<see cref="Expect"/>), and <see cref="Forget"/> once
/// analysed or failed: a state is kept only where another expected image will continue from it, at the deepest layer
/// that the same images share, and let go when the last image that could use it is forgotten. Not thread-safe.
/// </para>
/// </summary>
internal sealed class SharedPrefixAnalysis(long budgetBytes)
{
    /// <summary>What the scan's writer gives it: a few small states (a base of ~16,000 paths takes ~1.5 MB).</summary>
    public const long DefaultBudgetBytes = 16L << 20;

    private readonly Node _root = new(null, "");
    private readonly Dictionary<object, Node> _expected = new(ReferenceEqualityComparer.Instance);

    /// <summary>The bytes the states kept may take (<see cref="ImageAnalyzer.AllocatedBytes"/>).</summary>
    public long BudgetBytes { get; } = budgetBytes;

    /// <summary>Bytes held by the states kept now.</summary>
    public long HeldBytes { get; private set; }

    /// <summary>States kept now.</summary>
    public int HeldStates { get; private set; }

    /// <summary>Layers not added again because an image went on from a kept state (for tests and timings).</summary>
    public int LayersShared { get; private set; }

    /// <summary>Whether <paramref name="image"/> is expected (told and not forgotten yet).</summary>
    public bool IsExpected(object image) => _expected.ContainsKey(image);

    /// <summary>
    /// <paramref name="image"/> (any object, compared by reference) will be analysed, with these contents bottom to top.
    /// An image already expected is left as it is.
    /// </summary>
    public void Expect(object image, IReadOnlyList<string> diffIds)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(diffIds);
        if (_expected.ContainsKey(image))
        {
            return;
        }

        // Nodes at depths 1 … n − 1: the prefixes after which the image still has a layer to add.
        var node = _root;
        for (var k = 0; k + 1 < diffIds.Count; k++)
        {
            node.Children ??= new Dictionary<string, Node>(StringComparer.Ordinal);
            if (!node.Children.TryGetValue(diffIds[k], out var child))
            {
                child = new Node(node, diffIds[k]);
                node.Children.Add(diffIds[k], child);
            }

            child.Waiting++;
            node = child;
        }

        _expected.Add(image, node);
    }

    /// <summary><paramref name="image"/> was analysed or failed: the states only it could still use go.</summary>
    public void Forget(object image)
    {
        if (!_expected.Remove(image, out var node))
        {
            return;
        }

        for (var current = node; current != _root; current = current.Parent!)
        {
            current.Waiting--;
            if (current.Waiting == 0)
            {
                Drop(current);
                current.Parent!.Children!.Remove(current.Key);
            }
        }
    }

    /// <summary>
    /// The figures of <paramref name="image"/> (expected or not), whose layer k has the content
    /// <paramref name="diffIds"/>[k] and the entries <paramref name="openLayer"/>(k): from the deepest kept state of its
    /// bottom layers, keeping on the way the states that other expected images will go on from. The image stays
    /// expected until <see cref="Forget"/>.
    /// </summary>
    public ImageFigures Analyze(object image, IReadOnlyList<string> diffIds, Func<int, IEnumerable<AnalysisEntry>> openLayer)
    {
        ArgumentNullException.ThrowIfNull(diffIds);
        ArgumentNullException.ThrowIfNull(openLayer);
        var layerCount = diffIds.Count;
        if (layerCount == 1)
        {
            return ImageAnalysis.AnalyzeStreamed(1, openLayer);
        }

        // The image's path of nodes (depths 1 … n − 1, as far as they exist) and the deepest state on it.
        var path = new Node?[layerCount];
        var expected = _expected.ContainsKey(image);
        ImageAnalyzer? start = null;
        var node = _root;
        for (var k = 1; k < layerCount && node.Children is not null && node.Children.TryGetValue(diffIds[k - 1], out var child); k++)
        {
            path[k] = child;
            node = child;
            if (child.State is { } state)
            {
                start = state;
            }
        }

        var analyzer = start?.ContinueAs(layerCount) ?? new ImageAnalyzer(layerCount);
        LayersShared += analyzer.LayersAdded;
        return ImageAnalyzer.Finish(analyzer, openLayer, (added, current) => Offer(path, added, current, expected ? 1 : 0));
    }

    /// <summary>Keeps the state after <paramref name="added"/> layers when another expected image goes on from it and no
    /// deeper state would serve the same images.</summary>
    private void Offer(Node?[] path, int added, ImageAnalyzer analyzer, int self)
    {
        if (path[added] is not { State: null } node)
        {
            return;
        }

        var others = node.Waiting - self;
        var deeper = added + 1 < path.Length && path[added + 1] is { } next ? next.Waiting - self : 0;
        if (others <= 0 || deeper >= others)
        {
            return; // no other image goes on from here, or all that do share the next layer too
        }

        var bytes = analyzer.AllocatedBytes;
        if (HeldBytes + bytes > BudgetBytes)
        {
            return;
        }

        node.State = analyzer.Snapshot();
        node.StateBytes = bytes;
        HeldBytes += bytes;
        HeldStates++;
    }

    private void Drop(Node node)
    {
        if (node.State is not null)
        {
            node.State = null;
            HeldBytes -= node.StateBytes;
            HeldStates--;
            node.StateBytes = 0;
        }
    }

    /// <summary>A prefix of contents: the expected images that have it below a layer of their own, and its kept state.</summary>
    private sealed class Node(Node? parent, string key)
    {
        public Node? Parent { get; } = parent;

        public string Key { get; } = key;

        public Dictionary<string, Node>? Children { get; set; }

        public int Waiting { get; set; }

        public ImageAnalyzer? State { get; set; }

        public long StateBytes { get; set; }
    }
}
