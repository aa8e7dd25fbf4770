using System.Buffers;
using System.Text.Unicode;
using LayerStats.Core.Layers;

namespace LayerStats.Core.Analysis;

/// <summary>
/// The per-image figures (hidden bytes and dive's figures, <see cref="ImageFigures"/>) from the layers fed one at a time,
/// bottom to top, each as a stream of its entries, holding one <see cref="PathTrie"/> node per distinct path of the
/// image (~42 bytes plus the name and a hash-table slot) and nothing per entry.
/// <para>
/// <b>Hidden bytes</b> bottom-up: each path keeps the bytes and count of the regular files below the current layer
/// that no layer has hidden yet ("pending"). An entry of the current layer hides the pending files at its path (any
/// non-whiteout entry), below its path (a non-directory), at and below a whited-out path, or below an opaque directory;
/// the layer's own regular files then become pending at their path, flagged as the current layer's so that the
/// layer's other entries never hide them (DESIGN.md §3: only a later layer hides). Entry order does not matter.
/// </para>
/// <para>
/// <b>dive's figures</b> (the steps of the former DiveAnalysis, which tests keep as an oracle): dive's tree of the
/// current layer is a set of flags and a payload (size, is-dir; of the entry with the highest seq) on the trie nodes;
/// the stacked tree of the layers below (dive's StackTreeRange) is a second flag set and payload; a path record (dive's
/// efficiency map) is a minimum and a 0/1/≥2 count on the node of its path, Σ minimum, Σ cumulative and the wasted
/// bytes are running totals. The leaves of the layer's tree are visited in any order unless a node of the layer is
/// named <c>.wh.*</c> or <c>..</c>; then (a whiteout may stop dive's walk, and stacking order matters) the layer's
/// nodes are put in dive's order: depth first, children before parents, siblings in byte order.
/// </para>
/// </summary>
internal sealed class ImageAnalyzer
{
    private const int Root = PathTrie.Root;

    // PathNode.Flags
    private const ushort Touched = 1;        // in _touched (reset at the end of the layer)
    private const ushort CurPresent = 2;     // a node of the current layer's dive tree
    private const ushort CurIsDir = 4;
    private const ushort CurHasChild = 8;
    private const ushort CurWritten = 16;    // an entry of the current layer set the payload (CurSeq is its seq)
    private const ushort PendCurrent = 32;   // the pending files here are the current layer's
    private const ushort StackPresent = 64;  // a node of the stacked tree of the layers below
    private const ushort StackIsDir = 128;
    private const int RecordShift = 8;       // 2 bits: 0 no record, 1 record with no node, 2 one node, 3 two or more
    private const ushort LayerFlags = Touched | CurPresent | CurIsDir | CurHasChild | CurWritten | PendCurrent;

    private static ReadOnlySpan<byte> WhiteoutPrefix => ".wh."u8;
    private static ReadOnlySpan<byte> MetaPrefix => ".wh..wh."u8;
    private static ReadOnlySpan<byte> DoubleWhiteoutPrefix => ".wh..wh.."u8;
    private static ReadOnlySpan<byte> DotDot => ".."u8;

    private const int Wide = int.MinValue; // a size field whose value is in _wide

    private readonly PathTrie _trie;
    private readonly Dictionary<long, long> _wide; // (node << 2 | slot) -> size; the sizes of 2 GiB and more
    private readonly int _layerCount;
    private readonly IntList _touched = new();
    private readonly IntList _scratch = new();
    private readonly IntList _order = new();
    private readonly IntList _frames = new();
    private int _layer;
    private bool _ordered; // the current layer needs dive's visiting order

    // The previous entry's path (UTF-8) and resolved elements, so that a run of entries in one directory resolves its
    // common prefix once.
    private byte[] _path = new byte[256];
    private byte[] _previousPath = new byte[256];
    private int _previousLength;
    private int[] _ends = new int[16];
    private int[] _previousEnds = new int[16];
    private int _previousElements;
    private int[] _chain = new int[16];

    private long _hiddenBytes, _hiddenFiles;
    private long _size, _userSize, _minimum, _cumulative, _wasted;

