using System.IO.Compression;
using System.Runtime.InteropServices;
using LayerStats.Core.IO;

namespace LayerStats.Core.Layers;

/// <summary>
/// A gzip decoder (RFC 1952, multi-member, so estargz too) over the zlib that ships with .NET
/// (System.IO.Compression.Native, zlib-ng). Unlike <see cref="GZipStream"/>, which silently returns end-of-stream on
/// truncated input, it reports a member that the input ends inside of, and zlib checks every member's CRC-32 and
/// length. Bytes after the last complete member that do not start another member are left unread (the caller
/// counts them into the blob digest). When the native library cannot be bound (e.g. a NativeAOT build) the reader
/// falls back to <see cref="GZipStream"/>; see <see cref="IsAvailable"/>.
/// </summary>
internal sealed class GzipDecoder : ForwardReadStream
{
    private const int InputSize = 256 * 1024;
    private const int WindowBitsGzip = 31;
    private const int ZOk = 0;
    private const int ZStreamEnd = 1;
    private const int ZBufError = -5;
    private const int ZNoFlush = 0;

    private static readonly Lazy<bool> s_available = new(Probe);

    /// <summary>
    /// Input buffers of disposed decoders, for the next ones. The buffer must stay put while zlib points into it, so it
    /// is pinned, and a pinned array is freed only by a full (gen-2) collection: allocated anew per layer, 2,000 small
    /// images' 4,000 layers spent a quarter of the scan's CPU in those collections.
    /// </summary>
    private static readonly System.Collections.Concurrent.ConcurrentStack<byte[]> s_inputs = new();

    /// <summary>At most this many buffers are kept (decoders at once: one per worker, two with read-ahead).</summary>
    private static readonly int s_keptInputs = 2 * Environment.ProcessorCount + 2;

    private readonly Stream _source;
    private byte[] _input = s_inputs.TryPop(out var input) ? input : GC.AllocateUninitializedArray<byte>(InputSize, pinned: true);
    private ZStream _zs;
    private bool _initialised;
    private bool _memberDone;
    private bool _finished;
    private bool _sourceEof;
    private long _members;

    public GzipDecoder(Stream source)
    {
        _source = source;
        Init();
    }

    /// <summary>True when the runtime's zlib could be bound.</summary>
    public static bool IsAvailable => s_available.Value;

