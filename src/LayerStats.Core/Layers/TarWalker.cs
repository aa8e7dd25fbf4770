using System.Buffers;
using System.IO.Hashing;
using System.Security.Cryptography;
using System.Text;

namespace LayerStats.Core.Layers;

/// <summary>
/// A pull-based tar walker (ustar, pax, GNU long names, old-GNU and PAX 0.0/0.1/1.0 sparse, star, v7) that hashes
/// regular files as their bytes stream through the input buffer and hands one <see cref="FileEntry"/> per entry
/// to the sink, in archive order. It stops at the end-of-archive blocks, or where the stream ends at a header
/// boundary (as Go's archive/tar does); the caller drains what follows.
/// </summary>
internal sealed class TarWalker : IDisposable
{
    private const int Block = TarHeader.BlockSize;
    private const int MaxMetaSize = 1 << 20;     // PAX / GNU long-name data, as Go's archive/tar limits it
    private const int MaxSparseMapSize = 16 << 20; // PAX 1.0 in-data sparse map

    /// <summary>
    /// The most hole bytes one sparse file may have: they are hashed as zeros, so a header of a few bytes could claim
    /// petabytes. 1 TiB covers the largest real ones (a lastlog for UIDs up to 2^31 is 627 GB) and hashes in about a minute.
    /// </summary>
    internal static long MaxSparseHoleBytes { get; set; } = 1L << 40;

    private static readonly byte[] s_zeros = new byte[64 * 1024];
    private static readonly long s_epochTicks = DateTimeOffset.UnixEpoch.UtcTicks;

    private readonly TarInput _in;
    private readonly IFileEntrySink _sink;
    private readonly XxHash128 _xxh = new();
    private readonly IncrementalHash? _sha;
    private readonly PaxHeader _pax = new();
    private readonly List<long> _gnuSparse = [];
    private FileEntry[] _batch;
    private int _count;
    private int _seq;
    private string? _longName;
    private string? _longLink;
    private string? _lastPath;

    public TarWalker(TarInput input, FileHashing hashing, IFileEntrySink sink, int batchSize)
    {
        _in = input;
        _sink = sink;
        _sha = hashing == FileHashing.Xxh128AndSha256 ? IncrementalHash.CreateHash(HashAlgorithmName.SHA256) : null;
        _batch = ArrayPool<FileEntry>.Shared.Rent(batchSize);
    }

    /// <summary>Walks to the end of the archive and returns the number of entries written to the sink.</summary>
    public async Task<int> WalkAsync(CancellationToken ct)
    {
        while (await NextAsync(ct).ConfigureAwait(false))
        {
        }

        if (_count > 0)
        {
            await _sink.WriteAsync(_batch.AsMemory(0, _count), ct).ConfigureAwait(false);
            _count = 0;
        }

        return _seq;
    }

    private bool PendingMeta => _pax.Any || _longName is not null || _longLink is not null;

    private async ValueTask<bool> NextAsync(CancellationToken ct)
    {
        int have = await _in.EnsureAsync(Block, ct).ConfigureAwait(false);
        if (have == 0)
        {
            if (PendingMeta)
            {
                throw Truncated("the stream ends after an extended header, before its entry");
            }

            return false; // the stream ends at a header boundary: accepted, like Go's archive/tar
        }

        if (have < Block)
        {
            throw Truncated("the stream ends inside a header block");
        }

        if (TarHeader.IsZeroBlock(_in.Span))
        {
            _in.Advance(Block);
            have = await _in.EnsureAsync(Block, ct).ConfigureAwait(false);
            if (have == 0)
            {
                return false;
            }

            if (have < Block)
            {
                throw Truncated("the stream ends inside the end-of-archive blocks");
            }

            if (!TarHeader.IsZeroBlock(_in.Span))
            {
                throw new LayerFormatException(
                    "malformed tar: a single zero block followed by a header (end-of-archive needs two zero blocks)", _lastPath);
            }

            _in.Advance(Block);
            return false;
        }

        byte type = _in.Span[156];
        bool isMeta = type is (byte)'x' or (byte)'g' or (byte)'L' or (byte)'K' or (byte)'V' or (byte)'X';
        bool wantName = !isMeta && _longName is null && _pax.Path is null && _pax.SparseName is null;
        bool wantLink = type is (byte)'1' or (byte)'2' && _longLink is null && _pax.LinkPath is null;
        if (type != (byte)'S')
        {
            _gnuSparse.Clear();
        }

        var hdr = TarHeader.Parse(_in.Span, wantName, wantLink, _gnuSparse, _lastPath);
        _in.Advance(Block);

        switch (type)
        {
            case (byte)'x':
            case (byte)'X': // Solaris' name for a PAX extended header
                {
                    byte[] data = await ReadMetaAsync(hdr.Size, "PAX extended header", ct).ConfigureAwait(false);
                    try
                    {
                        _pax.Parse(data.AsSpan(0, (int)hdr.Size), _lastPath);
                    }
                    finally
                    {
                        ArrayPool<byte>.Shared.Return(data);
                    }

                    return true;
                }

            case (byte)'L':
            case (byte)'K':
                {
                    byte[] data = await ReadMetaAsync(hdr.Size, "GNU long name", ct).ConfigureAwait(false);
                    ReadOnlySpan<byte> text = data.AsSpan(0, (int)hdr.Size);
                    int nul = text.IndexOf((byte)0);
                    string value = Encoding.UTF8.GetString(nul < 0 ? text : text[..nul]);
                    ArrayPool<byte>.Shared.Return(data);
                    if (type == (byte)'L')
                    {
                        _longName = value;
                    }
                    else
                    {
                        _longLink = value;
                    }

                    return true;
                }

            case (byte)'g': // PAX global header: not an entry; its records are not applied (as Go's archive/tar)
            case (byte)'V': // GNU volume header: not an entry
                await SkipDataAsync(hdr.Size, ct).ConfigureAwait(false);
                return true;

            case (byte)'M':
                throw new LayerFormatException("unsupported tar: GNU multi-volume continuation entry", Resolve(hdr));
        }

        await EntryAsync(hdr, ct).ConfigureAwait(false);
        return true;
    }