    public ImageAnalyzer(int layerCount)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(layerCount);
        _layerCount = layerCount;
        _trie = new PathTrie();
        _wide = [];
    }

    /// <summary>A copy of <paramref name="source"/>'s state after its first layers, going on as an image of <paramref name="layerCount"/> layers.</summary>
    private ImageAnalyzer(ImageAnalyzer source, int layerCount)
    {
        _layerCount = layerCount;
        _trie = source._trie.Clone();
        _wide = source._wide.Count == 0 ? [] : new Dictionary<long, long>(source._wide); // sizes of 2 GiB and more are rare
        _layer = source._layer;
        _hiddenBytes = source._hiddenBytes;
        _hiddenFiles = source._hiddenFiles;
        _size = source._size;
        _userSize = source._userSize;
        _minimum = source._minimum;
        _cumulative = source._cumulative;
        _wasted = source._wasted;
        OrderedLayers = source.OrderedLayers;
        StoppedWalks = source.StoppedWalks;
    }

    /// <summary>The number of layers added so far.</summary>
    public int LayersAdded => _layer;

    /// <summary>
    /// A copy of the state after the layers added so far, to be continued (<see cref="ContinueAs"/>) by any image whose
    /// bottom layers are the same contents: after a layer that was not the image's top one, the state depends only on the
    /// layers added (the top layer alone is not stacked), not on how many follow. Not after the top layer.
    /// </summary>
    public ImageAnalyzer Snapshot()
    {
        if (_layer == 0 || _layer >= _layerCount)
        {
            throw new InvalidOperationException(_layer == 0 ? "no layer was added yet" : "the top layer was added: its state is not a prefix's");
        }
        return new ImageAnalyzer(this, _layerCount);
    }

    /// <summary>A copy of this snapshot going on as an image of <paramref name="layerCount"/> layers (more than were added).</summary>
    public ImageAnalyzer ContinueAs(int layerCount)
    {
        if (layerCount <= _layer)
        {
            throw new ArgumentOutOfRangeException(nameof(layerCount), $"the snapshot holds {_layer} layers already");
        }
        return new ImageAnalyzer(this, layerCount);
    }

    /// <summary>The number of distinct paths held (trie nodes, the root included).</summary>
    public int DistinctPaths => _trie.Count;

    /// <summary>Layers so far whose nodes had to be put in dive's order (a name <c>.wh.*</c> or <c>..</c>).</summary>
    internal int OrderedLayers { get; private set; }

    /// <summary>Layers so far whose walk a whiteout absent below stopped (dive's GetNode error).</summary>
    internal int StoppedWalks { get; private set; }

    /// <summary>Bytes allocated for the trie (nodes, names, hash table).</summary>
    public long AllocatedBytes => _trie.AllocatedBytes + 4L * (_touched.Capacity + _scratch.Capacity + _order.Capacity + _frames.Capacity) + 24L * _wide.Count;

    /// <summary>The figures of the layers fed through <paramref name="openLayer"/>(0 … layerCount − 1), bottom to top.</summary>
    public static ImageFigures Analyze(int layerCount, Func<int, IEnumerable<AnalysisEntry>> openLayer)
    {
        var analyzer = new ImageAnalyzer(layerCount);
        return Finish(analyzer, openLayer, null);
    }

    /// <summary>
    /// Adds the layers from <paramref name="analyzer"/>'s next one to its top, offering the state after each layer but
    /// the top one to <paramref name="afterLayer"/> (the number of layers added, and the analyzer, which it may
    /// <see cref="Snapshot"/>), and returns the figures.
    /// </summary>
    internal static ImageFigures Finish(ImageAnalyzer analyzer, Func<int, IEnumerable<AnalysisEntry>> openLayer, Action<int, ImageAnalyzer>? afterLayer)
    {
        var (figures, allocated) = AddRemaining(analyzer, openLayer, afterLayer);
        if (allocated >= ReleaseAfterBytes)
        {
            // A big trie (~73 bytes a distinct path: 70 MB for a million) is garbage now, but little is allocated after
            // an image's analysis, so no collection would come to free it before the scan's end-of-run step, which then
            // ran beside it (benchmarks/README.md, "Peak memory"). A blocking collection with little live costs a few ms.
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        }
        return figures;
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static (ImageFigures Figures, long Allocated) AddRemaining(ImageAnalyzer analyzer, Func<int, IEnumerable<AnalysisEntry>> openLayer, Action<int, ImageAnalyzer>? afterLayer)
    {
        var layerCount = analyzer._layerCount;
        for (var k = analyzer._layer; k < layerCount; k++)
        {
            analyzer.AddLayer(openLayer(k));
            if (k + 1 < layerCount)
            {
                afterLayer?.Invoke(k + 1, analyzer);
            }
        }
        return (analyzer.Result(), analyzer.AllocatedBytes);
    }

    /// <summary>The trie size from which an analysis gives its memory back at once (smaller ones are left to the GC).</summary>
    internal const long ReleaseAfterBytes = 32L << 20;

    /// <summary>
    /// Adds the next layer (bottom to top). Its entries may come in any order: where a path is written twice, the
    /// entry with the higher <see cref="AnalysisEntry.Seq"/> wins, on equal seqs the later one (so a list in archive
    /// order needs no seqs).
    /// </summary>
    public void AddLayer(IEnumerable<AnalysisEntry> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        if (_layer == _layerCount)
        {
            throw new InvalidOperationException($"all {_layerCount} layers were already added");
        }
        _ordered = false;
        _previousElements = 0;
        _previousLength = 0;
        long fileSize = 0;
        foreach (var entry in entries)
        {
            var clean = TarPath.Clean(entry.Path);
            if (clean == ".")
            {
                continue; // dive skips "."; the root hides nothing
            }
            var size = entry.Kind == EntryKind.File ? entry.Size : 0;
            fileSize += size;
            var elements = Resolve(clean);
            if (elements == 0)
            {
                continue; // "/": dive counts its size, nothing else sees it
            }
            AddToLayerTree(elements, entry.Kind, size, entry.Seq);
            Hide(elements, entry.Kind, size);
        }

        _size += fileSize;
        if (_layer > 0)
        {
            _userSize += fileSize;
        }
        var last = _layer == _layerCount - 1;
        if (_layer == 0)
        {
            CopyLayerToStack(); // dive looks layer 0's whiteouts up in a copy of layer 0's own tree
        }
        if (_ordered)
        {
            OrderedLayers++;
            DiveOrder();
            VisitOrdered();
            if (!last)
            {
                StackOrdered();
            }
        }
        else
        {
            VisitUnordered();
            if (!last && _layer > 0)
            {
                CopyLayerToStack(); // without whiteouts and "..", stacking a tree sets each of its nodes' payload
            }
        }

        var touched = _touched.AsSpan();
        for (var i = 0; i < touched.Length; i++)
        {
            _trie[touched[i]].Flags &= unchecked((ushort)~LayerFlags);
        }
        _touched.Clear();
        _layer++;
    }

    /// <summary>The figures, once every layer was added.</summary>
    public ImageFigures Result()
    {
        if (_layer != _layerCount)
        {
            throw new InvalidOperationException($"{_layer} of {_layerCount} layers were added");
        }
        var efficiency = _cumulative == 0 ? 1.0 : (double)_minimum / _cumulative;
        return new ImageFigures(_hiddenBytes, _hiddenFiles, efficiency, _wasted, (double)_wasted / _userSize, _size, _userSize);
    }

    /// <summary>Resolves the elements of a cleaned path into <see cref="_chain"/>; returns their number.</summary>
    private int Resolve(string clean)
    {
        var chars = clean.AsSpan().TrimStart('/');
        if (chars.Length == 0)
        {
            return 0;
        }
        if (_path.Length < chars.Length * 3)
        {
            _path = new byte[Math.Max(chars.Length * 3, _path.Length * 2)];
        }
        var status = Utf8.FromUtf16(chars, _path, out _, out var length, replaceInvalidSequences: false);
        if (status != OperationStatus.Done)
        {
            length = EncodeWtf8(chars, _path);
        }
        var path = _path.AsSpan(0, length);
        var common = path.CommonPrefixLength(_previousPath.AsSpan(0, _previousLength));
        var matching = true;
        var count = 0;
        var start = 0;
        while (start < length)
        {
            var slash = path[start..].IndexOf((byte)'/');
            var end = slash < 0 ? length : start + slash;
            if (end > start)
            {
                if (count == _chain.Length)
                {
                    Array.Resize(ref _chain, count * 2);
                    Array.Resize(ref _ends, count * 2);
                    Array.Resize(ref _previousEnds, count * 2);
                }
                matching = matching && end <= common && count < _previousElements && _previousEnds[count] == end;
                if (!matching)
                {
                    _chain[count] = _trie.GetOrAdd(count == 0 ? Root : _chain[count - 1], path[start..end]);
                }
                _ends[count] = end;
                count++;
            }
            start = end + 1;
        }
        (_path, _previousPath) = (_previousPath, _path);
        (_ends, _previousEnds) = (_previousEnds, _ends);
        _previousLength = length;
        _previousElements = count;
        return count;
    }

    /// <summary>UTF-8, with a lone surrogate encoded as its own 3-byte sequence (WTF-8): distinct strings stay distinct.</summary>
    private static int EncodeWtf8(ReadOnlySpan<char> chars, byte[] output)
    {
        var at = 0;
        for (var i = 0; i < chars.Length; i++)
        {
            int c = chars[i];
            if (char.IsHighSurrogate(chars[i]) && i + 1 < chars.Length && char.IsLowSurrogate(chars[i + 1]))
            {
                c = char.ConvertToUtf32(chars[i], chars[i + 1]);
                i++;
            }
            if (c < 0x80)
            {
                output[at++] = (byte)c;
            }
            else if (c < 0x800)
            {
                output[at++] = (byte)(0xC0 | (c >> 6));
                output[at++] = (byte)(0x80 | (c & 0x3F));
            }
            else if (c < 0x10000)
            {
                output[at++] = (byte)(0xE0 | (c >> 12));
                output[at++] = (byte)(0x80 | ((c >> 6) & 0x3F));
                output[at++] = (byte)(0x80 | (c & 0x3F));
            }
            else
            {
                output[at++] = (byte)(0xF0 | (c >> 18));
                output[at++] = (byte)(0x80 | ((c >> 12) & 0x3F));
                output[at++] = (byte)(0x80 | ((c >> 6) & 0x3F));
                output[at++] = (byte)(0x80 | (c & 0x3F));
            }
        }
        return at;
    }

    private void Touch(int node)
    {
        ref var n = ref _trie[node];
        if ((n.Flags & Touched) == 0)
        {
            n.Flags |= Touched;
            _touched.Add(node);
        }
    }

    /// <summary>dive's AddPath on the current layer's tree: missing nodes get an empty payload, a missing node named
    /// <c>.wh..wh..*</c> ends the walk, the entry's own node gets its payload.</summary>
    private void AddToLayerTree(int elements, EntryKind kind, long size, int seq)
    {
        var parent = Root;
        for (var j = 0; j < elements; j++)
        {
            var node = _chain[j];
            if ((_trie[node].Flags & CurPresent) == 0)
            {
                var name = _trie.Name(node);
                if (name.StartsWith(DoubleWhiteoutPrefix))
                {
                    return;
                }
                if (name.StartsWith(WhiteoutPrefix) || name.SequenceEqual(DotDot))
                {
                    _ordered = true;
                }
                Touch(node);
                ref var created = ref _trie[node];
                created.Flags = (ushort)((created.Flags & ~(CurIsDir | CurWritten)) | CurPresent);
                created.CurSize = 0;
                if (parent != Root)
                {
                    _trie[parent].Flags |= CurHasChild;
                }
            }
            parent = node;
        }
        ref var own = ref _trie[parent];
        if ((own.Flags & CurWritten) == 0 || seq >= own.CurSeq)
        {
            own.CurSize = Store(parent, Slot.CurSize, size);
            own.CurSeq = seq;
            own.Flags = (ushort)((own.Flags & ~CurIsDir) | CurWritten | (kind == EntryKind.Dir ? CurIsDir : 0));
        }
    }

    /// <summary>What the entry hides of the pending files of the layers below; a regular file becomes pending.</summary>
    private void Hide(int elements, EntryKind kind, long size)
    {
        var node = _chain[elements - 1];
        var parent = elements > 1 ? _chain[elements - 2] : Root;
        switch (kind)
        {
            case EntryKind.OpaqueWhiteout:
                HideBelow(parent);
                break;
            case EntryKind.Whiteout:
                var name = _trie.Name(node);
                if (name.StartsWith(MetaPrefix) || !name.StartsWith(WhiteoutPrefix) || name.Length == WhiteoutPrefix.Length)
                {
                    break; // AUFS metadata (.wh..wh.plnk, …) or a malformed name: hides nothing
                }
                var target = _trie.Find(parent, name[WhiteoutPrefix.Length..]);
                if (target >= 0)
                {
                    HideAt(target);
                    HideBelow(target);
                }
                break;
            case EntryKind.Dir:
                HideAt(node);
                break;
            default:
                HideAt(node);
                HideBelow(node);
                if (kind == EntryKind.File)
                {
                    Touch(node);
                    ref var n = ref _trie[node];
                    n.PendBytes = Store(node, Slot.PendBytes, Load(n.PendBytes, node, Slot.PendBytes) + size);
                    n.PendCount++;
                    n.Flags |= PendCurrent;
                }
                break;
        }
    }

    private void HideAt(int node)
    {
        ref var n = ref _trie[node];
        if (n.PendCount != 0 && (n.Flags & PendCurrent) == 0)
        {
            _hiddenBytes += Load(n.PendBytes, node, Slot.PendBytes);
            _hiddenFiles += n.PendCount;
            n.PendBytes = 0;
            n.PendCount = 0;
        }
    }

    private void HideBelow(int node)
    {
        var stack = _scratch;
        stack.Clear();
        for (var c = _trie[node].FirstChild; c >= 0; c = _trie[c].NextSibling)
        {
            stack.Add(c);
        }
        while (stack.Count > 0)
        {
            var current = stack.Pop();
            HideAt(current);
            for (var c = _trie[current].FirstChild; c >= 0; c = _trie[c].NextSibling)
            {
                stack.Add(c);
            }
        }
    }

    /// <summary>Every node of the current layer's tree takes its payload into the stacked tree (dive's Copy of layer 0's
    /// tree; and dive's Stack of a layer without whiteout names and "..", where the order cannot matter).</summary>
    private void CopyLayerToStack()
    {
        var touched = _touched.AsSpan();
        for (var i = 0; i < touched.Length; i++)
        {
            ref var n = ref _trie[touched[i]];
            if ((n.Flags & CurPresent) != 0)
            {
                n.StackSize = Store(touched[i], Slot.StackSize, Load(n.CurSize, touched[i], Slot.CurSize));
                n.Flags = (ushort)((n.Flags & ~StackIsDir) | StackPresent | ((n.Flags & CurIsDir) != 0 ? StackIsDir : 0));
            }
        }
    }

    private void VisitUnordered()
    {
        var touched = _touched.AsSpan();
        for (var i = 0; i < touched.Length; i++)
        {
            ref var n = ref _trie[touched[i]];
            if ((n.Flags & (CurPresent | CurHasChild)) == CurPresent)
            {
                Record(touched[i], Load(n.CurSize, touched[i], Slot.CurSize)); // no whiteout leaf in this layer
            }
        }
    }

    /// <summary>The nodes of the current layer's tree in dive's order (children first, siblings in byte order) into _order.</summary>
    private void DiveOrder()
    {
        _order.Clear();
        var children = _scratch;
        children.Clear();
        // Frames of 4 ints (node, start and count of its children in `children`, the next child to visit) on an IntList.
        var frames = _frames;
        frames.Clear();
        PushChildren(Root, children, frames);
        while (frames.Count > 0)
        {
            var top = frames.Count - 4;
            var (node, start, count, next) = (frames[top], frames[top + 1], frames[top + 2], frames[top + 3]);
            if (next < count)
            {
                frames[top + 3] = next + 1;
                PushChildren(children[start + next], children, frames);
                continue;
            }
            frames.Count = top;
            children.Count = start;
            if (node != Root)
            {
                _order.Add(node);
            }
        }
    }

    /// <summary>Pushes the frame of <paramref name="node"/>: its children of the current layer, sorted by name, onto <paramref name="children"/>.</summary>
    private void PushChildren(int node, IntList children, IntList frames)
    {
        var start = children.Count;
        for (var c = _trie[node].FirstChild; c >= 0; c = _trie[c].NextSibling)
        {
            if ((_trie[c].Flags & CurPresent) != 0)
            {
                children.Add(c);
            }
        }
        var count = children.Count - start;
        if (count > 1)
        {
            children.AsSpan().Slice(start, count).Sort(new NameOrder(_trie));
        }
        frames.Add(node);
        frames.Add(start);
        frames.Add(count);
        frames.Add(0);
    }

    /// <summary>dive's efficiency walk over the current layer's leaves in order; a whiteout not found below stops it.</summary>
    private void VisitOrdered()
    {
        for (var i = 0; i < _order.Count; i++)
        {
            var node = _order[i];
            if ((_trie[node].Flags & CurHasChild) != 0)
            {
                continue;
            }
            var name = _trie.Name(node);
            if (!name.StartsWith(WhiteoutPrefix))
            {
                Record(node, Load(_trie[node].CurSize, node, Slot.CurSize));
                continue;
            }
            var parent = _trie[node].Parent;
            var stripped = name[WhiteoutPrefix.Length..];
            var target = stripped.Length == 0 ? parent : _trie.Find(parent, stripped); // dive's GetNode skips empty names
            var key = _trie.GetOrAdd(parent, stripped); // the record of "/<parent>/<stripped>"
            if (target != Root && (target < 0 || (_trie[target].Flags & StackPresent) == 0))
            {
                EnsureRecord(key);
                StoppedWalks++;
                return; // dive: GetNode fails, the visitor's error ends the walk of this layer
            }
            var size = target != Root && (_trie[target].Flags & StackIsDir) != 0 ? StackedSubtreeSize(target) : 0;
            Record(key, size);
        }
    }

    /// <summary>dive's Stack of the current layer onto the stacked tree, node by node in dive's order.</summary>
    private void StackOrdered()
    {
        for (var i = 0; i < _order.Count; i++)
        {
            var node = _order[i];
            var name = _trie.Name(node);
            if (name.StartsWith(WhiteoutPrefix))
            {
                var parent = _trie[node].Parent;
                var stripped = name[WhiteoutPrefix.Length..];
                var target = stripped.Length == 0 ? parent : _trie.Find(parent, stripped);
                if (target > Root && (_trie[target].Flags & StackPresent) != 0)
                {
                    RemoveFromStack(target);
                }
            }
            else
            {
                StackAddPath(node);
            }
        }
    }

    /// <summary>dive's AddPath(path.Clean(node's path), payload) on the stacked tree: a rooted clean drops leading "..".</summary>
    private void StackAddPath(int node)
    {
        var chain = _scratch;
        chain.Clear();
        for (var n = node; n != Root; n = _trie[n].Parent)
        {
            chain.Add(n);
        }
        var top = chain.Count - 1; // chain runs from the node (0) up to the root's child (top)
        while (top >= 0 && _trie.Name(chain[top]).SequenceEqual(DotDot))
        {
            top--;
        }
        if (top < 0)
        {
            return; // "/.." cleans to "/": dive's AddPath adds nothing
        }
        if (top != chain.Count - 1)
        {
            var parent = Root;
            for (var j = top; j >= 0; j--)
            {
                parent = _trie.GetOrAdd(parent, _trie.Name(chain[j]));
                chain[j] = parent;
            }
        }
        for (var j = top; j >= 0; j--)
        {
            ref var n = ref _trie[chain[j]];
            if ((n.Flags & StackPresent) == 0)
            {
                if (_trie.Name(chain[j]).StartsWith(DoubleWhiteoutPrefix))
                {
                    return;
                }
                n.StackSize = 0;
                n.Flags = (ushort)((n.Flags & ~StackIsDir) | StackPresent);
            }
        }
        ref var source = ref _trie[node];
        var size = Load(source.CurSize, node, Slot.CurSize);
        var isDir = (source.Flags & CurIsDir) != 0;
        ref var target = ref _trie[chain[0]];
        target.StackSize = Store(chain[0], Slot.StackSize, size);
        target.Flags = (ushort)((target.Flags & ~StackIsDir) | (isDir ? StackIsDir : 0));
    }

    private void RemoveFromStack(int node)
    {
        var stack = _scratch;
        stack.Clear();
        stack.Add(node);
        while (stack.Count > 0)
        {
            var current = stack.Pop();
            _trie[current].Flags &= unchecked((ushort)~(StackPresent | StackIsDir));
            for (var c = _trie[current].FirstChild; c >= 0; c = _trie[c].NextSibling)
            {
                if ((_trie[c].Flags & StackPresent) != 0)
                {
                    stack.Add(c);
                }
            }
        }
    }

    /// <summary>Σ payload size of the node and every node below it in the stacked tree.</summary>
    private long StackedSubtreeSize(int node)
    {
        var stack = _scratch;
        stack.Clear();
        stack.Add(node);
        long total = 0;
        while (stack.Count > 0)
        {
            var current = stack.Pop();
            total += Load(_trie[current].StackSize, current, Slot.StackSize);
            for (var c = _trie[current].FirstChild; c >= 0; c = _trie[c].NextSibling)
            {
                if ((_trie[c].Flags & StackPresent) != 0)
                {
                    stack.Add(c);
                }
            }
        }
        return total;
    }

    private void EnsureRecord(int node)
    {
        ref var n = ref _trie[node];
        if ((n.Flags >> RecordShift & 3) == 0)
        {
            n.RecMin = -1;
            _minimum -= 1;
            n.Flags |= 1 << RecordShift;
        }
    }

    /// <summary>One node of a layer's tree adds its size to the record of its path (dive's efficiency map).</summary>
    private void Record(int node, long size)
    {
        EnsureRecord(node);
        ref var n = ref _trie[node];
        var state = n.Flags >> RecordShift & 3;
        var old = Load(n.RecMin, node, Slot.RecMin);
        var minimum = old < 0 || size < old ? size : old;
        _minimum += minimum - old;
        n.RecMin = Store(node, Slot.RecMin, minimum);
        _cumulative += size;
        if (state == 2)
        {
            _wasted += old + size; // the record's cumulative so far is its one node's size, = its minimum
        }
        else if (state == 3)
        {
            _wasted += size;
        }
        if (state < 3)
        {
            n.Flags = (ushort)((n.Flags & ~(3 << RecordShift)) | ((state + 1) << RecordShift));
        }
    }

    /// <summary>A size as a node keeps it: in its int field, or, when it does not fit, in <see cref="_wide"/>.</summary>
    private long Load(int stored, int node, Slot slot) => stored != Wide ? stored : _wide[((long)node << 2) | (long)slot];

    /// <summary>The int to keep in the node's field for a size (the marker <see cref="Wide"/> when it does not fit).</summary>
    private int Store(int node, Slot slot, long value)
    {
        if (value > int.MinValue && value <= int.MaxValue)
        {
            return (int)value;
        }
        _wide[((long)node << 2) | (long)slot] = value;
        return Wide;
    }

    private enum Slot
    {
        CurSize,
        StackSize,
        RecMin,
        PendBytes,
    }

    /// <summary>Byte order of the UTF-8 names (Go's string order, dive's sort.Strings).</summary>
    private readonly struct NameOrder(PathTrie trie) : IComparer<int>
    {
        public int Compare(int x, int y) => trie.Name(x).SequenceCompareTo(trie.Name(y));
    }

    /// <summary>A growable list of ints with span access.</summary>
    private sealed class IntList
    {
        private int[] _items = new int[64];

        public int Count { get; set; }
        public int Capacity => _items.Length;

        public int this[int index]
        {
            get => _items[index];
            set => _items[index] = value;
        }

        public void Add(int value)
        {
            if (Count == _items.Length)
            {
                Array.Resize(ref _items, _items.Length * 2);
            }
            _items[Count++] = value;
        }

        public int Pop() => _items[--Count];

        public void Clear() => Count = 0;

        public Span<int> AsSpan() => _items.AsSpan(0, Count);
    }
}
