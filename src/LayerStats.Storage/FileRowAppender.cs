using System.Numerics;
using System.Runtime.CompilerServices;
using System.Text;
using DuckDB.NET.Data;
using DuckDB.NET.Native;
using LayerStats.Core.Layers;
using NativeAppender = DuckDB.NET.Native.DuckDBAppender;

namespace LayerStats.Storage;

/// <summary>
/// Appends <see cref="FileEntry"/> rows to the <c>files</c> table by filling DuckDB data chunks directly through the C API
/// (DuckDB.NET's native bindings) and handing each full chunk (2,048 rows, one DuckDB vector) to a native appender.
/// DuckDB.NET's own appender fills the same kind of chunk, but through a generic dispatch per value, a
/// <see cref="BigInteger"/> per xxh128 and a marshalled string per text; this writes each column's slot in place:
/// integers and xxh128 (uhugeint_t: lower 64 bits, then upper — the layout of <see cref="UInt128"/>) as they are,
/// mtime as microseconds since the epoch (floor, as DuckDB.NET stores a <see cref="DateTimeOffset"/>), strings of at
/// most 12 UTF-8 bytes inlined in their string_t, longer ones and the sha256 blob encoded into a native heap of this
/// appender's that their string_t point at (DuckDB's appender copies a chunk's strings when it takes the chunk, so the
/// heap is reused for the next chunk: no call into DuckDB per string), the diff_id (the same in every row) once a chunk,
/// its string_t repeated.
/// DuckDB's appender does not check what is written into a chunk's vectors (a value of another width corrupts rows, DuckDB.NET
/// issue 251), so the table's 13 column types are checked against <see cref="ColumnTypes"/> once, when this is created.
/// DuckDB's errors come as <see cref="InvalidOperationException"/> with DuckDB's message. One thread at a time.
/// </summary>
internal sealed unsafe class FileRowAppender : IDisposable
{
    /// <summary>The <c>files</c> columns in table order, as schema.sql declares them.</summary>
    internal static readonly DuckDBType[] ColumnTypes =
    [
        DuckDBType.Varchar, // diff_id
        DuckDBType.Integer, // seq
        DuckDBType.Varchar, // path
        DuckDBType.Varchar, // kind
        DuckDBType.BigInt, // size
        DuckDBType.Integer, // mode
        DuckDBType.BigInt, // uid
        DuckDBType.BigInt, // gid
        DuckDBType.TimestampTz, // mtime
        DuckDBType.Varchar, // link_target (NULL)
        DuckDBType.UnsignedHugeInt, // xxh128 (NULL)
        DuckDBType.Blob, // sha256 (NULL)
        DuckDBType.BigInt, // content_id
    ];

    private const int DiffIdColumn = 0, SeqColumn = 1, PathColumn = 2, KindColumn = 3, SizeColumn = 4, ModeColumn = 5, UidColumn = 6,
        GidColumn = 7, MtimeColumn = 8, LinkColumn = 9, XxhColumn = 10, ShaColumn = 11, ContentIdColumn = 12;

    /// <summary>Rows of a chunk: DuckDB's vector size (STANDARD_VECTOR_SIZE).</summary>
    private const int ChunkRows = 2048;

    /// <summary>duckdb_string_t is 16 bytes: a uint32 length, then 12 inlined bytes, or a 4-byte prefix and a pointer.</summary>
    private const int InlineLength = 12;

    /// <summary>The kind names as inlined string_t values (all at most 12 bytes).</summary>
    private static readonly UInt128[] KindStrings = CreateKindStrings();

    private readonly NativeAppender _appender;
    private readonly DuckDBDataChunk _chunk;
    private readonly IntPtr[] _vectors = new IntPtr[ColumnTypes.Length];
    private readonly byte*[] _data = new byte*[ColumnTypes.Length];
    private ulong* _linkValidity;
    private ulong* _xxhValidity;
    private ulong* _shaValidity;
    private string _diffId;
    private long _contentId;

    /// <summary>The chunk's row whose diff_id string_t the next rows of the same content copy; -1: none yet.</summary>
    private int _diffIdRow = -1;

    /// <summary>
    /// The bytes of the chunk's strings longer than 12 bytes, which their string_t point at: DuckDB's appender copies
    /// them (with the chunk, into its own collection) before <see cref="AppendChunk"/> reuses this from the start.
    /// </summary>
    private readonly byte* _heap;
    private int _heapUsed;