    private string Resolve(in TarHeader hdr) =>
        EntryPaths.Normalize(_longName ?? _pax.SparseName ?? _pax.Path ?? hdr.Name ?? "");

    private async ValueTask EntryAsync(TarHeader hdr, CancellationToken ct)
    {
        string path = Resolve(hdr);
        _lastPath = path;
        byte type = hdr.TypeFlag;
        long dataSize = _pax.Size ?? hdr.Size;

        EntryKind kind = type switch
        {
            (byte)'0' or (byte)'7' or (byte)'S' => EntryKind.File,
            0 => hdr.NameEndsWithSlash ? EntryKind.Dir : EntryKind.File,
            (byte)'1' => EntryKind.Hardlink,
            (byte)'2' => EntryKind.Symlink,
            (byte)'3' => EntryKind.CharDevice,
            (byte)'4' => EntryKind.BlockDevice,
            (byte)'5' or (byte)'D' => EntryKind.Dir,
            (byte)'6' => EntryKind.Fifo,
            _ => EntryKind.File, // POSIX: an unknown type is read as a regular file
        };

        if (type is (byte)'1' or (byte)'2' or (byte)'3' or (byte)'4' or (byte)'5' or (byte)'6')
        {
            dataSize = 0; // header-only types carry no data, whatever the size field says (as Go's archive/tar)
        }

        string? link = kind switch
        {
            EntryKind.Hardlink => EntryPaths.Normalize(_longLink ?? _pax.LinkPath ?? hdr.LinkName ?? ""),
            EntryKind.Symlink => _longLink ?? _pax.LinkPath ?? hdr.LinkName ?? "",
            _ => null,
        };

        if (type == (byte)'S' && hdr.SparseExtended)
        {
            await ReadGnuSparseExtensionsAsync(path, ct).ConfigureAwait(false); // they precede the data, whatever the entry turns out to be
        }

        bool sparse = type == (byte)'S' || (_pax.IsSparse && kind == EntryKind.File);
        if (EntryPaths.WhiteoutKind(path) is { } whiteout)
        {
            kind = whiteout;
            link = null;
        }

        long size = 0;
        UInt128? xxh = null;
        byte[]? sha = null;
        try
        {
            if (kind == EntryKind.File)
            {
                _xxh.Reset();
                if (sparse)
                {
                    size = await HashSparseAsync(hdr, dataSize, path, ct).ConfigureAwait(false);
                }
                else
                {
                    size = dataSize;
                    await HashDataAsync(dataSize, path, ct).ConfigureAwait(false);
                    await SkipPaddingAsync(dataSize, ct).ConfigureAwait(false);
                }

                xxh = _xxh.GetCurrentHashAsUInt128();
                sha = _sha?.GetHashAndReset();
            }
            else
            {
                await SkipDataAsync(dataSize, ct).ConfigureAwait(false);
            }
        }
        catch (LayerFormatException ex) when (ex.EntryPath is null)
        {
            throw new LayerFormatException(ex.Message, path, ex.InnerException ?? ex);
        }

        long mtimeTicks = _pax.MTimeTicks ?? (Math.Clamp(hdr.MTimeSeconds, -62135596800L, 253402300799L) * TimeSpan.TicksPerSecond);
        var mtime = new DateTimeOffset(Math.Clamp(s_epochTicks + mtimeTicks, 0, DateTimeOffset.MaxValue.UtcTicks), TimeSpan.Zero);

        _batch[_count++] = new FileEntry(
            _seq++, path, kind, size, hdr.Mode, _pax.Uid ?? hdr.Uid, _pax.Gid ?? hdr.Gid, mtime, link, xxh, sha);

        _pax.Reset();
        _longName = null;
        _longLink = null;

        if (_count == _batch.Length)
        {
            await _sink.WriteAsync(_batch.AsMemory(0, _count), ct).ConfigureAwait(false);
            _count = 0;
        }
    }

