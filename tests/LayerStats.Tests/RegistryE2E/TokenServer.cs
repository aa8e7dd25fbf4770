using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;

namespace LayerStats.Tests.RegistryE2E;

/// <summary>One request the token server answered.</summary>
public sealed record TokenRequest(string? Account, IReadOnlyList<string> Scopes, string? Service, bool Authenticated, HttpStatusCode Status);

/// <summary>
/// A bearer-token endpoint as the distribution registry's <c>auth: token</c> expects (docs: registry/auth/token): it
/// checks Basic credentials and issues an ES256 JWT whose header carries the signing certificate (<c>x5c</c>, and the
/// libtrust <c>kid</c>), with claims iss, sub, aud = service, exp, nbf, iat, jti and <c>access</c> granting what each
/// asked scope (<c>type:name:actions</c>) wants. The registry trusts the self-signed certificate
/// (<see cref="CertificatePem"/>, its <c>rootcertbundle</c>). Every request is counted.
/// </summary>
public sealed class TokenServer : IAsyncDisposable
{
    private readonly HttpListener _listener = new();
    private readonly ECDsa _key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly X509Certificate2 _certificate;
    private readonly string _kid;
    private readonly ConcurrentQueue<TokenRequest> _requests = new();
    private readonly ConcurrentQueue<string> _issued = new();
    private readonly Task _loop;

    public TokenServer(string username, string password, TimeSpan? lifetime = null)
    {
        Username = username;
        Password = password;
        Lifetime = lifetime ?? TimeSpan.FromMinutes(5);
        var request = new CertificateRequest("CN=layerstats test token issuer", _key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyCertSign, true));
        _certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        _kid = LibtrustKeyId(_key.ExportSubjectPublicKeyInfo());