    /// <summary>The string heap's size: rows of ~150 bytes of long strings fill a chunk of 2,048 in ~300 KiB.</summary>
    private const int HeapBytes = 1 << 20;

    /// <summary>A row whose strings might need more than this goes to DuckDB's own vector heap instead (never in practice).</summary>
    private const int HeapRowLimit = HeapBytes / 4;
    private int _rows;
    private bool _closed;

    public FileRowAppender(DuckDBConnection connection, string diffId, long contentId)
    {
        _diffId = diffId;
        _contentId = contentId;
        _heap = (byte*)System.Runtime.InteropServices.NativeMemory.Alloc(HeapBytes);
        if (NativeMethods.Appender.DuckDBAppenderCreate(connection.NativeConnection, null, "files", out _appender) != DuckDBState.Success)
        {
            string error = Error(_appender);
            _appender.Dispose();
            System.Runtime.InteropServices.NativeMemory.Free(_heap);
            throw new InvalidOperationException(error);
        }

        try
        {
            ulong count = NativeMethods.Appender.DuckDBAppenderColumnCount(_appender);
            if (count != (ulong)ColumnTypes.Length)
            {
                throw new InvalidOperationException($"the files table has {count} columns, the appender writes {ColumnTypes.Length}");
            }

            var types = new DuckDBLogicalType[ColumnTypes.Length];
            try
            {
                var handles = new IntPtr[ColumnTypes.Length];
                for (int i = 0; i < types.Length; i++)
                {
                    types[i] = NativeMethods.Appender.DuckDBAppenderColumnType(_appender, (ulong)i);
                    var id = NativeMethods.LogicalType.DuckDBGetTypeId(types[i]);
                    if (id != ColumnTypes[i])
                    {
                        throw new InvalidOperationException($"column {i} of the files table is {id}, the appender writes {ColumnTypes[i]}");
                    }

                    handles[i] = types[i].DangerousGetHandle();
                }

                _chunk = NativeMethods.DataChunks.DuckDBCreateDataChunk(handles, (ulong)handles.Length);
            }
            finally
            {
                foreach (var type in types)
                {
                    type?.Dispose();
                }
            }

            PrepareChunk();
        }
        catch
        {
            _chunk?.Dispose();
            _appender.Dispose();
            System.Runtime.InteropServices.NativeMemory.Free(_heap);
            throw;
        }
    }

    /// <summary>Adds the rows (written to the table a chunk at a time, and by <see cref="Close"/>).</summary>
    public void Append(ReadOnlySpan<FileEntry> entries)
    {
        ObjectDisposedException.ThrowIf(_closed, this);
        foreach (ref readonly var e in entries)
        {
            if (_rows == ChunkRows || (_rows > 0 && _heapUsed + HeapBound(in e) > HeapBytes))
            {
                AppendChunk();
            }

            WriteRow(_rows, in e);
            _rows++;
        }
    }

    /// <summary>
    /// The rows appended from now on are those of another layer content (a group commit appends several contents'
    /// rows through one appender: <see cref="DuckDbScanStore.BeginGroup"/>).
    /// </summary>
    public void SetContent(string diffId, long contentId)
    {
        ObjectDisposedException.ThrowIf(_closed, this);
        if (diffId != _diffId)
        {
            _diffId = diffId;
            _diffIdRow = -1;
        }

        _contentId = contentId;
    }

    /// <summary>
    /// Closes <paramref name="appender"/> (if any) and frees it; the reference is cleared first, so that the appender is
    /// gone even when closing it throws (disk full...).
    /// </summary>
    public static void Close(ref FileRowAppender? appender)
    {
        var closing = appender;
        appender = null;
        if (closing is not null)
        {
            using (closing)
            {
                closing.Close();
            }
        }
    }

    /// <summary>Writes the rows still held and closes the appender (its rows go into the connection's transaction).</summary>
    public void Close()
    {
        if (_closed)
        {
            return;
        }

        if (_rows > 0)
        {
            AppendChunk();
        }

        _closed = true;
        if (NativeMethods.Appender.DuckDBAppenderClose(_appender) != DuckDBState.Success)
        {
            throw new InvalidOperationException(Error(_appender));
        }
    }

    /// <summary>Drops what is not yet written (rows held here and in DuckDB's appender) and frees the native objects.</summary>
    public void Dispose()
    {
        if (!_closed)
        {
            _closed = true;
            _ = NativeMethods.Appender.DuckDBAppenderClear(_appender);
        }

        _chunk.Dispose();
        _appender.Dispose();
        if (!_freed)
        {
            _freed = true;
            System.Runtime.InteropServices.NativeMemory.Free(_heap);
        }
    }

