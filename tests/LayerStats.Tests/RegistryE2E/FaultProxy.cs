using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;

namespace LayerStats.Tests.RegistryE2E;

/// <summary>A fault the proxy injects into one response.</summary>
public abstract record Fault
{
    private Fault()
    {
    }

    /// <summary>Answers <paramref name="code"/> itself (the registry never sees the request), with Retry-After if given.</summary>
    public static Fault Status(int code, int? retryAfterSeconds = null) => new StatusFault(code, retryAfterSeconds);

    /// <summary>Forwards the response, then resets the connection (TCP RST) after <paramref name="bytes"/> bytes of its body.</summary>
    public static Fault ResetAfter(long bytes) => new ResetFault(bytes);

    /// <summary>Sends the first <paramref name="slowBytes"/> bytes of the body at <paramref name="bytesPerSecond"/>, the rest at full speed.</summary>
    public static Fault Slow(int bytesPerSecond, long slowBytes) => new SlowFault(bytesPerSecond, slowBytes);

    /// <summary>Announces a Content-Length <paramref name="delta"/> bytes off the real one, sends the real body, closes.</summary>
    public static Fault LyingLength(long delta) => new LyingLengthFault(delta);

    /// <summary>Inverts the byte at <paramref name="offset"/> of the body (sizes and headers unchanged).</summary>
    public static Fault FlipByte(long offset) => new FlipByteFault(offset);

    public sealed record StatusFault(int Code, int? RetryAfterSeconds) : Fault;

    public sealed record ResetFault(long Bytes) : Fault;

    public sealed record SlowFault(int BytesPerSecond, long SlowBytes) : Fault;

    public sealed record LyingLengthFault(long Delta) : Fault;

    public sealed record FlipByteFault(long Offset) : Fault;
}

/// <summary>A fault rule: which requests it hits, how many times (null: forever), and how many it hit so far.</summary>
public sealed class FaultRule
{
    private int _remaining;
    private int _hits;

    internal FaultRule(string? method, Regex path, Fault fault, int? times)
    {
        Method = method;
        Path = path;
        Fault = fault;
        _remaining = times ?? int.MaxValue;
    }

    public string? Method { get; }

    public Regex Path { get; }

    public Fault Fault { get; }

    public int Hits => Volatile.Read(ref _hits);

    internal bool TryTake(string method, string path)
    {
        if ((Method is not null && !string.Equals(Method, method, StringComparison.OrdinalIgnoreCase)) || !Path.IsMatch(path))
        {
            return false;
        }

        while (true)
        {
            int remaining = Volatile.Read(ref _remaining);
            if (remaining <= 0)
            {
                return false;
            }

            if (remaining == int.MaxValue || Interlocked.CompareExchange(ref _remaining, remaining - 1, remaining) == remaining)
            {
                Interlocked.Increment(ref _hits);
                return true;
            }
        }
    }
}

/// <summary>One request through the proxy, as the client sent it and as it was answered (Fault: what was injected).</summary>
public sealed record ProxiedRequest(string Method, string Path, string? Range, int Status, Fault? Fault, bool HadAuthorization)
{
    /// <summary>When the proxy answered (the response head), UTC.</summary>
    public DateTimeOffset At { get; init; } = DateTimeOffset.UtcNow;
}

/// <summary>
/// A plain HTTP/1.1 proxy on 127.0.0.1 in front of a registry, at the TCP level so it can misbehave as networks do:
/// statuses it answers itself (429 with Retry-After, 503), connection resets in the middle of a body, slow bodies,
/// lying Content-Length, flipped bytes. Every request is recorded, so tests can count blob GETs.
/// Clients talk to it as to the registry (<c>docker://127.0.0.1:PROXYPORT/name:tag</c>).
/// </summary>
public sealed class FaultProxy : IAsyncDisposable
{
    private static readonly HashSet<string> s_hopByHop = new(StringComparer.OrdinalIgnoreCase)
    {
        "Connection", "Keep-Alive", "Transfer-Encoding", "Content-Length", "Proxy-Connection", "TE", "Trailer", "Upgrade", "Host",
    };

    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly HttpClient _upstream;
    private readonly Uri _target;
    private readonly ConcurrentQueue<ProxiedRequest> _requests = new();
    private readonly List<FaultRule> _rules = [];
    private readonly Lock _rulesGate = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<Task, bool> _connections = new();
    private readonly Task _acceptLoop;

