using System.IO.Hashing;
using System.Runtime.InteropServices;

namespace LayerStats.Core.Analysis;

/// <summary>
/// One node of <see cref="PathTrie"/>: a distinct path of an image (a path element under its parent), with the facts the
/// per-image analysis keeps about it (see <see cref="ImageAnalyzer"/>). 42 bytes: sizes are ints, a size that does not
/// fit is kept aside by the analyzer.
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 2)]
internal struct PathNode
{
    public int Parent;        // -1 for the root
    public int Name;          // reference into the trie's name buffer (UTF-8, length-prefixed)
    public int FirstChild;    // -1 when none; children are a linked list through NextSibling
    public int NextSibling;
    public int CurSeq;        // the seq of the entry that set the current layer's payload
    public int PendCount;     // hidden bytes: regular files at this path not (yet) hidden by a later layer
    public int PendBytes;     // … and their bytes
    public int CurSize;       // dive: payload of this path in the current layer's tree
    public int StackSize;     // dive: payload of this path in the stacked tree of the layers below
    public int RecMin;        // dive: the path record's minimum
    public ushort Flags;
}

/// <summary>
/// The distinct paths of an image as a trie of interned UTF-8 path elements: nodes in fixed-size chunks of structs
/// (never moved once a chunk is full, no per-node object), names in chunked byte buffers, one open-addressing hash table
/// of node indices keyed by (parent, name) for the child look-up. Node 0 is the root (no name).
/// </summary>
internal sealed class PathTrie
{
    public const int Root = 0;
    private const int ChunkBits = 16;
    private const int ChunkSize = 1 << ChunkBits;
    private const int ChunkMask = ChunkSize - 1;

    private readonly List<PathNode[]> _chunks = [new PathNode[256]];
    private readonly NameBuffer _names = new();
    private int[] _table = new int[256]; // node index + 1; 0 = empty
    private int _count;

    public PathTrie()
    {
        _chunks[0][0] = new PathNode { Parent = -1, Name = _names.Add([]), FirstChild = -1, NextSibling = -1 };
        _count = 1;
    }

    private PathTrie(PathTrie source)
    {
        _chunks = new List<PathNode[]>(source._chunks.Count);
        foreach (var chunk in source._chunks)
        {
            _chunks.Add((PathNode[])chunk.Clone());
        }
        _names = source._names.Clone();
        _table = (int[])source._table.Clone();
        _count = source._count;
    }

    /// <summary>An independent copy: the same nodes at the same indices, the same names and hash table.</summary>
    public PathTrie Clone() => new(this);

    /// <summary>The number of nodes (distinct paths, the root included).</summary>
    public int Count => _count;

    /// <summary>Bytes held by the nodes, names and hash table (capacity, not just what is used).</summary>
    public long AllocatedBytes
    {
        get
        {
            long nodes = 0;
            foreach (var chunk in _chunks)
            {
                nodes += (long)chunk.Length * Marshal.SizeOf<PathNode>();
            }
            return nodes + _names.AllocatedBytes + (long)_table.Length * sizeof(int);
        }
    }

    /// <summary>The node; the reference is valid until the next <see cref="GetOrAdd"/>.</summary>
    public ref PathNode this[int index] => ref _chunks[index >> ChunkBits][index & ChunkMask];

    /// <summary>The node's name; the span stays readable after later additions (it may then point into a retired array).</summary>
    public ReadOnlySpan<byte> Name(int index) => _names.Get(this[index].Name);

    /// <summary>The child of <paramref name="parent"/> called <paramref name="name"/>, or -1.</summary>
    public int Find(int parent, ReadOnlySpan<byte> name)
    {
        var mask = _table.Length - 1;
        var slot = Hash(parent, name) & mask;
        while (true)
        {
            var value = _table[slot];
            if (value == 0)
            {
                return -1;
            }
            if (this[value - 1].Parent == parent && Name(value - 1).SequenceEqual(name))
            {
                return value - 1;
            }
            slot = (slot + 1) & mask;
        }
    }