    private bool _freed;

    /// <summary>At most the heap bytes a row's strings take (UTF-8: at most 3 bytes a UTF-16 unit).</summary>
    private int HeapBound(in FileEntry e) =>
        Encoding.UTF8.GetMaxByteCount(e.Path.Length)
        + (e.LinkTarget is { } link ? Encoding.UTF8.GetMaxByteCount(link.Length) : 0) + (e.Sha256?.Length ?? 0);

    private void WriteRow(int row, in FileEntry e)
    {
        // diff_id: into the heap once a chunk and content; the content's other rows' string_t point at the same bytes.
        if (_diffIdRow < 0)
        {
            WriteString(DiffIdColumn, row, _diffId);
            _diffIdRow = row;
        }
        else
        {
            ((UInt128*)_data[DiffIdColumn])[row] = ((UInt128*)_data[DiffIdColumn])[_diffIdRow];
        }

        ((int*)_data[SeqColumn])[row] = e.Seq;
        WriteString(PathColumn, row, e.Path);
        ((UInt128*)_data[KindColumn])[row] = KindStrings[(int)e.Kind];
        ((long*)_data[SizeColumn])[row] = e.Size;
        ((int*)_data[ModeColumn])[row] = e.Mode;
        ((long*)_data[UidColumn])[row] = e.Uid;
        ((long*)_data[GidColumn])[row] = e.Gid;
        ((long*)_data[MtimeColumn])[row] = Micros(e.ModificationTime);
        if (e.LinkTarget is { } link)
        {
            SetValid(_linkValidity, row, true);
            WriteString(LinkColumn, row, link);
        }
        else
        {
            SetValid(_linkValidity, row, false);
        }

        if (e.Xxh128 is { } xxh)
        {
            SetValid(_xxhValidity, row, true);
            ((UInt128*)_data[XxhColumn])[row] = xxh;
        }
        else
        {
            SetValid(_xxhValidity, row, false);
        }

        if (e.Sha256 is { } sha)
        {
            SetValid(_shaValidity, row, true);
            WriteBytes(ShaColumn, row, sha);
        }
        else
        {
            SetValid(_shaValidity, row, false);
        }

        ((long*)_data[ContentIdColumn])[row] = _contentId;
    }

    /// <summary>Microseconds since the Unix epoch (UTC), rounded down (as DuckDB.NET's appender stores a DateTimeOffset).</summary>
    internal static long Micros(DateTimeOffset value)
    {
        long ticks = value.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks;
        long micros = ticks / TimeSpan.TicksPerMicrosecond;
        return ticks % TimeSpan.TicksPerMicrosecond < 0 ? micros - 1 : micros;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void SetValid(ulong* validity, int row, bool valid)
    {
        ulong bit = 1UL << (row & 63);
        if (valid)
        {
            validity[row >> 6] |= bit;
        }
        else
        {
            validity[row >> 6] &= ~bit;
        }
    }

    private void WriteString(int column, int row, string value)
    {
        int max = Encoding.UTF8.GetMaxByteCount(value.Length);
        if (max <= HeapRowLimit && _heapUsed + max <= HeapBytes)
        {
            // Encoded straight into the heap; a short string is then inlined and its bytes there reused.
            int length = Encoding.UTF8.GetBytes(value, new Span<byte>(_heap + _heapUsed, HeapBytes - _heapUsed));
            SetString(column, row, _heap + _heapUsed, length);
            return;
        }

        byte[] bytes = Encoding.UTF8.GetBytes(value);
        WriteBytes(column, row, bytes);
    }

    private void WriteBytes(int column, int row, ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length <= InlineLength)
        {
            fixed (byte* p = bytes)
            {
                SetString(column, row, p, bytes.Length);
            }

            return;
        }

        if (bytes.Length <= HeapRowLimit && _heapUsed + bytes.Length <= HeapBytes)
        {
            bytes.CopyTo(new Span<byte>(_heap + _heapUsed, bytes.Length));
            SetString(column, row, _heap + _heapUsed, bytes.Length);
            return;
        }

        fixed (byte* p = bytes)
        {
            // Too long for the heap (never for a tar walk's rows): DuckDB copies it into the vector's own heap.
            NativeMethods.Vectors.DuckDBUnsafeVectorAssignStringElementLength(_vectors[column], (ulong)row, p, bytes.Length);
        }
    }

