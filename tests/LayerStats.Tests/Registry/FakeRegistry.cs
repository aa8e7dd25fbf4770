using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using LayerStats.Core.Registry;
using LayerStats.Fixtures;

namespace LayerStats.Tests.Registry;

public enum FakeAuth
{
    Anonymous,
    Basic,
    Bearer,
}

/// <summary>
/// A small in-memory OCI distribution registry over HTTP on loopback: ping, catalog and tag lists with pagination,
/// manifests by tag or digest, blobs with Range; Basic or Bearer auth (its own token endpoint at /token); blob
/// redirects to another server; a hook to inject faults before the normal answer.
/// </summary>
public sealed class FakeRegistry : IDisposable
{
    private readonly ConcurrentDictionary<string, Repo> _repos = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _tokens = new(StringComparer.Ordinal); // token -> scope
    private int _tokenCount;

    public FakeRegistry(FakeAuth auth = FakeAuth.Anonymous, string user = "alice", string password = "s3cret-Pa55")
    {
        Auth = auth;
        User = user;
        Password = password;
        Server = new TestHttpServer(HandleAsync);
    }

    public TestHttpServer Server { get; }

    public FakeAuth Auth { get; }

    public string User { get; }

    public string Password { get; }

    public string Host => Server.Authority;

    /// <summary>Runs first; true when it answered the request itself (a fault).</summary>
    public Func<HttpListenerContext, Task<bool>>? Intercept { get; set; }

    /// <summary>Blob GETs are answered with a 307 to this server (same path), which must serve them.</summary>
    public TestHttpServer? RedirectBlobsTo { get; set; }

    /// <summary>Answer Range requests with the whole blob (200), as some servers do.</summary>
    public bool IgnoreRange { get; set; }

    /// <summary>The refresh token the token endpoint accepts in an OAuth2 POST.</summary>
    public string IdentityToken { get; set; } = "identity-token-123";

    /// <summary>expires_in of the tokens handed out.</summary>
    public int TokenLifetimeSeconds { get; set; } = 300;

    /// <summary>Token requests seen: (scope, authorization header).</summary>
    public ConcurrentQueue<(string Scope, string? Authorization)> TokenRequests { get; } = new();

    public IReadOnlyCollection<string> IssuedTokens => _tokens.Keys.ToList();

    public void RevokeTokens() => _tokens.Clear();

    public string Input(string path) => $"docker://{Host}{(path.Length == 0 ? "" : "/" + path)}";

    /// <summary>Pushes an image (its blobs and manifest) and tags it.</summary>
    public void Push(string repository, BuiltImage image, params string[] tags)
    {
        var repo = _repos.GetOrAdd(repository, _ => new Repo());
        foreach (var (digest, bytes) in image.Blobs)
        {
            repo.Blobs[digest] = bytes;
        }

        repo.Manifests[image.ManifestDigest] = (image.ManifestMediaType, image.ManifestBytes);
        foreach (string tag in tags)
        {
            repo.Tags[tag] = image.ManifestDigest;
        }
    }

    public void Push(string repository, BuiltIndex index, params string[] tags)
    {
        foreach (var platform in index.Platforms)
        {
            Push(repository, platform);
        }

        var repo = _repos[repository];
        repo.Manifests[index.Digest] = (index.MediaType, index.IndexBytes);
        foreach (string tag in tags)
        {
            repo.Tags[tag] = index.Digest;
        }
    }

    /// <summary>Puts a raw manifest document under a tag (for malformed or schema 1 manifests).</summary>
    public string PushRaw(string repository, string tag, string mediaType, byte[] bytes)
    {
        var repo = _repos.GetOrAdd(repository, _ => new Repo());
        string digest = BuiltLayer.Sha256(bytes);
        repo.Manifests[digest] = (mediaType, bytes);
        repo.Tags[tag] = digest;
        return digest;
    }

    /// <summary>Makes the manifest under a tag answer with other bytes than its digest (a corrupt store).</summary>
    public void CorruptManifest(string repository, string tag)
    {
        var repo = _repos[repository];
        string digest = repo.Tags[tag];
        var (type, bytes) = repo.Manifests[digest];
        var corrupt = (byte[])bytes.Clone();
        corrupt[^2] = (byte)' ';
        repo.Corrupt[digest] = corrupt;
        _ = type;
    }

    public void Dispose() => Server.Dispose();

    public static async Task WriteAsync(HttpListenerResponse response, int status, byte[] body, string? contentType = null)
    {
        response.StatusCode = status;
        if (contentType is not null)
        {
            response.ContentType = contentType;
        }

        response.ContentLength64 = body.Length;
        await response.OutputStream.WriteAsync(body);
    }

