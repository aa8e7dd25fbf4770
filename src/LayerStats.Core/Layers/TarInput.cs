using System.Buffers;
using System.Security.Cryptography;

namespace LayerStats.Core.Layers;

/// <summary>
/// The uncompressed tar stream as the tar walker sees it: one pooled buffer, filled by large reads from the
/// decompressor, every byte hashed (diff_id) and counted once, when it lands in the buffer.
/// </summary>
internal sealed class TarInput : IDisposable
{
    public const int DefaultBufferSize = 1024 * 1024;

    private readonly Stream _source;
    private readonly IncrementalHash? _sha256;
    private readonly Func<Exception, Exception?> _translate;
    private byte[] _buffer;
    private int _start;
    private int _end;
    private bool _eof;
    private long _total;

    /// <param name="source">The tar stream.</param>
    /// <param name="hash">Whether to compute the SHA-256 of the stream (false when the caller already hashes these bytes).</param>
    /// <param name="translate">Maps an exception thrown by <paramref name="source"/> to the one to throw (null: rethrow as is).</param>
    public TarInput(Stream source, bool hash, Func<Exception, Exception?> translate, int bufferSize = DefaultBufferSize)
    {
        _source = source;
        _sha256 = hash ? IncrementalHash.CreateHash(HashAlgorithmName.SHA256) : null;
        _translate = translate;
        _buffer = ArrayPool<byte>.Shared.Rent(bufferSize);
    }

    /// <summary>Bytes taken from the source so far.</summary>
    public long Total => _total;

    public int Buffered => _end - _start;

    public ReadOnlySpan<byte> Span => _buffer.AsSpan(_start, _end - _start);

    public void Advance(int count) => _start += count;

    public byte[] GetSha256()
    {
        if (_sha256 is null)
        {
            throw new InvalidOperationException("this input does not hash");
        }

        return _sha256.GetCurrentHash();
    }

    /// <summary>Makes at least <paramref name="count"/> bytes available (fewer only at the end of the stream); returns how many are.</summary>
    public ValueTask<int> EnsureAsync(int count, CancellationToken ct) =>
        _end - _start >= count ? new ValueTask<int>(_end - _start) : FillAsync(count, ct);

    private async ValueTask<int> FillAsync(int count, CancellationToken ct)
    {
        if (_start > 0)
        {
            int have = _end - _start;
            if (have > 0)
            {
                Buffer.BlockCopy(_buffer, _start, _buffer, 0, have);
            }

            _start = 0;
            _end = have;
        }

        while (_end < count && !_eof)
        {
            int n = await ReadSourceAsync(_buffer.AsMemory(_end), ct).ConfigureAwait(false);
            if (n == 0)
            {
                _eof = true;
                break;
            }

            _sha256?.AppendData(_buffer, _end, n);
            _end += n;
            _total += n;
        }

        return _end;
    }

    /// <summary>Consumes <paramref name="count"/> bytes; returns false when the stream ends first.</summary>
    public async ValueTask<bool> SkipAsync(long count, CancellationToken ct)
    {
        while (count > 0)
        {
            if (_end == _start && await EnsureAsync(1, ct).ConfigureAwait(false) == 0)
            {
                return false;
            }

            int take = (int)Math.Min(count, _end - _start);
            _start += take;
            count -= take;
        }

        return true;
    }

    /// <summary>Reads and hashes the rest of the stream.</summary>
    public async ValueTask DrainAsync(CancellationToken ct)
    {
        _start = _end = 0;
        while (!_eof)
        {
            int n = await ReadSourceAsync(_buffer.AsMemory(), ct).ConfigureAwait(false);
            if (n == 0)
            {
                _eof = true;
                break;
            }

            _sha256?.AppendData(_buffer, 0, n);
            _total += n;
        }
    }

    private async ValueTask<int> ReadSourceAsync(Memory<byte> memory, CancellationToken ct)
    {
        try
        {
            return await _source.ReadAsync(memory, ct).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException && _translate(ex) is { } translated)
        {
            throw translated;
        }
    }

    public void Dispose()
    {
        _sha256?.Dispose();
        if (_buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = [];
        }
    }
}