    /// <summary>
    /// The string_t of <paramref name="length"/> bytes at <paramref name="bytes"/>: at most 12 inlined (zero-padded, as
    /// DuckDB compares the 16 bytes), longer ones (then at the heap's free end) pointing at the heap, which keeps them.
    /// </summary>
    private void SetString(int column, int row, byte* bytes, int length)
    {
        byte* slot = _data[column] + (row * 16);
        if (length <= InlineLength)
        {
            ((UInt128*)slot)[0] = UInt128.Zero;
            *(uint*)slot = (uint)length;
            new ReadOnlySpan<byte>(bytes, length).CopyTo(new Span<byte>(slot + 4, InlineLength));
            return;
        }

        *(uint*)slot = (uint)length;
        *(uint*)(slot + 4) = *(uint*)bytes; // the prefix: the first 4 bytes
        *(byte**)(slot + 8) = bytes;
        _heapUsed += length;
    }

    private void AppendChunk()
    {
        _ = NativeMethods.DataChunks.DuckDBDataChunkSetSize(_chunk, (ulong)_rows);
        if (NativeMethods.Appender.DuckDBAppendDataChunk(_appender, _chunk) != DuckDBState.Success)
        {
            throw new InvalidOperationException(Error(_appender));
        }

        NativeMethods.DataChunks.DuckDBDataChunkReset(_chunk);
        _rows = 0;
        _heapUsed = 0;
        _diffIdRow = -1;
        PrepareChunk();
    }

    /// <summary>The vectors' buffers (again after a reset) and writable validity masks of the nullable columns.</summary>
    private void PrepareChunk()
    {
        for (int i = 0; i < _vectors.Length; i++)
        {
            _vectors[i] = NativeMethods.DataChunks.DuckDBDataChunkGetVector(_chunk, i);
            _data[i] = (byte*)NativeMethods.Vectors.DuckDBVectorGetData(_vectors[i]);
        }

        _linkValidity = Validity(LinkColumn);
        _xxhValidity = Validity(XxhColumn);
        _shaValidity = Validity(ShaColumn);
    }

    private ulong* Validity(int column)
    {
        NativeMethods.Vectors.DuckDBVectorEnsureValidityWritable(_vectors[column]);
        return NativeMethods.Vectors.DuckDBVectorGetValidity(_vectors[column]);
    }

    private static string Error(NativeAppender appender)
    {
        using var error = NativeMethods.Appender.DuckDBAppenderErrorData(appender);
        return NativeMethods.ErrorData.DuckDBErrorDataMessage(error) ?? "the DuckDB appender failed";
    }

    private static UInt128[] CreateKindStrings()
    {
        var kinds = Enum.GetValues<EntryKind>();
        var result = new UInt128[kinds.Length];
        Span<byte> slot = stackalloc byte[16];
        foreach (var kind in kinds)
        {
            byte[] name = Encoding.UTF8.GetBytes(EntryKinds.ToName(kind));
            if (name.Length > InlineLength || (int)kind >= result.Length)
            {
                throw new InvalidOperationException($"kind '{kind}' cannot be inlined");
            }

            slot.Clear();
            BitConverter.TryWriteBytes(slot, (uint)name.Length);
            name.CopyTo(slot[4..]);
            result[(int)kind] = System.Runtime.InteropServices.MemoryMarshal.Read<UInt128>(slot);
        }

        return result;
    }

    /// <summary>
    /// The rows through DuckDB.NET's appender, as the store appended them before this class: the reference the tests and
    /// the benchmark compare with.
    /// </summary>
    internal static void AppendWithDuckDbNet(DuckDB.NET.Data.DuckDBAppender appender, string diffId, long contentId, ReadOnlySpan<FileEntry> entries)
    {
        foreach (ref readonly var e in entries)
        {
            var row = appender.CreateRow()
                .AppendValue(diffId)
                .AppendValue(e.Seq)
                .AppendValue(e.Path)
                .AppendValue(EntryKinds.ToName(e.Kind))
                .AppendValue(e.Size)
                .AppendValue(e.Mode)
                .AppendValue(e.Uid)
                .AppendValue(e.Gid)
                .AppendValue(e.ModificationTime)
                .AppendValue(e.LinkTarget);
            row = e.Xxh128 is { } h ? row.AppendValue((BigInteger)h) : row.AppendNullValue();
            row = e.Sha256 is { } sha ? row.AppendValue(sha) : row.AppendNullValue();
            row.AppendValue(contentId).EndRow();
        }
    }
}
