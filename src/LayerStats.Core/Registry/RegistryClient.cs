using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;

namespace LayerStats.Core.Registry;

/// <summary>One HTTP request to a registry, as it is (re)built for every attempt.</summary>
internal sealed record RegistryRequest(HttpMethod Method, Uri Uri, string Scope, string? Accept = null, long? RangeFrom = null);

/// <summary>A response that holds one of its registry's request slots until it is disposed.</summary>
internal sealed class RegistryResponse(HttpResponseMessage message, Action release) : IDisposable
{
    private int _released;

    public HttpResponseMessage Message => message;

    public HttpStatusCode Status => message.StatusCode;

    public void Dispose()
    {
        message.Dispose();
        if (Interlocked.Exchange(ref _released, 1) == 0)
        {
            release();
        }
    }
}

/// <summary>A document (manifest, config, listing page) read whole, with the headers that matter.</summary>
internal sealed record RegistryDocument(byte[] Bytes, string? ContentType, string? DockerContentDigest, Uri? Next);

/// <summary>
/// The transport to one registry host: one HttpClient, a limit on requests in flight, the scheme decided at the
/// first request (ping of <c>/v2/</c>), challenge-driven auth with cached bearer tokens, manual redirects, retries.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item>Scheme: https with certificate checks. A loopback host (localhost, 127.0.0.0/8, ::1) or a host named with
/// <c>--insecure-registry</c> is pinged over https first and, when that fails to connect or to shake hands, over plain http
/// (as docker does for insecure registries); for <c>--insecure-registry</c> hosts https does not check the certificate.
/// A certificate that fails its checks is never a reason to fall back to http (the host speaks TLS): the error says what is
/// wrong with it (not trusted, wrong name, expired) and how to trust its CA or to name the host with <c>--insecure-registry</c>.
/// Any other host is reached over https only; when https does not shake hands, the error says that plain http is refused
/// and how to allow it. So no request, and no credential, goes over plain http to a host the user did not allow.</item>
/// <item>Redirects are followed here (at most 10). The Authorization header goes only to the registry's own origin
/// (scheme, host, port); a redirect elsewhere (blob storage) is requested without it, through a client that checks certificates.</item>
/// <item>Auth: anonymous first; the challenge of the ping (or of a later 401) decides: Basic sends the credentials,
/// Bearer gets a token from the realm per scope (<c>repository:NAME:pull</c>, <c>registry:catalog:*</c>), cached until
/// 90% of <c>expires_in</c> (default 60 s) and fetched again once when a request with it gets a 401.
/// An identity token (from docker login) is sent as an OAuth2 refresh_token (POST); user/password as Basic on a GET.</item>
/// <item>Concurrency: a slot is taken per request and held until its response is disposed (for a blob: while its body
/// streams); redirect hops and token requests run inside the slot of their request.</item>
/// </list>
/// </remarks>
internal sealed class RegistryClient : IDisposable
{
    private const int MaxRedirects = 10;
    private readonly string _host;
    private readonly RegistryOptions _options;
    private readonly CredentialStore _credentials;
    private readonly HttpClient _http;
    private readonly HttpClient _external;
    private readonly SemaphoreSlim _slots;
    private readonly RetryPolicy _retry;
    private readonly bool _plainHttpAllowed;
    private readonly ConcurrentDictionary<string, TokenEntry> _tokens = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _tokenGate = new(1, 1);
    private readonly Lock _gate = new();
    private Task<Uri>? _ping;
    private AuthChallenge? _challenge;
    private Uri? _base;
    private int _tokenFetches;
    private string? _certificateProblem;