    /// <summary>The child of <paramref name="parent"/> called <paramref name="name"/>, added (all facts zero) when missing.</summary>
    public int GetOrAdd(int parent, ReadOnlySpan<byte> name)
    {
        var mask = _table.Length - 1;
        var slot = Hash(parent, name) & mask;
        while (true)
        {
            var value = _table[slot];
            if (value == 0)
            {
                break;
            }
            if (this[value - 1].Parent == parent && Name(value - 1).SequenceEqual(name))
            {
                return value - 1;
            }
            slot = (slot + 1) & mask;
        }

        var index = _count;
        if (index == int.MaxValue - 1)
        {
            throw new InvalidOperationException("too many distinct paths in one image for the per-image analysis");
        }
        var chunk = index >> ChunkBits;
        if (chunk == _chunks.Count)
        {
            _chunks.Add(new PathNode[ChunkSize]);
        }
        else if ((index & ChunkMask) == _chunks[chunk].Length)
        {
            var grown = _chunks[chunk];
            Array.Resize(ref grown, Math.Min(ChunkSize, grown.Length * 2));
            _chunks[chunk] = grown;
        }
        ref var parentNode = ref this[parent];
        this[index] = new PathNode { Parent = parent, Name = _names.Add(name), FirstChild = -1, NextSibling = parentNode.FirstChild };
        parentNode.FirstChild = index;
        _table[slot] = index + 1;
        _count++;
        if ((long)_count * 4 > (long)_table.Length * 3)
        {
            Grow();
        }
        return index;
    }

    private void Grow()
    {
        var table = new int[_table.Length * 2];
        var mask = table.Length - 1;
        for (var index = 1; index < _count; index++)
        {
            var slot = Hash(this[index].Parent, Name(index)) & mask;
            while (table[slot] != 0)
            {
                slot = (slot + 1) & mask;
            }
            table[slot] = index + 1;
        }
        _table = table;
    }

    private static int Hash(int parent, ReadOnlySpan<byte> name) => (int)XxHash3.HashToUInt64(name, parent);

    /// <summary>Length-prefixed byte strings in chunks of 1 MiB (the first grows up to that); a longer name gets a chunk of its own.</summary>
    private sealed class NameBuffer
    {
        private const int NameChunkBits = 20;
        private const int NameChunkSize = 1 << NameChunkBits;
        private const int MaxChunks = 1 << (31 - NameChunkBits);

        private readonly List<byte[]> _buffers = [new byte[4096]];
        private int _used;

        public NameBuffer Clone()
        {
            var copy = new NameBuffer { _used = _used };
            copy._buffers.Clear();
            foreach (var buffer in _buffers)
            {
                copy._buffers.Add((byte[])buffer.Clone());
            }
            return copy;
        }

        public long AllocatedBytes => _buffers.Sum(b => (long)b.Length);

        public int Add(ReadOnlySpan<byte> name)
        {
            var need = VarIntLength(name.Length) + name.Length;
            var last = _buffers.Count - 1;
            if (_used + need > _buffers[last].Length)
            {
                if (last == 0 && _buffers[0].Length < NameChunkSize && _used + need <= NameChunkSize)
                {
                    var grown = _buffers[0];
                    Array.Resize(ref grown, Math.Min(NameChunkSize, Math.Max(grown.Length * 2, _used + need)));
                    _buffers[0] = grown;
                }
                else
                {
                    if (_buffers.Count == MaxChunks)
                    {
                        throw new InvalidOperationException("too many path names in one image for the per-image analysis");
                    }
                    _buffers.Add(new byte[Math.Max(NameChunkSize, need)]);
                    last++;
                    _used = 0;
                }
            }
            var buffer = _buffers[last];
            var reference = (last << NameChunkBits) | _used;
            var at = _used;
            var length = (uint)name.Length;
            while (length >= 0x80)
            {
                buffer[at++] = (byte)(length | 0x80);
                length >>= 7;
            }
            buffer[at++] = (byte)length;
            name.CopyTo(buffer.AsSpan(at));
            _used = at + name.Length;
            if (need > NameChunkSize)
            {
                _used = buffer.Length; // a chunk of its own: the next name starts a new chunk
            }
            return reference;
        }

        public ReadOnlySpan<byte> Get(int reference)
        {
            var buffer = _buffers[reference >> NameChunkBits];
            var at = reference & (NameChunkSize - 1);
            var length = 0;
            var shift = 0;
            byte b;
            do
            {
                b = buffer[at++];
                length |= (b & 0x7F) << shift;
                shift += 7;
            }
            while (b >= 0x80);
            return buffer.AsSpan(at, length);
        }

        private static int VarIntLength(int value) => value < 0x80 ? 1 : value < 0x4000 ? 2 : value < 0x200000 ? 3 : value < 0x10000000 ? 4 : 5;
    }
}
