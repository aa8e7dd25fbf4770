using System.Security.Cryptography;
using LayerStats.Core.Model;

namespace LayerStats.Core.Hashing;

/// <summary>
/// A read-only, forward-only stream that passes another stream's bytes through and computes their SHA-256 and
/// count as they are read (the bytes are hashed once, where they already are: no extra copy).
/// <see cref="SourceFaulted"/> tells a caller whether an exception came from the inner stream (I/O, network)
/// rather than from whoever decodes the bytes read here.
/// </summary>
public sealed class HashingReadStream : Stream
{
    private readonly Stream _inner;
    private readonly bool _leaveOpen;
    private readonly IncrementalHash _sha256 = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private long _length;
    private bool _disposed;

    public HashingReadStream(Stream inner, bool leaveOpen = true)
    {
        ArgumentNullException.ThrowIfNull(inner);
        _inner = inner;
        _leaveOpen = leaveOpen;
    }

    /// <summary>Bytes read so far.</summary>
    public long BytesRead => _length;

    /// <summary>True once a read of the inner stream has thrown.</summary>
    public bool SourceFaulted { get; private set; }

    /// <summary>SHA-256 of the bytes read so far (does not reset).</summary>
    public Digest GetDigest()
    {
        Span<byte> hash = stackalloc byte[32];
        _sha256.GetCurrentHash(hash);
        return Digest.Sha256(hash);
    }

    /// <summary>Reads the inner stream to its end (hashing it) and returns how many bytes that was.</summary>
    public async ValueTask<long> DrainAsync(byte[] scratch, CancellationToken cancellationToken)
    {
        long total = 0;
        int n;
        while ((n = await ReadAsync(scratch, cancellationToken).ConfigureAwait(false)) > 0)
        {
            total += n;
        }

        return total;
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        int n;
        try
        {
            n = _inner.Read(buffer);
        }
        catch
        {
            SourceFaulted = true;
            throw;
        }

        Account(buffer[..n]);
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int n;
        try
        {
            n = await _inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            SourceFaulted = true;
            throw;
        }

        Account(buffer.Span[..n]);
        return n;
    }

    private void Account(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length > 0)
        {
            _sha256.AppendData(bytes);
            _length += bytes.Length;
        }
    }

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => _length;
        set => throw new NotSupportedException();
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed)
        {
            _disposed = true;
            _sha256.Dispose();
            if (!_leaveOpen)
            {
                _inner.Dispose();
            }
        }

        base.Dispose(disposing);
    }
}
