using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace LayerStats.Tests.Registry;

/// <summary>A request as a test server saw it.</summary>
public sealed record SeenRequest(string Method, string PathAndQuery, string? Authorization, string? Range);

/// <summary>An in-process HTTP server on 127.0.0.1 at a free port (HttpListener), recording every request.</summary>
public sealed class TestHttpServer : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly Func<HttpListenerContext, Task> _handler;
    private readonly Task _loop;

    public TestHttpServer(Func<HttpListenerContext, Task> handler)
    {
        _handler = handler;
        for (int attempt = 0; ; attempt++)
        {
            Port = FreePort();
            _listener.Prefixes.Clear();
            _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
            try
            {
                _listener.Start();
                break;
            }
            catch (HttpListenerException) when (attempt < 5)
            {
            }
        }

        _loop = Task.Run(LoopAsync);
    }

    public int Port { get; private set; }

    public string Authority => $"127.0.0.1:{Port}";

    public Uri BaseUri => new($"http://{Authority}/");

    public ConcurrentQueue<SeenRequest> Requests { get; } = new();

    public static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        int port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        return port;
    }

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
        try
        {
            _loop.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
        }
    }

    private async Task LoopAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            _ = Task.Run(async () =>
            {
                var request = context.Request;
                Requests.Enqueue(new SeenRequest(request.HttpMethod, request.Url!.PathAndQuery, request.Headers["Authorization"], request.Headers["Range"]));
                try
                {
                    await _handler(context);
                    context.Response.Close();
                }
                catch (Exception ex) when (ex is HttpListenerException or IOException or ObjectDisposedException or InvalidOperationException)
                {
                    try
                    {
                        context.Response.Abort();
                    }
                    catch (ObjectDisposedException)
                    {
                    }
                }
            });
        }
    }
}