    public FaultProxy(Uri target)
    {
        _target = target;
        _upstream = new HttpClient(new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            UseProxy = false,
        })
        { Timeout = Timeout.InfiniteTimeSpan };
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    public int Port { get; }

    /// <summary><c>127.0.0.1:PORT</c> of the proxy: the registry host clients use.</summary>
    public string Host => $"127.0.0.1:{Port}";

    public IReadOnlyList<ProxiedRequest> Requests => _requests.ToArray();

    /// <summary>Adds a rule: requests with this method (null: any) whose path matches the pattern get the fault, <paramref name="times"/> times (null: always).</summary>
    public FaultRule Inject(string? method, string pathPattern, Fault fault, int? times = 1)
    {
        var rule = new FaultRule(method, new Regex(pathPattern, RegexOptions.CultureInvariant), fault, times);
        lock (_rulesGate)
        {
            _rules.Add(rule);
        }

        return rule;
    }

    /// <summary>Removes every fault rule and forgets the recorded requests.</summary>
    public void Reset()
    {
        lock (_rulesGate)
        {
            _rules.Clear();
        }

        _requests.Clear();
    }

    /// <summary>Requests (after faults) whose method is <paramref name="method"/> and whose path matches <paramref name="pathPattern"/>.</summary>
    public int Count(string method, string pathPattern) =>
        _requests.Count(r => string.Equals(r.Method, method, StringComparison.OrdinalIgnoreCase) && Regex.IsMatch(r.Path, pathPattern, RegexOptions.CultureInvariant));

    /// <summary>Blob GETs per blob digest (whatever the repository), answered by the registry with 200 or 206.</summary>
    public IReadOnlyDictionary<string, int> BlobGets() =>
        _requests.Where(r => r.Method == "GET" && r.Status is 200 or 206)
            .Select(r => Regex.Match(r.Path, @"^/v2/.+/blobs/(sha256:[0-9a-f]{64})"))
            .Where(m => m.Success)
            .GroupBy(m => m.Groups[1].Value)
            .ToDictionary(g => g.Key, g => g.Count());