    /// <summary>Members fully decoded so far.</summary>
    public long Members => _members;

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        byte[] rented = new byte[buffer.Length];
        int n = ReadAsync(rented.AsMemory(), CancellationToken.None).AsTask().GetAwaiter().GetResult();
        rented.AsSpan(0, n).CopyTo(buffer);
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.IsEmpty || _finished)
        {
            return 0;
        }

        if (!MemoryMarshal.TryGetArray<byte>(buffer, out var output) || output.Array is null)
        {
            throw new NotSupportedException("the gzip decoder reads into array-backed memory only");
        }

        while (true)
        {
            if (_zs.AvailIn == 0 && !_sourceEof)
            {
                int n = await _source.ReadAsync(_input.AsMemory(), cancellationToken).ConfigureAwait(false);
                if (n == 0)
                {
                    _sourceEof = true;
                }
                else
                {
                    _zs.NextIn = Marshal.UnsafeAddrOfPinnedArrayElement(_input, 0);
                    _zs.AvailIn = (uint)n;
                }
            }

            if (_memberDone)
            {
                // Between members: another one starts with 1f 8b; anything else (or nothing) ends the stream.
                if (_zs.AvailIn == 0)
                {
                    if (_sourceEof)
                    {
                        _finished = true;
                        return 0;
                    }

                    continue;
                }

                if (_zs.AvailIn == 1 && !_sourceEof)
                {
                    // Need the second magic byte: move the one byte to the front and read more behind it.
                    _input[0] = Marshal.ReadByte(_zs.NextIn);
                    int n = await _source.ReadAsync(_input.AsMemory(1), cancellationToken).ConfigureAwait(false);
                    if (n == 0)
                    {
                        _sourceEof = true;
                    }

                    _zs.NextIn = Marshal.UnsafeAddrOfPinnedArrayElement(_input, 0);
                    _zs.AvailIn = (uint)(1 + n);
                }

                if (_zs.AvailIn < 2 || Marshal.ReadByte(_zs.NextIn) != 0x1f || Marshal.ReadByte(_zs.NextIn, 1) != 0x8b)
                {
                    _finished = true;
                    return 0;
                }

                Reset();
            }

            if (_zs.AvailIn == 0 && _sourceEof)
            {
                throw new LayerFormatException(
                    $"truncated gzip stream: the blob ends inside gzip member {_members + 1} (before its end and CRC trailer)");
            }

            int produced = Inflate(output);
            if (produced > 0)
            {
                return produced;
            }
        }
    }

    private int Inflate(ArraySegment<byte> output)
    {
        var handle = GCHandle.Alloc(output.Array, GCHandleType.Pinned);
        int rc;
        uint before = (uint)output.Count;
        try
        {
            _zs.NextOut = Marshal.UnsafeAddrOfPinnedArrayElement(output.Array!, output.Offset);
            _zs.AvailOut = before;
            rc = Native.Inflate(ref _zs, ZNoFlush);
        }
        finally
        {
            handle.Free();
        }

        int produced = (int)(before - _zs.AvailOut);
        _zs.NextOut = IntPtr.Zero;
        switch (rc)
        {
            case ZStreamEnd:
                _memberDone = true;
                _members++;
                break;
            case ZOk:
                break;
            case ZBufError when _zs.AvailIn == 0:
                break; // needs more input
            default:
                string detail = _zs.Msg != IntPtr.Zero ? Marshal.PtrToStringAnsi(_zs.Msg) ?? "" : "";
                throw new LayerFormatException(
                    $"corrupt gzip stream in member {_members + 1}: zlib error {rc}{(detail.Length > 0 ? ": " + detail : "")}");
        }

        return produced;
    }

    private void Init()
    {
        _zs = default;
        int rc = Native.InflateInit2(ref _zs, WindowBitsGzip);
        if (rc != ZOk)
        {
            throw new InvalidOperationException($"zlib inflateInit2 failed: {rc}");
        }

        _initialised = true;
    }

    private void Reset()
    {
        IntPtr nextIn = _zs.NextIn;
        uint availIn = _zs.AvailIn;
        End();
        Init();
        _zs.NextIn = nextIn;
        _zs.AvailIn = availIn;
        _memberDone = false;
    }

    private void End()
    {
        if (_initialised)
        {
            _initialised = false;
            _ = Native.InflateEnd(ref _zs);
        }
    }

    private static bool Probe()
    {
        try
        {
            var zs = default(ZStream);
            if (Native.InflateInit2(ref zs, WindowBitsGzip) != ZOk)
            {
                return false;
            }

            _ = Native.InflateEnd(ref zs);
            return true;
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException or BadImageFormatException)
        {
            return false;
        }
    }

    protected override void Dispose(bool disposing)
    {
        End();
        if (disposing && _input.Length > 0)
        {
            var input = _input;
            _input = [];
            _zs.NextIn = IntPtr.Zero;
            _zs.AvailIn = 0;
            if (s_inputs.Count < s_keptInputs)
            {
                s_inputs.Push(input);
            }
        }

        base.Dispose(disposing);
    }

    ~GzipDecoder()
    {
        End();
    }

    /// <summary>The PAL_ZStream of System.IO.Compression.Native (pal_zlib.h); the real z_stream lives behind InternalState.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct ZStream
    {
        public IntPtr NextIn;
        public IntPtr NextOut;
        public IntPtr Msg;
        public IntPtr InternalState;
        public uint AvailIn;
        public uint AvailOut;
    }

    private static class Native
    {
        private const string Library = "System.IO.Compression.Native";

        [DllImport(Library, EntryPoint = "CompressionNative_InflateInit2_")]
        public static extern int InflateInit2(ref ZStream stream, int windowBits);

        [DllImport(Library, EntryPoint = "CompressionNative_Inflate")]
        public static extern int Inflate(ref ZStream stream, int flush);

        [DllImport(Library, EntryPoint = "CompressionNative_InflateEnd")]
        public static extern int InflateEnd(ref ZStream stream);
    }
}
