using System.Collections.Concurrent;
using System.Net;
using LayerStats.Core.Images;
using LayerStats.Core.Sources;

namespace LayerStats.Core.Registry;

/// <summary>
/// What every registry source of one run shares: one transport per registry host (its connections, request slots,
/// scheme and tokens), the credential lookup, and one client for redirect targets and token realms on other hosts.
/// Dispose it after the sources that came from it.
/// </summary>
public sealed class RegistrySession : IDisposable, IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, RegistryClient> _clients = new(StringComparer.Ordinal);
    private readonly HttpClient _external;
    private readonly CredentialStore _credentials;
    private readonly Lock _gate = new();
    private bool _disposed;

    public RegistrySession(RegistryOptions? options = null)
    {
        Options = options ?? RegistryOptions.Default;
        _credentials = new CredentialStore(Options.Credentials, Options.Warn);
        _external = new HttpClient(new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            ConnectTimeout = TimeSpan.FromSeconds(30),
        })
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };
    }

    public RegistryOptions Options { get; }

    public CredentialStore Credentials => _credentials;

    /// <summary>A source for a <c>docker://</c> input. Never throws for a bad input: problems come back as listing errors.</summary>
    public IImageSource Open(string input, ImageSourceOptions? options = null) =>
        new RegistryImageSource(this, input, options ?? ImageSourceOptions.Default, ownsSession: false);

    internal RegistryClient ClientFor(string host)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _clients.GetOrAdd(host, h => new RegistryClient(h, Options, _credentials, _external));
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
        }

        foreach (var client in _clients.Values)
        {
            client.Dispose();
        }

        _external.Dispose();
    }

    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }
}
