namespace LayerStats.Core.Sources;

/// <summary>A read-only window [offset, offset + length) over a seekable stream it owns (one per open blob).</summary>
internal sealed class BoundedReadStream : Stream
{
    private readonly Stream _inner;
    private readonly long _offset;
    private readonly long _length;
    private long _position;

    public BoundedReadStream(Stream inner, long offset, long length)
    {
        _inner = inner;
        _offset = offset;
        _length = length;
        _inner.Seek(offset, SeekOrigin.Begin);
    }

    public override bool CanRead => true;

    public override bool CanSeek => true;

    public override bool CanWrite => false;

    public override long Length => _length;

    public override long Position
    {
        get => _position;
        set => Seek(value, SeekOrigin.Begin);
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        int n = Clamp(buffer.Length);
        if (n == 0)
        {
            return 0;
        }

        SyncPosition();
        int read = _inner.Read(buffer[..n]);
        _position += read;
        return read;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int n = Clamp(buffer.Length);
        if (n == 0)
        {
            return 0;
        }

        SyncPosition();
        int read = await _inner.ReadAsync(buffer[..n], cancellationToken).ConfigureAwait(false);
        _position += read;
        return read;
    }

    public override long Seek(long offset, SeekOrigin origin)
    {
        long target = origin switch
        {
            SeekOrigin.Begin => offset,
            SeekOrigin.Current => _position + offset,
            SeekOrigin.End => _length + offset,
            _ => throw new ArgumentOutOfRangeException(nameof(origin)),
        };
        if (target < 0)
        {
            throw new IOException("cannot seek before the start of the blob");
        }

        _position = target;
        return target;
    }

    public override void Flush()
    {
    }

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _inner.Dispose();
        }

        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        await _inner.DisposeAsync().ConfigureAwait(false);
        await base.DisposeAsync().ConfigureAwait(false);
    }

    private int Clamp(int requested) => (int)Math.Min(requested, Math.Max(0, _length - _position));

    private void SyncPosition()
    {
        long want = _offset + _position;
        if (_inner.Position != want)
        {
            _inner.Position = want;
        }
    }
}

/// <summary>
/// A tar entry's data read through an <see cref="ArchiveCursor"/>: forward only. Disposing it hands the cursor back to
/// its container (marked faulted when a read failed or was cancelled, so that it is closed rather than reused). An
/// archive that ends inside the entry is an error, not a short blob: GZipStream reports a cut-off input as its end.
/// </summary>
internal sealed class PooledEntryStream(Stream inner, long length, string path, ArchiveCursor cursor, Action<ArchiveCursor, bool> release) : Stream
{
    private long _position;
    private bool _faulted;
    private int _released;

    public override bool CanRead => _released == 0;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => length;

    public override long Position
    {
        get => _position;
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(_released != 0, this);
        try
        {
            int read = inner.Read(buffer);
            return Advance(read, buffer.Length);
        }
        catch
        {
            _faulted = true;
            throw;
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_released != 0, this);
        try
        {
            int read = await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            return Advance(read, buffer.Length);
        }
        catch
        {
            _faulted = true;
            throw;
        }
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void Flush()
    {
    }

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    private int Advance(int read, int requested)
    {
        _position += read;
        if (read == 0 && requested > 0 && _position < length)
        {
            throw new EndOfStreamException($"the archive ends inside '{path}': {length - _position} of its {length} bytes are missing");
        }

        return read;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && Interlocked.Exchange(ref _released, 1) == 0)
        {
            release(cursor, _faulted);
        }

        base.Dispose(disposing);
    }
}

/// <summary>A read-only pass-through that reports how many bytes were read from the stream it owns.</summary>
internal sealed class CountingReadStream(Stream inner, Action<int> counted) : Stream
{
    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => inner.Length;

    public override long Position
    {
        get => inner.Position;
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        int read = inner.Read(buffer);
        counted(read);
        return read;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int read = await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        counted(read);
        return read;
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void Flush()
    {
    }

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
        }

        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        await inner.DisposeAsync().ConfigureAwait(false);
        await base.DisposeAsync().ConfigureAwait(false);
    }
}