    private async ValueTask HashDataAsync(long count, string path, CancellationToken ct)
    {
        while (count > 0)
        {
            if (_in.Buffered == 0 && await _in.EnsureAsync(1, ct).ConfigureAwait(false) == 0)
            {
                throw new LayerFormatException(
                    $"truncated tar: the stream ends inside the file's data ({count} bytes missing)", path);
            }

            int take = (int)Math.Min(count, _in.Buffered);
            HashBuffered(take);
            count -= take;
        }
    }

    private void HashBuffered(int take)
    {
        ReadOnlySpan<byte> span = _in.Span[..take];
        _xxh.Append(span);
        _sha?.AppendData(span);
        _in.Advance(take);
    }

    private void HashZeros(long count, CancellationToken ct)
    {
        while (count > 0)
        {
            ct.ThrowIfCancellationRequested();
            int take = (int)Math.Min(count, s_zeros.Length);
            _xxh.Append(s_zeros.AsSpan(0, take));
            _sha?.AppendData(s_zeros, 0, take);
            count -= take;
        }
    }

    private async ValueTask SkipDataAsync(long count, CancellationToken ct)
    {
        if (!await _in.SkipAsync(count, ct).ConfigureAwait(false))
        {
            throw Truncated("the stream ends inside an entry's data");
        }

        await SkipPaddingAsync(count, ct).ConfigureAwait(false);
    }

    // A stream that ends inside the padding after the last entry's data is accepted (as Go's archive/tar does);
    // the next header read then sees the end.
    private async ValueTask SkipPaddingAsync(long count, CancellationToken ct) =>
        await _in.SkipAsync(Padding(count), ct).ConfigureAwait(false);

    private static int Padding(long size) => (int)((Block - (size % Block)) % Block);

    private async ValueTask<byte[]> ReadMetaAsync(long size, string what, CancellationToken ct)
    {
        if (size > MaxMetaSize)
        {
            throw new LayerFormatException($"malformed tar: {what} of {size} bytes exceeds the {MaxMetaSize}-byte limit", _lastPath);
        }

        byte[] data = ArrayPool<byte>.Shared.Rent((int)Math.Max(size, 1));
        int filled = 0;
        while (filled < size)
        {
            if (_in.Buffered == 0 && await _in.EnsureAsync(1, ct).ConfigureAwait(false) == 0)
            {
                ArrayPool<byte>.Shared.Return(data);
                throw Truncated($"the stream ends inside a {what}");
            }

            int take = (int)Math.Min(size - filled, _in.Buffered);
            _in.Span[..take].CopyTo(data.AsSpan(filled));
            _in.Advance(take);
            filled += take;
        }

        await SkipPaddingAsync(size, ct).ConfigureAwait(false);
        return data;
    }