    public static Task WriteErrorAsync(HttpListenerResponse response, int status, string code, string message) =>
        WriteAsync(response, status, Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { errors = new[] { new { code, message } } })), "application/json");

    private async Task HandleAsync(HttpListenerContext context)
    {
        if (Intercept is { } intercept && await intercept(context))
        {
            return;
        }

        var request = context.Request;
        var response = context.Response;
        string path = request.Url!.AbsolutePath;
        if (path == "/token")
        {
            await TokenAsync(context);
            return;
        }

        if (!path.StartsWith("/v2/", StringComparison.Ordinal))
        {
            await WriteErrorAsync(response, 404, "NOT_FOUND", "no such path");
            return;
        }

        string rest = path["/v2/".Length..];
        string scope = rest == "_catalog" ? "registry:catalog:*" : rest.Length == 0 ? "" : $"repository:{RepositoryOf(rest)}:pull";
        if (!Authorized(request.Headers["Authorization"], scope))
        {
            Challenge(response, scope);
            await WriteErrorAsync(response, 401, "UNAUTHORIZED", "authentication required");
            return;
        }

        if (rest.Length == 0)
        {
            await WriteAsync(response, 200, "{}"u8.ToArray(), "application/json");
            return;
        }

        if (rest == "_catalog")
        {
            await PageAsync(context, "repositories", _repos.Keys.Order(StringComparer.Ordinal).ToList());
            return;
        }

        string repository = RepositoryOf(rest);
        string tail = rest[(repository.Length + 1)..];
        if (!_repos.TryGetValue(repository, out var repo))
        {
            await WriteErrorAsync(response, 404, "NAME_UNKNOWN", "repository name not known to registry");
            return;
        }

        if (tail == "tags/list")
        {
            await PageAsync(context, "tags", repo.Tags.Keys.Order(StringComparer.Ordinal).ToList(), repository);
            return;
        }

        if (tail.StartsWith("manifests/", StringComparison.Ordinal))
        {
            string reference = tail["manifests/".Length..];
            string digest = reference.StartsWith("sha256:", StringComparison.Ordinal) ? reference : repo.Tags.GetValueOrDefault(reference) ?? "";
            if (!repo.Manifests.TryGetValue(digest, out var manifest))
            {
                await WriteErrorAsync(response, 404, "MANIFEST_UNKNOWN", "manifest unknown");
                return;
            }

            response.AddHeader("Docker-Content-Digest", digest);
            await WriteAsync(response, 200, repo.Corrupt.GetValueOrDefault(digest) ?? manifest.Bytes, manifest.MediaType);
            return;
        }

        if (tail.StartsWith("blobs/", StringComparison.Ordinal))
        {
            string digest = tail["blobs/".Length..];
            if (!repo.Blobs.TryGetValue(digest, out var blob))
            {
                await WriteErrorAsync(response, 404, "BLOB_UNKNOWN", "blob unknown to registry");
                return;
            }

            if (RedirectBlobsTo is { } other)
            {
                response.StatusCode = 307;
                response.RedirectLocation = new Uri(other.BaseUri, $"/storage/{digest}?X-Signature=abc").ToString();
                response.ContentLength64 = 0;
                return;
            }

            await ServeBlobAsync(context, blob, IgnoreRange);
            return;
        }

        await WriteErrorAsync(response, 404, "NOT_FOUND", "no such path");
    }

    /// <summary>Serves bytes with Range support (bytes=N-).</summary>
    public static async Task ServeBlobAsync(HttpListenerContext context, byte[] blob, bool ignoreRange = false)
    {
        var response = context.Response;
        response.ContentType = "application/octet-stream";
        response.AddHeader("Docker-Content-Digest", BuiltLayer.Sha256(blob));
        string? range = context.Request.Headers["Range"];
        if (!ignoreRange && range is not null && range.StartsWith("bytes=", StringComparison.Ordinal) && range.EndsWith('-'))
        {
            long from = long.Parse(range["bytes=".Length..^1], System.Globalization.CultureInfo.InvariantCulture);
            if (from >= blob.Length)
            {
                response.StatusCode = 416;
                response.ContentLength64 = 0;
                return;
            }

            response.StatusCode = 206;
            response.AddHeader("Content-Range", $"bytes {from}-{blob.Length - 1}/{blob.Length}");
            response.ContentLength64 = blob.Length - from;
            await response.OutputStream.WriteAsync(blob.AsMemory((int)from));
            return;
        }

        await WriteAsync(response, 200, blob, "application/octet-stream");
    }

    private static string RepositoryOf(string rest)
    {
        foreach (string marker in new[] { "/tags/list", "/manifests/", "/blobs/" })
        {
            int at = rest.IndexOf(marker, StringComparison.Ordinal);
            if (at > 0)
            {
                return rest[..at];
            }
        }

        return rest;
    }

    private async Task PageAsync(HttpListenerContext context, string property, List<string> all, string? repository = null)
    {
        var query = System.Web.HttpUtility.ParseQueryString(context.Request.Url!.Query);
        int n = int.TryParse(query["n"], out int parsed) && parsed > 0 ? parsed : 100;
        string? last = query["last"];
        var after = last is null ? all : all.Where(x => string.CompareOrdinal(x, last) > 0).ToList();
        var page = after.Take(n).ToList();
        if (after.Count > n)
        {
            string path = context.Request.Url.AbsolutePath;
            context.Response.AddHeader("Link", $"<{path}?last={Uri.EscapeDataString(page[^1])}&n={n}>; rel=\"next\"");
        }

        object body = repository is null ? new Dictionary<string, object> { [property] = page } : new Dictionary<string, object> { ["name"] = repository, [property] = page };
        await WriteAsync(context.Response, 200, JsonSerializer.SerializeToUtf8Bytes(body), "application/json");
    }

    private bool Authorized(string? authorization, string scope)
    {
        switch (Auth)
        {
            case FakeAuth.Basic:
                return authorization == "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{User}:{Password}"));
            case FakeAuth.Bearer:
                if (authorization is null || !authorization.StartsWith("Bearer ", StringComparison.Ordinal))
                {
                    return false;
                }

                return _tokens.TryGetValue(authorization["Bearer ".Length..], out var granted) && (scope.Length == 0 || granted == scope);
            default:
                return true;
        }
    }

    private void Challenge(HttpListenerResponse response, string scope)
    {
        if (Auth == FakeAuth.Basic)
        {
            response.AddHeader("WWW-Authenticate", "Basic realm=\"fake registry\"");
        }
        else if (Auth == FakeAuth.Bearer)
        {
            string value = $"Bearer realm=\"http://{Host}/token\",service=\"fake-registry\"";
            response.AddHeader("WWW-Authenticate", scope.Length == 0 ? value : value + $",scope=\"{scope}\"");
        }
    }

    private async Task TokenAsync(HttpListenerContext context)
    {
        var query = System.Web.HttpUtility.ParseQueryString(context.Request.Url!.Query);
        string? authorization = context.Request.Headers["Authorization"];
        bool refreshed = false;
        if (context.Request.HttpMethod == "POST")
        {
            // OAuth2 refresh_token grant (an identity token from docker login)
            using var reader = new StreamReader(context.Request.InputStream);
            query = System.Web.HttpUtility.ParseQueryString(await reader.ReadToEndAsync());
            refreshed = query["grant_type"] == "refresh_token" && query["refresh_token"] == IdentityToken && query["client_id"] is { Length: > 0 };
        }

        string scope = query["scope"] ?? "";
        TokenRequests.Enqueue((scope, authorization));
        if (query["service"] != "fake-registry"
            || (!refreshed && authorization != "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{User}:{Password}"))))
        {
            await WriteErrorAsync(context.Response, 401, "UNAUTHORIZED", "bad credentials");
            return;
        }

        string token = $"token-{Interlocked.Increment(ref _tokenCount)}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4))}";
        _tokens[token] = scope;
        byte[] body = refreshed
            ? JsonSerializer.SerializeToUtf8Bytes(new { access_token = token, expires_in = TokenLifetimeSeconds })
            : JsonSerializer.SerializeToUtf8Bytes(new { token, expires_in = TokenLifetimeSeconds });
        await WriteAsync(context.Response, 200, body, "application/json");
    }

    private sealed class Repo
    {
        public ConcurrentDictionary<string, string> Tags { get; } = new(StringComparer.Ordinal);

        public ConcurrentDictionary<string, (string MediaType, byte[] Bytes)> Manifests { get; } = new(StringComparer.Ordinal);

        public ConcurrentDictionary<string, byte[]> Blobs { get; } = new(StringComparer.Ordinal);

        public ConcurrentDictionary<string, byte[]> Corrupt { get; } = new(StringComparer.Ordinal);
    }
}

/// <summary>A clock whose waits take no time: they are recorded and move "now" forward.</summary>
internal sealed class FakeClock : IRetryClock
{
    private long _ticks;

    public ConcurrentQueue<TimeSpan> Delays { get; } = new();

    public TimeSpan Now => TimeSpan.FromTicks(Interlocked.Read(ref _ticks));

    public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);

    public Task DelayAsync(TimeSpan delay, CancellationToken cancellationToken)
    {
        Delays.Enqueue(delay);
        Advance(delay);
        return Task.CompletedTask;
    }
}