    private FaultRule? Match(string method, string path)
    {
        lock (_rulesGate)
        {
            return _rules.FirstOrDefault(r => r.TryTake(method, path));
        }
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            var task = Task.Run(() => ServeConnectionAsync(socket));
            _connections[task] = true;
            _ = task.ContinueWith(t => _connections.TryRemove(t, out _), TaskScheduler.Default);
        }
    }

    private async Task ServeConnectionAsync(Socket socket)
    {
        var ct = _stop.Token;
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        var reader = new BufferedStream(stream, 16 << 10);
        try
        {
            while (!ct.IsCancellationRequested)
            {
                var head = await ReadHeadAsync(reader, ct);
                if (head is null)
                {
                    break;
                }

                if (head.Method.Length == 0)
                {
                    // Not HTTP (a TLS ClientHello: clients try https first): answer as Go's http server does, and close.
                    await stream.WriteAsync("HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"u8.ToArray(), ct);
                    break;
                }

                if (!await HandleAsync(socket, stream, reader, head, ct))
                {
                    break;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or HttpRequestException or ObjectDisposedException)
        {
        }
        finally
        {
            socket.Dispose();
        }
    }

    private sealed record RequestHead(string Method, string Target, List<(string Name, string Value)> Headers)
    {
        public string? Header(string name) => Headers.FirstOrDefault(h => string.Equals(h.Name, name, StringComparison.OrdinalIgnoreCase)).Value;
    }

    private static async Task<RequestHead?> ReadHeadAsync(BufferedStream reader, CancellationToken ct)
    {
        var lines = new List<string>();
        var line = new StringBuilder();
        var one = new byte[1];
        while (true)
        {
            int n = await reader.ReadAsync(one, ct);
            if (n == 0)
            {
                return null;
            }

            if (lines.Count == 0 && line.Length == 0 && one[0] is not (>= (byte)'A' and <= (byte)'Z') and not (byte)'\r' and not (byte)'\n')
            {
                return new RequestHead("", "", []);
            }

            if (one[0] == (byte)'\n')
            {
                string text = line.ToString().TrimEnd('\r');
                line.Clear();
                if (text.Length == 0)
                {
                    if (lines.Count == 0)
                    {
                        continue;
                    }

                    break;
                }

                lines.Add(text);
            }
            else
            {
                line.Append((char)one[0]);
            }
        }

        string[] requestLine = lines[0].Split(' ');
        var headers = lines.Skip(1)
            .Select(l => (l[..l.IndexOf(':', StringComparison.Ordinal)].Trim(), l[(l.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim()))
            .ToList();
        return new RequestHead(requestLine[0], requestLine[1], headers);
    }

    /// <summary>Serves one request; false when the connection must close afterwards.</summary>
    private async Task<bool> HandleAsync(Socket socket, NetworkStream output, BufferedStream input, RequestHead head, CancellationToken ct)
    {
        string path = head.Target.Split('?')[0];
        byte[]? requestBody = null;
        if (long.TryParse(head.Header("Content-Length"), NumberStyles.None, CultureInfo.InvariantCulture, out long requestLength) && requestLength > 0)
        {
            requestBody = new byte[requestLength];
            await input.ReadExactlyAsync(requestBody, ct);
        }

        var rule = Match(head.Method, path);
        var fault = rule?.Fault;
        bool hadAuthorization = head.Header("Authorization") is not null;
        if (fault is Fault.StatusFault status)
        {
            _requests.Enqueue(new ProxiedRequest(head.Method, path, head.Header("Range"), status.Code, fault, hadAuthorization));
            string errorBody = $"{{\"errors\":[{{\"code\":\"FAULT\",\"message\":\"injected {status.Code}\"}}]}}";
            var text = new StringBuilder();
            text.Append(CultureInfo.InvariantCulture, $"HTTP/1.1 {status.Code} {Reason(status.Code)}\r\n");
            text.Append("Content-Type: application/json\r\n");
            if (status.RetryAfterSeconds is { } seconds)
            {
                text.Append(CultureInfo.InvariantCulture, $"Retry-After: {seconds}\r\n");
            }

            text.Append(CultureInfo.InvariantCulture, $"Content-Length: {(head.Method == "HEAD" ? 0 : errorBody.Length)}\r\n\r\n");
            if (head.Method != "HEAD")
            {
                text.Append(errorBody);
            }

            await output.WriteAsync(Encoding.ASCII.GetBytes(text.ToString()), ct);
            return true;
        }

        using var request = new HttpRequestMessage(new HttpMethod(head.Method), new Uri(_target, head.Target));
        if (requestBody is not null)
        {
            request.Content = new ByteArrayContent(requestBody);
        }

        foreach (var (name, value) in head.Headers)
        {
            if (s_hopByHop.Contains(name))
            {
                continue;
            }

            if (!request.Headers.TryAddWithoutValidation(name, value))
            {
                request.Content?.Headers.TryAddWithoutValidation(name, value);
            }
        }

        // The registry builds absolute URLs (upload locations) from Host: keep the client's view.
        request.Headers.Host = head.Header("Host");
        using var response = await _upstream.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        _requests.Enqueue(new ProxiedRequest(head.Method, path, head.Header("Range"), (int)response.StatusCode, fault, hadAuthorization));

        long? length = response.Content.Headers.ContentLength;
        bool hasBody = head.Method != "HEAD" && (int)response.StatusCode is not (204 or 304) && (int)response.StatusCode >= 200;
        bool close = fault is Fault.LyingLengthFault or Fault.ResetFault || (hasBody && length is null);
        var headText = new StringBuilder();
        headText.Append(CultureInfo.InvariantCulture, $"HTTP/1.1 {(int)response.StatusCode} {response.ReasonPhrase ?? Reason((int)response.StatusCode)}\r\n");
        foreach (var header in response.Headers.Concat(response.Content.Headers))
        {
            if (s_hopByHop.Contains(header.Key))
            {
                continue;
            }

            foreach (string value in header.Value)
            {
                headText.Append(CultureInfo.InvariantCulture, $"{header.Key}: {value}\r\n");
            }
        }

        if (length is { } announced)
        {
            if (fault is Fault.LyingLengthFault lying)
            {
                announced += lying.Delta;
            }

            headText.Append(CultureInfo.InvariantCulture, $"Content-Length: {announced}\r\n");
        }

        if (close)
        {
            headText.Append("Connection: close\r\n");
        }

        headText.Append("\r\n");
        await output.WriteAsync(Encoding.ASCII.GetBytes(headText.ToString()), ct);
        if (!hasBody)
        {
            return !close;
        }

        await using var body = await response.Content.ReadAsStreamAsync(ct);
        var buffer = new byte[16 << 10];
        long sent = 0;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            int want = buffer.Length;
            if (fault is Fault.ResetFault reset)
            {
                if (sent >= reset.Bytes)
                {
                    await output.FlushAsync(ct);
                    await ResetAsync(socket);
                    return false;
                }

                want = (int)Math.Min(want, reset.Bytes - sent);
            }

            if (fault is Fault.SlowFault slow && sent < slow.SlowBytes)
            {
                want = (int)Math.Min(Math.Min(want, slow.BytesPerSecond / 16 + 1), slow.SlowBytes - sent);
            }

            int n = await body.ReadAsync(buffer.AsMemory(0, want), ct);
            if (n == 0)
            {
                break;
            }

            if (fault is Fault.FlipByteFault flip && flip.Offset >= sent && flip.Offset < sent + n)
            {
                buffer[flip.Offset - sent] ^= 0xFF;
            }

            await output.WriteAsync(buffer.AsMemory(0, n), ct);
            sent += n;
            if (fault is Fault.SlowFault throttle && sent <= throttle.SlowBytes)
            {
                var due = TimeSpan.FromSeconds((double)sent / throttle.BytesPerSecond);
                if (due > clock.Elapsed)
                {
                    await Task.Delay(due - clock.Elapsed, ct);
                }
            }
        }

        await output.FlushAsync(ct);
        return !close;
    }

    /// <summary>
    /// Drops the connection: a FIN right after the bytes sent (so the client gets exactly those, then a premature end of
    /// the body), then a TCP RST (linger 0) as a dropped connection gives. An RST alone would also discard bytes still
    /// in flight, making the count the client sees vary.
    /// </summary>
    private static async Task ResetAsync(Socket socket)
    {
        socket.Shutdown(SocketShutdown.Send);
        await Task.Delay(50);
        socket.LingerState = new LingerOption(true, 0);
        socket.Close();
    }

    private static string Reason(int code) => code switch
    {
        200 => "OK",
        206 => "Partial Content",
        401 => "Unauthorized",
        404 => "Not Found",
        408 => "Request Timeout",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    };

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _acceptLoop;
        foreach (var connection in _connections.Keys)
        {
            try
            {
                await connection.WaitAsync(TimeSpan.FromSeconds(5));
            }
            catch (TimeoutException)
            {
            }
        }

        _upstream.Dispose();
        _stop.Dispose();
    }
}
