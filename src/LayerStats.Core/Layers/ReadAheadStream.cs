using System.Buffers;
using System.Runtime.ExceptionServices;
using System.Threading.Channels;
using LayerStats.Core.IO;

namespace LayerStats.Core.Layers;

/// <summary>
/// Reads another stream ahead on a thread-pool task: a producer fills pooled chunks from the source (for a layer,
/// the decompressor, which reads and SHA-256s the blob) and hands them over a bounded queue to whoever reads this
/// stream (the tar walker), so decompression and the walk run on two cores. Memory is bounded by
/// <c>(depth + 2) × chunkSize</c>. An exception the source throws is rethrown, unchanged, by the read that reaches
/// it; cancellation stops both sides; <see cref="DisposeAsync"/> stops the producer and waits for it.
/// </summary>
internal sealed class ReadAheadStream : ForwardReadStream
{
    public const int DefaultChunkSize = 1024 * 1024;
    public const int DefaultDepth = 2;

    private readonly Stream _source;
    private readonly int _chunkSize;
    private readonly Channel<(byte[] Buffer, int Length)> _queue;
    private readonly CancellationTokenSource _stop;
    private readonly Task _producer;
    private ExceptionDispatchInfo? _error;
    private byte[]? _current;
    private int _offset;
    private int _length;
    private bool _eof;
    private bool _disposed;

    /// <summary>Starts reading <paramref name="source"/> (not disposed here) ahead.</summary>
    public ReadAheadStream(Stream source, CancellationToken ct, int chunkSize = DefaultChunkSize, int depth = DefaultDepth)
    {
        _source = source;
        _chunkSize = chunkSize;
        _queue = Channel.CreateBounded<(byte[], int)>(new BoundedChannelOptions(depth)
        {
            SingleReader = true,
            SingleWriter = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
        _stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        _producer = Task.Run(() => ProduceAsync(_stop.Token), CancellationToken.None);
    }

    /// <summary>Completes when the producer has stopped (it no longer touches the source).</summary>
    public Task Completion => _producer;

    private async Task ProduceAsync(CancellationToken ct)
    {
        byte[]? chunk = null;
        int filled = 0;
        try
        {
            while (true)
            {
                chunk = ArrayPool<byte>.Shared.Rent(_chunkSize);
                filled = 0;
                while (filled < chunk.Length)
                {
                    int n = await _source.ReadAsync(chunk.AsMemory(filled), ct).ConfigureAwait(false);
                    if (n == 0)
                    {
                        break;
                    }

                    filled += n;
                }

                if (filled == 0)
                {
                    break;
                }

                await _queue.Writer.WriteAsync((chunk, filled), ct).ConfigureAwait(false);
                bool ended = filled < chunk.Length;
                chunk = null;
                if (ended)
                {
                    break;
                }
            }
        }
        catch (Exception ex)
        {
            _error = ExceptionDispatchInfo.Capture(ex);
            if (chunk is not null && filled > 0 && ex is not OperationCanceledException)
            {
                // What the source gave before it failed is still read, so the failure surfaces at the same place
                // in the stream as it does without read-ahead (e.g. inside the same tar entry).
                try
                {
                    await _queue.Writer.WriteAsync((chunk, filled), ct).ConfigureAwait(false);
                    chunk = null;
                }
                catch (OperationCanceledException)
                {
                    // Stopped: nobody reads on.
                }
            }
        }
        finally
        {
            if (chunk is not null)
            {
                ArrayPool<byte>.Shared.Return(chunk);
            }

            _queue.Writer.TryComplete();
        }
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (buffer.IsEmpty)
        {
            return 0;
        }

        while (_current is null || _offset == _length)
        {
            if (_eof)
            {
                _error?.Throw();
                return 0;
            }

            ReleaseCurrent();
            if (!_queue.Reader.TryRead(out var next))
            {
                if (await NextAsync(cancellationToken).ConfigureAwait(false) is not { } waited)
                {
                    _eof = true;
                    continue;
                }

                next = waited;
            }

            _current = next.Buffer;
            _offset = 0;
            _length = next.Length;
        }

        int take = Math.Min(buffer.Length, _length - _offset);
        _current.AsSpan(_offset, take).CopyTo(buffer.Span);
        _offset += take;
        return take;
    }

    private async ValueTask<(byte[] Buffer, int Length)?> NextAsync(CancellationToken ct)
    {
        while (await _queue.Reader.WaitToReadAsync(ct).ConfigureAwait(false))
        {
            if (_queue.Reader.TryRead(out var next))
            {
                return next;
            }
        }

        return null;
    }

    private void ReleaseCurrent()
    {
        if (_current is not null)
        {
            ArrayPool<byte>.Shared.Return(_current);
            _current = null;
        }
    }

    public override int Read(byte[] buffer, int offset, int count) =>
        ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        await base.DisposeAsync().ConfigureAwait(false);
    }

    private async ValueTask StopAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _stop.Cancel();
        try
        {
            await _producer.ConfigureAwait(false);
        }
        catch
        {
            // The producer records its own failures; nothing to add while stopping.
        }

        ReleaseCurrent();
        while (_queue.Reader.TryRead(out var left))
        {
            ArrayPool<byte>.Shared.Return(left.Buffer);
        }

        _stop.Dispose();
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            StopAsync().AsTask().GetAwaiter().GetResult();
        }

        base.Dispose(disposing);
    }
}