    /// <summary>Hashes a sparse file's logical content (holes as zeros) and returns its logical size.</summary>
    private async ValueTask<long> HashSparseAsync(TarHeader hdr, long dataSize, string path, CancellationToken ct)
    {
        List<long> map;
        long logical;
        long physical = dataSize;
        if (hdr.TypeFlag == (byte)'S')
        {
            map = _gnuSparse; // header entries and extension blocks, read by EntryAsync
            logical = hdr.RealSize;
        }
        else if (_pax.SparseMajor == 1 && _pax.SparseMinor == 0)
        {
            logical = _pax.SparseRealSize ?? _pax.SparseSize
                ?? throw new LayerFormatException("malformed sparse PAX 1.0 header: no GNU.sparse.realsize", path);
            map = _pax.SparseMap;
            map.Clear();
            long mapBytes = await ReadSparseMap1x0Async(map, dataSize, path, ct).ConfigureAwait(false);
            physical = dataSize - mapBytes;
        }
        else if (_pax.SparseMajor is -1 or 0 && _pax.SparseMinor is -1 or 0 or 1)
        {
            logical = _pax.SparseSize ?? _pax.SparseRealSize
                ?? throw new LayerFormatException("malformed sparse PAX 0.x header: no GNU.sparse.size", path);
            map = _pax.SparseMap;
            if (map.Count % 2 != 0 || (_pax.SparseNumBlocks is { } n && n != map.Count / 2))
            {
                throw new LayerFormatException("malformed sparse PAX 0.x header: GNU.sparse.numblocks does not match the map", path);
            }
        }
        else
        {
            throw new LayerFormatException(
                $"unsupported sparse file format (GNU.sparse.major={_pax.SparseMajor}, minor={_pax.SparseMinor})", path);
        }

        // Validate (as Go's archive/tar): ordered, non-overlapping fragments inside the logical size, whose lengths
        // add up to the data stored in the archive.
        long end = 0;
        long stored = 0;
        for (int i = 0; i < map.Count; i += 2)
        {
            long offset = map[i];
            long length = map[i + 1];
            if (offset < 0 || length < 0 || offset > long.MaxValue - length || offset < end || offset + length > logical)
            {
                throw new LayerFormatException(
                    $"malformed sparse map: fragment {i / 2} ({offset}+{length}) is out of order or beyond the size {logical}", path);
            }

            end = offset + length;
            stored += length;
        }

        if (logical < 0 || stored != physical)
        {
            throw new LayerFormatException(
                $"malformed sparse file: the sparse map covers {stored} bytes but the archive stores {physical}", path);
        }

        if (logical - stored > MaxSparseHoleBytes)
        {
            throw new LayerFormatException(
                $"unsupported sparse file: it claims {logical} bytes, of which {logical - stored} are holes, beyond the {MaxSparseHoleBytes}-byte limit of holes hashed per file", path);
        }

        long pos = 0;
        for (int i = 0; i < map.Count; i += 2)
        {
            HashZeros(map[i] - pos, ct);
            await HashDataAsync(map[i + 1], path, ct).ConfigureAwait(false);
            pos = map[i] + map[i + 1];
        }

        HashZeros(logical - pos, ct);
        await SkipPaddingAsync(physical, ct).ConfigureAwait(false);
        return logical;
    }

    /// <summary>Old GNU sparse: the map goes on in 512-byte extension blocks of 21 entries each, after the header.</summary>
    private async ValueTask ReadGnuSparseExtensionsAsync(string path, CancellationToken ct)
    {
        bool extended = true;
        while (extended)
        {
            if (await _in.EnsureAsync(Block, ct).ConfigureAwait(false) < Block)
            {
                throw new LayerFormatException("truncated tar: the stream ends inside a GNU sparse extension header", path);
            }

            extended = TarHeader.ParseSparseEntries(_in.Span[..Block], 21, _gnuSparse, path);
            _in.Advance(Block);
            if (_gnuSparse.Count > MaxSparseMapSize / 8)
            {
                throw new LayerFormatException("malformed GNU sparse header: sparse map too large", path);
            }
        }
    }

    /// <summary>PAX 1.0: the map is decimal text at the start of the data (count, then offset/length pairs, one a line),
    /// padded to a block. Returns the bytes it took.</summary>
    private async ValueTask<long> ReadSparseMap1x0Async(List<long> map, long dataSize, string path, CancellationToken ct)
    {
        var text = new List<byte>();
        long blocks = 0;
        int newlines = 0;
        int pos = 0;
        long count = -1;
        while (true)
        {
            // Parse the tokens that are complete so far.
            while (newlines > 0 && (count < 0 || map.Count < count * 2))
            {
                int nl = text.IndexOf((byte)'\n', pos);
                var token = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(text)[pos..nl];
                if (!PaxHeader.TryParseDecimal(token, out long value))
                {
                    throw new LayerFormatException("malformed sparse PAX 1.0 map: not a decimal number", path);
                }

                pos = nl + 1;
                newlines--;
                if (count < 0)
                {
                    count = value;
                    if (count > MaxSparseMapSize / 16)
                    {
                        throw new LayerFormatException("malformed sparse PAX 1.0 map: too many fragments", path);
                    }
                }
                else
                {
                    map.Add(value);
                }
            }

            if (count >= 0 && map.Count == count * 2)
            {
                return blocks * Block;
            }

            if ((blocks + 1) * Block > dataSize)
            {
                throw new LayerFormatException("malformed sparse PAX 1.0 map: it runs past the entry's data", path);
            }

            if (await _in.EnsureAsync(Block, ct).ConfigureAwait(false) < Block)
            {
                throw new LayerFormatException("truncated tar: the stream ends inside a sparse PAX 1.0 map", path);
            }

            ReadOnlySpan<byte> block = _in.Span[..Block];
            newlines += block.Count((byte)'\n');
            text.AddRange(block);

            _in.Advance(Block);
            blocks++;
        }
    }

    private LayerFormatException Truncated(string what) =>
        new($"truncated tar: {what}", _lastPath);

    public void Dispose()
    {
        _sha?.Dispose();
        if (_batch.Length > 0)
        {
            ArrayPool<FileEntry>.Shared.Return(_batch, clearArray: true);
            _batch = [];
        }
    }
}