    public RegistryClient(string host, RegistryOptions options, CredentialStore credentials, HttpClient external)
    {
        _host = host;
        _options = options;
        _credentials = credentials;
        _external = external;
        bool insecure = IsInsecure(host, options.InsecureRegistries);
        _plainHttpAllowed = insecure || IsLoopback(host);
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            ConnectTimeout = TimeSpan.FromSeconds(30),
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(60),
            MaxConnectionsPerServer = Math.Max(1, options.JobsPerRegistry) * 2,
        };
        if (insecure)
        {
            // --insecure-registry HOST: the user asked for this host to be reached without certificate checks.
#pragma warning disable CA5359
            handler.SslOptions.RemoteCertificateValidationCallback = (_, _, _, _) => true;
#pragma warning restore CA5359
        }
        else
        {
            // The platform's checks decide (the system store, or SSL_CERT_FILE / SSL_CERT_DIR through OpenSSL); this only
            // remembers why a certificate was refused, for an error that says so.
            handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, chain, errors) =>
            {
                if (errors == SslPolicyErrors.None)
                {
                    return true;
                }

                Volatile.Write(ref _certificateProblem, DescribeCertificate(certificate, chain, errors));
                return false;
            };
        }

        _http = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
        _slots = new SemaphoreSlim(Math.Max(1, options.JobsPerRegistry));
        _retry = new RetryPolicy(options);
    }

    public string Host => _host;

    public string DisplayHost => RegistryReference.DisplayHostOf(_host);

    public RegistryOptions Options => _options;

    public RetryPolicy Retry => _retry;

    /// <summary>How many tokens were fetched from a realm (for tests).</summary>
    public int TokenFetches => Volatile.Read(ref _tokenFetches);

    /// <summary>The base URI (scheme://host/) once the registry answered its ping.</summary>
    public Uri BaseUri => _base ?? throw new InvalidOperationException("the registry was not pinged yet");

    public static bool IsLoopback(string host)
    {
        string name = HostName(host);
        return name == "localhost" || (IPAddress.TryParse(name, out var ip) && IPAddress.IsLoopback(ip));
    }

    public static bool IsInsecure(string host, IReadOnlyCollection<string> insecure) =>
        insecure.Any(h => string.Equals(h.Trim().TrimEnd('/'), host, StringComparison.OrdinalIgnoreCase)
            || string.Equals(h.Trim().TrimEnd('/'), HostName(host), StringComparison.OrdinalIgnoreCase));

    /// <summary>The host without its port (and without IPv6 brackets).</summary>
    public static string HostName(string host)
    {
        if (host.StartsWith('['))
        {
            int close = host.IndexOf(']', StringComparison.Ordinal);
            return close > 0 ? host[1..close] : host;
        }

        int colon = host.LastIndexOf(':');
        return colon >= 0 ? host[..colon] : host;
    }

    /// <summary>Pings <c>/v2/</c> once (later calls share the result): decides the scheme and learns the auth challenge.</summary>
    public Task<Uri> PingAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (_ping is null || _ping.IsFaulted || _ping.IsCanceled)
            {
                _ping = PingCoreAsync(cancellationToken);
            }

            return _ping;
        }
    }

    public Uri Url(string pathAndQuery) => new(BaseUri, pathAndQuery);

    /// <summary>Sends a request (after the ping) with retries; the caller owns and disposes the response, successful or not (never a retryable status).</summary>
    public async Task<RegistryResponse> SendAsync(RegistryRequest request, CancellationToken cancellationToken, TimeSpan? budget = null)
    {
        await PingAsync(cancellationToken).ConfigureAwait(false);
        return await _retry.ExecuteAsync(Label(request), async ct =>
        {
            var response = await SendOnceAsync(request, ct).ConfigureAwait(false);
            if (RetryPolicy.IsRetryableStatus(response.Status))
            {
                var retryAfter = RetryPolicy.RetryAfter(response.Message.Headers.RetryAfter, DateTimeOffset.UtcNow);
                string reason = StatusText(response.Message);
                response.Dispose();
                return Attempt<RegistryResponse>.Again(reason, retryAfter);
            }

            return Attempt<RegistryResponse>.Done(response);
        }, cancellationToken, budget).ConfigureAwait(false);
    }

    /// <summary>GETs a document whole (at most <paramref name="maxBytes"/>), retrying failures of the body too; non-success statuses throw.</summary>
    public async Task<RegistryDocument> GetDocumentAsync(RegistryRequest request, long maxBytes, CancellationToken cancellationToken)
    {
        await PingAsync(cancellationToken).ConfigureAwait(false);
        return await _retry.ExecuteAsync(Label(request), async ct =>
        {
            using var response = await SendOnceAsync(request, ct).ConfigureAwait(false);
            var message = response.Message;
            if (RetryPolicy.IsRetryableStatus(message.StatusCode))
            {
                return Attempt<RegistryDocument>.Again(StatusText(message), RetryPolicy.RetryAfter(message.Headers.RetryAfter, DateTimeOffset.UtcNow));
            }

            if (!message.IsSuccessStatusCode)
            {
                throw await FailureAsync(request, message, ct).ConfigureAwait(false);
            }

            if (message.Content.Headers.ContentLength is long declared && declared > maxBytes)
            {
                throw new RegistryException($"{Label(request)}: the document is {declared} bytes, more than the {maxBytes} bytes allowed");
            }

            var body = await message.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
            await using (body.ConfigureAwait(false))
            {
                byte[] bytes = await ReadLimitedAsync(body, maxBytes, request, ct).ConfigureAwait(false);
                string? digest = message.Headers.TryGetValues("Docker-Content-Digest", out var values) ? values.FirstOrDefault() : null;
                Uri? next = message.Headers.TryGetValues("Link", out var links) ? LinkHeader.Next(links, message.RequestMessage?.RequestUri ?? request.Uri) : null;
                return Attempt<RegistryDocument>.Done(new RegistryDocument(bytes, message.Content.Headers.ContentType?.MediaType, digest, next));
            }
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>"registry HOST: GET /v2/…" (no query string of another host: signed URLs carry secrets).</summary>
    public string Label(RegistryRequest request) => $"registry {DisplayHost}: {request.Method} {request.Uri.PathAndQuery}";

    /// <summary>The exception for a final non-success status: the registry's error code and message, never a secret.</summary>
    public async Task<RegistryException> FailureAsync(RegistryRequest request, HttpResponseMessage message, CancellationToken cancellationToken)
    {
        string detail = "";
        try
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            cts.CancelAfter(TimeSpan.FromSeconds(10));
            var body = await message.Content.ReadAsStreamAsync(cts.Token).ConfigureAwait(false);
            await using (body.ConfigureAwait(false))
            {
                byte[] bytes = await ReadLimitedAsync(body, 64 * 1024, request, cts.Token).ConfigureAwait(false);
                detail = ErrorDetail(bytes);
            }
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException or OperationCanceledException)
        {
        }

        string hint = message.StatusCode switch
        {
            HttpStatusCode.Unauthorized => _credentials.Find(_host) is { } c
                ? $" (the registry rejected the credentials from {c.From})"
                : $" (no credentials found for {DisplayHost}: log in with docker login, or give --username and --password-stdin, or --auth-file)",
            HttpStatusCode.Forbidden => " (access denied)",
            _ => "",
        };
        return new RegistryException($"{Label(request)}: {StatusText(message)}{detail}{hint}") { Status = message.StatusCode };
    }

    /// <summary>A failure as one line naming the registry: a refused certificate says why and what to do; other failures as they are.</summary>
    public string Describe(Exception ex) =>
        ex is RegistryException ? ex.Message : CertificateFailure(ex)?.Message ?? $"registry {DisplayHost}: {RetryPolicy.Describe(ex)}";

    /// <summary>The clear error for a TLS handshake that failed because the certificate was refused (null for any other failure).</summary>
    private RegistryException? CertificateFailure(Exception ex)
    {
        string? problem = Volatile.Read(ref _certificateProblem);
        if (problem is null)
        {
            return null;
        }

        for (Exception? e = ex; e is not null; e = e.InnerException)
        {
            if (e is AuthenticationException)
            {
                return new RegistryException($"registry {DisplayHost}: https: {problem}", ex);
            }
        }

        return null;
    }

    /// <summary>Why a server certificate was refused, in words, with what to do about it.</summary>
    private string DescribeCertificate(X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (certificate is null || errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable))
        {
            return "the registry sent no TLS certificate";
        }

        string subject = certificate.Subject;
        string issuer = certificate.Issuer;
        var parts = new List<string>();
        if (errors.HasFlag(SslPolicyErrors.RemoteCertificateChainErrors))
        {
            var statuses = (chain?.ChainStatus ?? []).Select(s => s.Status).Where(s => s != X509ChainStatusFlags.NoError).Distinct().ToList();
            var untrusted = statuses.Where(s => s is X509ChainStatusFlags.UntrustedRoot or X509ChainStatusFlags.PartialChain).ToList();
            var expired = statuses.Where(s => s is X509ChainStatusFlags.NotTimeValid).ToList();
            var other = statuses.Except(untrusted).Except(expired).ToList();
            if (untrusted.Count > 0 || statuses.Count == 0)
            {
                parts.Add($"the certificate is not trusted: it is issued by '{issuer}', which this machine does not trust ({string.Join(", ", untrusted)})");
            }

            if (expired.Count > 0)
            {
                parts.Add($"the certificate (or one of its issuers) has expired or is not yet valid (valid {certificate.GetEffectiveDateString()} to {certificate.GetExpirationDateString()})");
            }

            if (other.Count > 0)
            {
                parts.Add($"the certificate chain fails its checks ({string.Join(", ", other)})");
            }
        }

        if (errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch))
        {
            string names = certificate is X509Certificate2 c2 && c2.Extensions.OfType<X509SubjectAlternativeNameExtension>().FirstOrDefault() is { } san
                ? string.Join(", ", san.EnumerateDnsNames().Concat(san.EnumerateIPAddresses().Select(ip => ip.ToString())))
                : subject;
            parts.Add($"the certificate is for {names}, which does not match the host name '{HostName(_host)}'");
        }

        string what = string.Join("; ", parts);
        string remedy = errors == SslPolicyErrors.RemoteCertificateNameMismatch
            ? "Reach the registry by a name its certificate holds"
            : "To trust a private CA, add it to the system store (update-ca-certificates) or point SSL_CERT_FILE at a PEM bundle that holds it";
        return $"{what} (subject '{subject}'). {remedy}; or name the registry with --insecure-registry {_host} to skip certificate checks";
    }

    public void Dispose()
    {
        _http.Dispose();
        _slots.Dispose();
        _tokenGate.Dispose();
    }

    private static string StatusText(HttpResponseMessage message) =>
        $"HTTP {(int)message.StatusCode}{(string.IsNullOrEmpty(message.ReasonPhrase) ? "" : " " + message.ReasonPhrase)}";

    /// <summary>The first entry of a distribution error body: ": CODE: message".</summary>
    private static string ErrorDetail(byte[] bytes)
    {
        try
        {
            using var doc = JsonDocument.Parse(bytes);
            if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("errors", out var errors)
                && errors.ValueKind == JsonValueKind.Array && errors.GetArrayLength() > 0 && errors[0].ValueKind == JsonValueKind.Object)
            {
                var first = errors[0];
                string code = first.TryGetProperty("code", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString()! : "";
                string text = first.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString()! : "";
                string joined = string.Join(": ", new[] { code, text }.Where(s => s.Length > 0));
                return joined.Length == 0 ? "" : ": " + (joined.Length > 200 ? joined[..200] + "…" : joined);
            }
        }
        catch (JsonException)
        {
        }

        return "";
    }

    private async Task<byte[]> ReadLimitedAsync(Stream body, long maxBytes, RegistryRequest request, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        byte[] chunk = new byte[81920];
        while (true)
        {
            int n;
            using (var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                cts.CancelAfter(_options.ReadStallTimeout);
                n = await body.ReadAsync(chunk, cts.Token).ConfigureAwait(false);
            }

            if (n == 0)
            {
                return buffer.ToArray();
            }

            if (buffer.Length + n > maxBytes)
            {
                throw new RegistryException($"{Label(request)}: the document is more than the {maxBytes} bytes allowed");
            }

            buffer.Write(chunk, 0, n);
        }
    }

    private async Task<Uri> PingCoreAsync(CancellationToken cancellationToken)
    {
        string[] schemes = _plainHttpAllowed ? ["https", "http"] : ["https"];
        for (int i = 0; i < schemes.Length; i++)
        {
            var baseUri = new Uri($"{schemes[i]}://{_host}/");
            var request = new RegistryRequest(HttpMethod.Get, new Uri(baseUri, "/v2/"), "");
            bool last = i == schemes.Length - 1;
            Attempt<(HttpStatusCode, IReadOnlyList<AuthChallenge>)>? first = null;
            if (!last)
            {
                try
                {
                    first = await PingOnceAsync(request, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is HttpRequestException or IOException or TimeoutException)
                {
                    if (CertificateFailure(ex) is { } refused)
                    {
                        throw refused; // the host speaks TLS with a certificate that fails its checks: plain http would not help
                    }

                    continue; // https did not connect or shake hands: this host may be plain http
                }
            }

            HttpStatusCode status;
            IReadOnlyList<AuthChallenge> challenges;
            try
            {
                (status, challenges) = first is { RetryReason: null } answered
                    ? answered.Value
                    : await _retry.ExecuteAsync(Label(request), ct => PingOnceAsync(request, ct), cancellationToken).ConfigureAwait(false);
            }
            catch (HttpRequestException ex) when (CertificateFailure(ex) is { } refused)
            {
                throw refused;
            }
            catch (HttpRequestException ex) when (!_plainHttpAllowed && ex.HttpRequestError == HttpRequestError.SecureConnectionError)
            {
                throw new RegistryException(
                    $"registry {DisplayHost}: https failed: the TLS handshake did not complete ({RetryPolicy.Describe(ex)}); if {DisplayHost} serves plain http, "
                    + $"it is refused: plain http is used only for loopback hosts and hosts named with --insecure-registry (add --insecure-registry {_host} to allow it; "
                    + "requests and credentials then cross the network unencrypted)",
                    ex);
            }
            if (status != HttpStatusCode.OK && status != HttpStatusCode.Unauthorized)
            {
                throw new RegistryException($"{Label(request)}: HTTP {(int)status}: not an OCI distribution registry (the API root /v2/ must answer 200 or 401)") { Status = status };
            }

            lock (_gate)
            {
                _base = baseUri;
                _challenge = Pick(challenges);
            }

            return baseUri;
        }

        throw new InvalidOperationException("unreachable");
    }

    private async Task<Attempt<(HttpStatusCode, IReadOnlyList<AuthChallenge>)>> PingOnceAsync(RegistryRequest request, CancellationToken cancellationToken)
    {
        using var response = await SendRawAsync(_http, request, request.Uri, null, cancellationToken).ConfigureAwait(false);
        if (RetryPolicy.IsRetryableStatus(response.StatusCode))
        {
            return Attempt<(HttpStatusCode, IReadOnlyList<AuthChallenge>)>.Again(StatusText(response), RetryPolicy.RetryAfter(response.Headers.RetryAfter, DateTimeOffset.UtcNow));
        }

        var challenges = AuthChallenge.ParseAll(response.Headers.WwwAuthenticate.Select(h => h.ToString()));
        return Attempt<(HttpStatusCode, IReadOnlyList<AuthChallenge>)>.Done((response.StatusCode, challenges));
    }

    private static AuthChallenge? Pick(IReadOnlyList<AuthChallenge> challenges) =>
        challenges.FirstOrDefault(c => c.IsBearer && c.Realm is not null) ?? challenges.FirstOrDefault(c => c.IsBasic);

    private async Task<RegistryResponse> SendOnceAsync(RegistryRequest request, CancellationToken cancellationToken)
    {
        await _slots.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var message = await SendFollowingRedirectsAsync(request, cancellationToken).ConfigureAwait(false);
            return new RegistryResponse(message, () => _slots.Release());
        }
        catch
        {
            _slots.Release();
            throw;
        }
    }

    private async Task<HttpResponseMessage> SendFollowingRedirectsAsync(RegistryRequest request, CancellationToken cancellationToken)
    {
        Uri uri = request.Uri;
        for (int hop = 0; hop <= MaxRedirects; hop++)
        {
            var response = SameOrigin(uri, BaseUri)
                ? await SendAuthorizedAsync(request, uri, cancellationToken).ConfigureAwait(false)
                : await SendRawAsync(_external, request, uri, null, cancellationToken).ConfigureAwait(false);
            if ((int)response.StatusCode is 301 or 302 or 303 or 307 or 308 && response.Headers.Location is { } location)
            {
                uri = location.IsAbsoluteUri ? location : new Uri(uri, location);
                response.Dispose();
                if (uri.Scheme is not ("http" or "https"))
                {
                    throw new RegistryException($"{Label(request)}: redirected to a {uri.Scheme}: URL, which is not followed");
                }

                continue;
            }

            return response;
        }

        throw new RegistryException($"{Label(request)}: more than {MaxRedirects} redirects");
    }

    private static bool SameOrigin(Uri a, Uri b) =>
        string.Equals(a.Scheme, b.Scheme, StringComparison.OrdinalIgnoreCase)
        && string.Equals(a.IdnHost, b.IdnHost, StringComparison.OrdinalIgnoreCase)
        && a.Port == b.Port;

    private async Task<HttpResponseMessage> SendAuthorizedAsync(RegistryRequest request, Uri uri, CancellationToken cancellationToken)
    {
        var authorization = await AuthorizationAsync(request.Scope, null, cancellationToken).ConfigureAwait(false);
        var response = await SendRawAsync(_http, request, uri, authorization, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode != HttpStatusCode.Unauthorized)
        {
            return response;
        }

        var challenge = Pick(AuthChallenge.ParseAll(response.Headers.WwwAuthenticate.Select(h => h.ToString())));
        if (challenge is null)
        {
            return response;
        }

        lock (_gate)
        {
            _challenge = challenge;
        }

        var fresh = await AuthorizationAsync(request.Scope, authorization, cancellationToken).ConfigureAwait(false);
        if (fresh is null || (authorization is not null && fresh.Scheme == authorization.Scheme && fresh.Parameter == authorization.Parameter))
        {
            return response; // nothing new to offer: the 401 stands
        }

        response.Dispose();
        return await SendRawAsync(_http, request, uri, fresh, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The Authorization for a scope under the current challenge; a bearer token other than <paramref name="rejected"/>.</summary>
    private async Task<AuthenticationHeaderValue?> AuthorizationAsync(string scope, AuthenticationHeaderValue? rejected, CancellationToken cancellationToken)
    {
        AuthChallenge? challenge;
        lock (_gate)
        {
            challenge = _challenge;
        }

        if (challenge is null)
        {
            return null;
        }

        var credential = _credentials.Find(_host);
        if (challenge.IsBasic)
        {
            return credential is { Username.Length: > 0 } ? new AuthenticationHeaderValue("Basic", credential.BasicParameter) : null;
        }

        string? rejectedToken = rejected?.Scheme == "Bearer" ? rejected.Parameter : null;
        string token = await TokenAsync(challenge, scope, credential, rejectedToken, cancellationToken).ConfigureAwait(false);
        return new AuthenticationHeaderValue("Bearer", token);
    }

    private async Task<string> TokenAsync(AuthChallenge challenge, string scope, RegistryCredential? credential, string? rejected, CancellationToken cancellationToken)
    {
        string key = $"{challenge.Realm}\n{challenge.Service}\n{scope}";
        if (_tokens.TryGetValue(key, out var cached) && cached.Expires > _options.Clock.Now && cached.Token != rejected)
        {
            return cached.Token;
        }

        await _tokenGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_tokens.TryGetValue(key, out cached) && cached.Expires > _options.Clock.Now && cached.Token != rejected)
            {
                return cached.Token;
            }

            var fetched = await FetchTokenAsync(challenge, scope, credential, cancellationToken).ConfigureAwait(false);
            _tokens[key] = fetched;
            Interlocked.Increment(ref _tokenFetches);
            return fetched.Token;
        }
        finally
        {
            _tokenGate.Release();
        }
    }

    private async Task<TokenEntry> FetchTokenAsync(AuthChallenge challenge, string scope, RegistryCredential? credential, CancellationToken cancellationToken)
    {
        if (!Uri.TryCreate(challenge.Realm, UriKind.Absolute, out var realm) || realm.Scheme is not ("http" or "https"))
        {
            throw new RegistryException($"registry {DisplayHost}: the bearer challenge's realm '{challenge.Realm}' is not an http(s) URL");
        }

        if (realm.Scheme == "http" && !_plainHttpAllowed && !IsLoopback(realm.Authority))
        {
            throw new RegistryException($"registry {DisplayHost}: the token realm {realm.GetLeftPart(UriPartial.Path)} is plain http; refused (name the registry with --insecure-registry to allow it)");
        }

        bool useRefreshToken = credential?.IdentityToken is not null;
        var query = new List<string>();
        if (challenge.Service is { } service)
        {
            query.Add("service=" + Uri.EscapeDataString(service));
        }

        if (scope.Length > 0)
        {
            query.Add("scope=" + Uri.EscapeDataString(scope));
        }

        if (!useRefreshToken && credential is { Username.Length: > 0 })
        {
            query.Add("account=" + Uri.EscapeDataString(credential.Username));
        }

        var builder = new UriBuilder(realm);
        if (!useRefreshToken && query.Count > 0)
        {
            builder.Query = (builder.Query.Length > 1 ? builder.Query[1..] + "&" : "") + string.Join("&", query);
        }

        var request = new RegistryRequest(useRefreshToken ? HttpMethod.Post : HttpMethod.Get, builder.Uri, scope);
        string what = $"registry {DisplayHost}: token for scope '{scope}' from {realm.GetLeftPart(UriPartial.Path)}";
        var client = SameOrigin(realm, BaseUri) ? _http : _external;
        byte[] body = await _retry.ExecuteAsync(what, async ct =>
        {
            using var message = new HttpRequestMessage(request.Method, request.Uri);
            message.Headers.UserAgent.ParseAdd(_options.UserAgent);
            if (useRefreshToken)
            {
                var form = new List<KeyValuePair<string, string>>
                {
                    new("grant_type", "refresh_token"),
                    new("client_id", _options.UserAgent),
                    new("refresh_token", credential!.IdentityToken!),
                };
                if (challenge.Service is { } s)
                {
                    form.Add(new("service", s));
                }

                if (scope.Length > 0)
                {
                    form.Add(new("scope", scope));
                }

                message.Content = new FormUrlEncodedContent(form);
            }
            else if (credential is { Username.Length: > 0 })
            {
                message.Headers.Authorization = new AuthenticationHeaderValue("Basic", credential.BasicParameter);
            }

            using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
            cts.CancelAfter(_options.RequestTimeout);
            using var response = await client.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, cts.Token).ConfigureAwait(false);
            if (RetryPolicy.IsRetryableStatus(response.StatusCode))
            {
                return Attempt<byte[]>.Again(StatusText(response), RetryPolicy.RetryAfter(response.Headers.RetryAfter, DateTimeOffset.UtcNow));
            }

            if (!response.IsSuccessStatusCode)
            {
                string why = response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden
                    ? credential is null ? " (anonymous access refused: credentials needed)" : $" (the credentials from {credential.From} were refused)"
                    : "";
                throw new RegistryException($"{what}: {StatusText(response)}{why}") { Status = response.StatusCode };
            }

            var stream = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
            await using (stream.ConfigureAwait(false))
            {
                return Attempt<byte[]>.Done(await ReadLimitedAsync(stream, 1024 * 1024, request, ct).ConfigureAwait(false));
            }
        }, cancellationToken).ConfigureAwait(false);

        try
        {
            using var doc = JsonDocument.Parse(body);
            var root = doc.RootElement;
            string? token = root.TryGetProperty("token", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()
                : root.TryGetProperty("access_token", out var a) && a.ValueKind == JsonValueKind.String ? a.GetString()
                : null;
            if (string.IsNullOrEmpty(token))
            {
                throw new RegistryException($"{what}: the answer holds no token");
            }

            int expiresIn = root.TryGetProperty("expires_in", out var e) && e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out int s) && s > 0 ? s : 60;
            return new TokenEntry(token, _options.Clock.Now + TimeSpan.FromSeconds(expiresIn * 0.9));
        }
        catch (JsonException)
        {
            throw new RegistryException($"{what}: the answer is not JSON");
        }
    }

    private async Task<HttpResponseMessage> SendRawAsync(HttpClient client, RegistryRequest request, Uri uri, AuthenticationHeaderValue? authorization, CancellationToken cancellationToken)
    {
        using var message = new HttpRequestMessage(request.Method, uri) { Version = HttpVersion.Version11 };
        message.Headers.UserAgent.ParseAdd(_options.UserAgent);
        if (request.Accept is not null)
        {
            foreach (string type in request.Accept.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                message.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(type));
            }
        }

        if (request.RangeFrom is long from)
        {
            message.Headers.Range = new RangeHeaderValue(from, null);
        }

        message.Headers.Authorization = authorization;
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(_options.RequestTimeout);
        try
        {
            return await client.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"no response within {_options.RequestTimeout.TotalSeconds:0} s");
        }
    }

    private sealed record TokenEntry(string Token, TimeSpan Expires);
}
