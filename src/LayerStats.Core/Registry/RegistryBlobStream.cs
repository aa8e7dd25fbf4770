using System.Buffers;
using System.Net;

namespace LayerStats.Core.Registry;

/// <summary>
/// A blob's body as one continuous stream that survives broken connections: after a reset, a premature end or a
/// stalled read it asks again with <c>Range: bytes=N-</c> (N = bytes already delivered) and goes on; a server that answers
/// 200 instead of 206 is read from the start with the first N bytes skipped.
/// </summary>
/// <remarks>
/// The retry budget applies per failure episode: it starts at the first failure since bytes last arrived, so a long
/// blob on a flaky link goes on as long as it makes progress, and a link that makes none fails within the budget.
/// The caller (the scan pipeline) verifies size and digest; this stream delivers what the server sends.
/// </remarks>
internal sealed class RegistryBlobStream : Stream
{
    private readonly RegistryClient _client;
    private readonly RegistryRequest _request;
    private readonly long _expectedSize;
    private RegistryResponse? _response;
    private Stream? _body;
    private long _position;
    private bool _ended;
    private int _failures;
    private int _resumes;
    private TimeSpan? _episodeStart;
    private string? _lastError;

    private RegistryBlobStream(RegistryClient client, RegistryRequest request, long expectedSize)
    {
        _client = client;
        _request = request;
        _expectedSize = expectedSize;
    }

    /// <summary>How many times the body was requested again after a failure (for tests and diagnostics).</summary>
    public int Resumes => _resumes;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => _position;
        set => throw new NotSupportedException();
    }

    /// <summary>Opens the blob: the first response must be a success, else the registry's error is thrown.</summary>
    public static async Task<RegistryBlobStream> OpenAsync(RegistryClient client, RegistryRequest request, long expectedSize, CancellationToken cancellationToken)
    {
        var stream = new RegistryBlobStream(client, request, expectedSize);
        try
        {
            await stream.ConnectAsync(null, cancellationToken).ConfigureAwait(false);
            return stream;
        }
        catch
        {
            await stream.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        byte[] rented = ArrayPool<byte>.Shared.Rent(buffer.Length);
        try
        {
            int n = ReadAsync(rented.AsMemory(0, buffer.Length), CancellationToken.None).AsTask().GetAwaiter().GetResult();
            rented.AsSpan(0, n).CopyTo(buffer);
            return n;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.Length == 0)
        {
            return 0;
        }

        while (true)
        {
            if (_ended)
            {
                return 0;
            }

            if (_body is null)
            {
                TimeSpan left = BudgetLeft();
                if (_failures > 1)
                {
                    var wait = RetryPolicy.Backoff(_failures - 1, _client.Options.BaseBackoff, _client.Options.MaxBackoff, _client.Options.Random());
                    await _client.Options.Clock.DelayAsync(wait < left ? wait : left, cancellationToken).ConfigureAwait(false);
                    left = BudgetLeft();
                }

                _resumes++;
                try
                {
                    await ConnectAsync(left, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (RetryPolicy.IsTransient(ex, cancellationToken))
                {
                    Failed($"{RetryPolicy.Describe(ex)} while resuming at byte {_position}");
                    continue;
                }

                if (_ended)
                {
                    return 0;
                }
            }

            string reason;
            try
            {
                int n;
                using (var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
                {
                    cts.CancelAfter(_client.Options.ReadStallTimeout);
                    n = await _body!.ReadAsync(buffer, cts.Token).ConfigureAwait(false);
                }

                if (n > 0)
                {
                    _position += n;
                    _failures = 0;
                    _episodeStart = null;
                    return n;
                }

                if (_position >= _expectedSize)
                {
                    _ended = true;
                    CloseBody();
                    return 0;
                }

                reason = $"the body ended after {_position} of {_expectedSize} bytes";
            }
            catch (Exception ex) when (RetryPolicy.IsTransient(ex, cancellationToken))
            {
                reason = ex is OperationCanceledException
                    ? $"no bytes for {_client.Options.ReadStallTimeout.TotalSeconds:0} s at byte {_position}"
                    : $"{RetryPolicy.Describe(ex)} at byte {_position}";
            }

            Failed(reason);
        }
    }

    private void Failed(string reason)
    {
        CloseBody();
        _lastError = reason;
        _failures++;
        _episodeStart ??= _client.Options.Clock.Now;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            CloseBody();
        }

        base.Dispose(disposing);
    }

    public override ValueTask DisposeAsync()
    {
        CloseBody();
        return base.DisposeAsync();
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    private TimeSpan BudgetLeft()
    {
        var options = _client.Options;
        TimeSpan spent = _episodeStart is { } start ? options.Clock.Now - start : TimeSpan.Zero;
        TimeSpan left = options.RetryBudget - spent;
        if (left <= TimeSpan.Zero)
        {
            throw new RegistryException($"{_client.Label(_request)}: gave up after {_failures} failure{(_failures == 1 ? "" : "s")} without progress over {spent.TotalSeconds:0.0} s (resumed {_resumes} time{(_resumes == 1 ? "" : "s")}): last error {_lastError}");
        }

        return left;
    }

    /// <summary>Requests the body from <see cref="_position"/> on (a Range request when past the start).</summary>
    private async Task ConnectAsync(TimeSpan? budget, CancellationToken cancellationToken)
    {
        var request = _position > 0 ? _request with { RangeFrom = _position } : _request;
        RegistryResponse response;
        try
        {
            response = await _client.SendAsync(request, cancellationToken, budget).ConfigureAwait(false);
        }
        catch (RegistryException ex) when (_position > 0 && _lastError is not null)
        {
            throw new RegistryException($"{ex.Message} (resuming the blob after: {_lastError})", ex);
        }

        try
        {
            var message = response.Message;
            if (_position > 0 && message.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable)
            {
                _ended = true; // nothing after _position: the blob is shorter than stated, the caller will see it
                response.Dispose();
                return;
            }

            if (!message.IsSuccessStatusCode)
            {
                throw await _client.FailureAsync(request, message, cancellationToken).ConfigureAwait(false);
            }

            long skip = 0;
            if (_position > 0)
            {
                if (message.StatusCode == HttpStatusCode.PartialContent)
                {
                    long? from = message.Content.Headers.ContentRange?.From;
                    if (from is not null && from != _position)
                    {
                        throw new RegistryException($"{_client.Label(request)}: asked for bytes from {_position}, the registry sent bytes from {from}");
                    }
                }
                else
                {
                    skip = _position; // a full body: skip what was delivered already
                }
            }

            var body = await message.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            _response = response;
            _body = body;
            if (skip > 0)
            {
                await SkipAsync(body, skip, cancellationToken).ConfigureAwait(false);
            }
        }
        catch
        {
            if (_response is null)
            {
                response.Dispose();
            }

            throw;
        }
    }

    private async Task SkipAsync(Stream body, long count, CancellationToken cancellationToken)
    {
        byte[] scratch = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            while (count > 0)
            {
                int n;
                using (var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
                {
                    cts.CancelAfter(_client.Options.ReadStallTimeout);
                    n = await body.ReadAsync(scratch.AsMemory(0, (int)Math.Min(scratch.Length, count)), cts.Token).ConfigureAwait(false);
                }

                if (n == 0)
                {
                    throw new IOException($"the body ended while skipping to byte {_position}");
                }

                count -= n;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    private void CloseBody()
    {
        _body?.Dispose();
        _body = null;
        _response?.Dispose();
        _response = null;
    }
}