        Port = RegistryServer.FreePort();
        _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
        _listener.Start();
        _loop = Task.Run(LoopAsync);
    }

    public string Username { get; }

    public string Password { get; }

    public TimeSpan Lifetime { get; }

    public int Port { get; }

    public string Realm => $"http://127.0.0.1:{Port}/token";

    public string Service => "layerstats-test-registry";

    public string Issuer => "layerstats-test-issuer";

    /// <summary>The PEM of the signing certificate: the registry's rootcertbundle.</summary>
    public string CertificatePem => _certificate.ExportCertificatePem() + "\n";

    /// <summary>Every token request so far, in arrival order.</summary>
    public IReadOnlyList<TokenRequest> Requests => _requests.ToArray();

    /// <summary>Tokens issued (requests answered 200).</summary>
    public int TokensIssued => _requests.Count(r => r.Status == HttpStatusCode.OK);

    /// <summary>Every token issued over HTTP (to check that none is stored or printed).</summary>
    public IReadOnlyList<string> IssuedTokens => _issued.ToArray();

    public void ResetCounters() => _requests.Clear();

    /// <summary>A token for <paramref name="scopes"/> (as the registry's challenge names them), signed and ready to send.</summary>
    public string IssueToken(string subject, IEnumerable<string> scopes)
    {
        long now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var header = new Dictionary<string, object>
        {
            ["typ"] = "JWT",
            ["alg"] = "ES256",
            ["kid"] = _kid,
            ["x5c"] = new[] { Convert.ToBase64String(_certificate.RawData) },
        };
        var claims = new Dictionary<string, object>
        {
            ["iss"] = Issuer,
            ["sub"] = subject,
            ["aud"] = Service,
            ["exp"] = now + (long)Lifetime.TotalSeconds,
            ["nbf"] = now - 1,
            ["iat"] = now,
            ["jti"] = Guid.NewGuid().ToString("N"),
            ["access"] = scopes.Select(ParseScope).Where(a => a is not null).ToArray(),
        };
        string signingInput = Base64Url(JsonSerializer.SerializeToUtf8Bytes(header)) + "." + Base64Url(JsonSerializer.SerializeToUtf8Bytes(claims));
        // JWS ES256: the raw r||s (IEEE P1363) signature of SHA-256 over the signing input.
        byte[] signature = _key.SignData(Encoding.ASCII.GetBytes(signingInput), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        return signingInput + "." + Base64Url(signature);
    }

    private static object? ParseScope(string scope)
    {
        // type:name:actions, where the name may itself hold a ':' (a port): split at the first and the last colon.
        int first = scope.IndexOf(':', StringComparison.Ordinal);
        int last = scope.LastIndexOf(':');
        if (first < 0 || last <= first)
        {
            return null;
        }

        return new Dictionary<string, object>
        {
            ["type"] = scope[..first],
            ["name"] = scope[(first + 1)..last],
            ["actions"] = scope[(last + 1)..].Split(',', StringSplitOptions.RemoveEmptyEntries),
        };
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

            try
            {
                Answer(context);
            }
            catch (Exception ex) when (ex is HttpListenerException or IOException)
            {
            }
        }
    }

    private void Answer(HttpListenerContext context)
    {
        var query = context.Request.QueryString;
        var scopes = (query.GetValues("scope") ?? []).SelectMany(s => s.Split(' ', StringSplitOptions.RemoveEmptyEntries)).ToList();
        string? account = query["account"];
        bool authenticated = CheckBasic(context.Request.Headers["Authorization"], out string? user);
        var response = context.Response;
        if (context.Request.Url?.AbsolutePath != "/token")
        {
            Respond(response, HttpStatusCode.NotFound, "{\"error\":\"not found\"}");
            return;
        }

        if (!authenticated)
        {
            _requests.Enqueue(new TokenRequest(account, scopes, query["service"], false, HttpStatusCode.Unauthorized));
            response.AddHeader("WWW-Authenticate", "Basic realm=\"layerstats-test-token\"");
            Respond(response, HttpStatusCode.Unauthorized, "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"bad credentials\"}]}");
            return;
        }

        string token = IssueToken(user!, scopes);
        _issued.Enqueue(token);
        _requests.Enqueue(new TokenRequest(account, scopes, query["service"], true, HttpStatusCode.OK));
        string body = JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["token"] = token,
            ["access_token"] = token,
            ["expires_in"] = (long)Lifetime.TotalSeconds,
            ["issued_at"] = DateTimeOffset.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture),
        });
        Respond(response, HttpStatusCode.OK, body);
    }

    private bool CheckBasic(string? authorization, out string? user)
    {
        user = null;
        if (authorization is null || !authorization.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        string decoded;
        try
        {
            decoded = Encoding.UTF8.GetString(Convert.FromBase64String(authorization[6..].Trim()));
        }
        catch (FormatException)
        {
            return false;
        }

        int colon = decoded.IndexOf(':', StringComparison.Ordinal);
        if (colon < 0 || decoded[..colon] != Username || decoded[(colon + 1)..] != Password)
        {
            return false;
        }

        user = Username;
        return true;
    }

    private static void Respond(HttpListenerResponse response, HttpStatusCode status, string json)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(json);
        response.StatusCode = (int)status;
        response.ContentType = "application/json";
        response.ContentLength64 = bytes.Length;
        response.OutputStream.Write(bytes);
        response.Close();
    }

    /// <summary>
    /// libtrust's key ID (what distribution compares a <c>kid</c> with): the first 240 bits of SHA-256 over the DER
    /// SubjectPublicKeyInfo, base32 without padding, in 12 groups of 4 joined by ':'.
    /// </summary>
    public static string LibtrustKeyId(byte[] subjectPublicKeyInfo)
    {
        byte[] hash = SHA256.HashData(subjectPublicKeyInfo)[..30];
        const string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        var base32 = new StringBuilder();
        int buffer = 0, bits = 0;
        foreach (byte b in hash)
        {
            buffer = (buffer << 8) | b;
            bits += 8;
            while (bits >= 5)
            {
                base32.Append(alphabet[(buffer >> (bits - 5)) & 31]);
                bits -= 5;
            }
        }

        string s = base32.ToString();
        return string.Join(':', Enumerable.Range(0, s.Length / 4).Select(i => s.Substring(i * 4, 4)));
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public async ValueTask DisposeAsync()
    {
        _listener.Stop();
        _listener.Close();
        await _loop;
        _certificate.Dispose();
        _key.Dispose();
    }
}
